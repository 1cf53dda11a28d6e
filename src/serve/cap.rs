//! A place under a cap: how the server bounds what it holds at once (connections in
//! `listen.rs`, event streams in `stream.rs`). Taking one counts it; dropping it gives it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One place taken under a cap, given back when dropped.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A place under `cap` in `count`, if one is free.
    pub(crate) fn take(count: &Arc<AtomicUsize>, cap: usize) -> Option<Slot> {
        count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
