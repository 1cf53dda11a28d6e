//! The listener of `vmlab serve`: it accepts connections itself so that no caller can starve
//! it. Each connection is HTTP/1 with a header-read timeout (a request's headers must arrive
//! within [`HEADER_TIMEOUT`]; the same timer closes a keep-alive connection idle that long),
//! connections are capped ([`MAX_CONNECTIONS`] in all, [`MAX_FOREIGN`] from peers that are
//! not the server's own user, so another local user's thousand half-sent requests leave the
//! owner room), and the process's soft limit of open files is raised to its hard limit at
//! start. Past a cap a connection gets a 503 in the envelope and is closed.
//!
//! Each request carries its [`Caller`] (the peer's address and, from the kernel, its uid) for
//! the guard and the journal's audit lines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Router;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::cap::Slot;
use super::guard::Caller;
use crate::engine::api;

/// A request's headers must arrive within this; a keep-alive connection idle this long is
/// closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once, in all.
pub const MAX_CONNECTIONS: usize = 512;

/// Connections open at once from peers that are not the server's own user (or whose user the
/// kernel does not say).
pub const MAX_FOREIGN: usize = 64;

/// Serves `app` on `listener` until `cancel`.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, cancel: CancellationToken) {
    let me = api::my_uid();
    let local = listener.local_addr().ok();
    let all = Arc::new(AtomicUsize::new(0));
    let foreign = Arc::new(AtomicUsize::new(0));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_headers(100);
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection gone before it was taken: go on.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let uid = match (local, peer.ip().is_loopback()) {
            (Some(local), true) => api::peer_uid(local, peer),
            _ => None,
        };
        let ours = uid.is_some() && uid == Some(me);
        let slot = Slot::take(&all, MAX_CONNECTIONS).and_then(|a| {
            if ours {
                Some((a, None))
            } else {
                Slot::take(&foreign, MAX_FOREIGN).map(|f| (a, Some(f)))
            }
        });
        let Some(slot) = slot else {
            tokio::spawn(refuse(stream, peer));
            continue;
        };
        let caller = Caller {
            peer,
            uid,
            token: None,
        };
        let app = app.clone();
        let conn = http.serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper::service::service_fn(
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(caller.clone());
                    tower::ServiceExt::oneshot(app.clone(), req)
                },
            ),
        );
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!("connection from {peer}: {e}") },
                _ = cancel.cancelled() => {}
            }
        });
    }
}

/// A 503 in the envelope for a connection past a cap, then closed.
async fn refuse(mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    tracing::debug!("refused a connection from {peer}: too many open");
    let body = r#"{"error":"too many connections are open; try again later"}"#;
    let text = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: \
         {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(text.as_bytes())).await;
}
