//! Boot times learned from earlier boots, per platform and accelerator, so progress can be
//! shown against what a boot really takes (`$VMLAB_HOME/boot-times.json`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fsutil::atomic_write;
use crate::home::vmlab_home;
use crate::plan::Accel;

/// Running average of one platform's boots under one accelerator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub mean_secs: f64,
    pub samples: u32,
}

type Table = BTreeMap<String, Learned>;

fn key(platform: &str, accel: Accel) -> String {
    format!("{platform}/{}", accel.to_string().to_lowercase())
}

fn load() -> Table {
    std::fs::read_to_string(vmlab_home().join("boot-times.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Every learned time, read once (a UI looks up many nodes per refresh).
#[derive(Debug, Clone, Default)]
pub struct BootTimes(Table);

impl BootTimes {
    pub fn load() -> Self {
        BootTimes(load())
    }

    /// The expected boot time of a platform, if vmlab has seen it boot.
    pub fn expected(&self, platform: &str, accel: Accel) -> Option<Duration> {
        self.0
            .get(&key(platform, accel))
            .filter(|l| l.samples > 0)
            .map(|l| Duration::from_secs_f64(l.mean_secs))
    }
}

/// Records one boot; the average weighs the last 10 boots or so. Best effort: a failure to
/// write only loses the hint.
pub fn record(platform: &str, accel: Accel, took: Duration) {
    let mut t = load();
    let e = t.entry(key(platform, accel)).or_default();
    let n = f64::from(e.samples.min(9));
    e.mean_secs = (e.mean_secs * n + took.as_secs_f64()) / (n + 1.0);
    e.samples = e.samples.saturating_add(1);
    if let Ok(text) = serde_json::to_string_pretty(&t) {
        let home = vmlab_home();
        if std::fs::create_dir_all(&home).is_ok() {
            let _ = atomic_write(&home.join("boot-times.json"), text.as_bytes(), None);
        }
    }
}
