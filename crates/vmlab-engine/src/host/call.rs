//! What the hosts of a multi-host lab say to each other: typed, versioned messages, one JSON
//! object a line, over the same ssh that runs the other host's vmlab (`vmlab host-call`).
//!
//! The caller writes one [`Request`] (its version and its [`Call`]) on the remote vmlab's
//! stdin, and keeps stdin open while the call runs: when it ends (the caller cancelled, or
//! went away), a deploy there rolls itself back. The remote answers with [`Reply`] lines:
//! any number of `line`s (its progress, for the caller to show), then exactly one end. The CLI
//! only passes stdin and stdout through ([`answer`] owns all of it), so the CLI's wording can
//! change without breaking a deploy across hosts, and a vmlab of another version says so
//! instead of being misread.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::events::EventSink;
use crate::lab::LabDir;
use crate::lab::deploy::{self, DeployOptions, Prepared};
use crate::lab::status::{self, LabStatus};
use crate::plan::Accel;
use crate::spec::LabName;

/// The version of these messages; a request of another is refused, naming both.
pub const VERSION: u32 = 1;

/// The hidden subcommand that answers a call (`vmlab host-call`).
pub const SUBCOMMAND: &str = "host-call";

/// What one host asks another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case", deny_unknown_fields)]
pub enum Call {
    /// Check the host's part of the lab (`deploy --dry-run` there): images, ports, addresses.
    Check {
        spec: PathBuf,
        host: String,
        accel: Option<Accel>,
    },
    /// Deploy the host's part (rolled back there if the caller goes away).
    Deploy {
        spec: PathBuf,
        host: String,
        accel: Option<Accel>,
        force: bool,
        keep_on_failure: bool,
    },
    /// The host's status of the lab.
    Status { lab: LabName },
    /// Destroy the host's part of the lab (nothing if it is not deployed there; refused if
    /// the lab there is not that part).
    Destroy { lab: LabName, host: String },
}

/// A call with the version of the messages it is written in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub call: Call,
}

/// One line of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Progress of the work there, for the caller to show.
    Line { text: String },
    /// `Check` ended: the problems found (`None`: none).
    Checked { problems: Option<String> },
    /// `Deploy` ended well; `already_running`: the host's part ran already (the same lab).
    Deployed { already_running: bool },
    /// `Status` ended well.
    Status { status: Box<LabStatus> },
    /// `Destroy` ended well: what happened there.
    Destroyed { said: String },
    /// The call failed there (or was refused: another version), and why.
    Failed { reason: String },
}

/// Answers one call on stdin, on stdout: the `vmlab host-call` subcommand. The exit status:
/// 0 when the call ended well, 1 when it failed.
pub async fn answer() -> i32 {
    let mut out = tokio::io::stdout();
    let first = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    let reply = match serde_json::from_str::<Request>(&first) {
        Ok(r) if r.version == VERSION => {
            // The caller's stdin ending is its cancel. A plain thread: one blocked in read()
            // never holds up the process's exit (a tokio blocking task would, at shutdown).
            let cancel = CancellationToken::new();
            let watch = cancel.clone();
            let _ = std::thread::Builder::new()
                .name("stdin-eof".into())
                .spawn(move || {
                    use std::io::Read;
                    let mut stdin = std::io::stdin();
                    let mut buf = [0u8; 256];
                    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                    watch.cancel();
                });
            run(r.call, &mut out, &cancel).await
        }
        Ok(r) => Reply::Failed {
            reason: format!(
                "this host's vmlab speaks host calls v{VERSION}, the caller's v{}: install the \
                 same vmlab on every host",
                r.version
            ),
        },
        Err(e) => Reply::Failed {
            reason: format!(
                "not a host call this vmlab (v{VERSION}) understands: {e}; install the same \
                 vmlab on every host"
            ),
        },
    };
    let failed = matches!(reply, Reply::Failed { .. });
    let _ = send(&mut out, &reply).await;
    i32::from(failed)
}

async fn send(out: &mut tokio::io::Stdout, r: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).map_err(std::io::Error::other)?;
    line.push('\n');
    out.write_all(line.as_bytes()).await?;
    out.flush().await
}

/// Runs `call`, its progress sent as `line`s as it comes; the reply that ends the answer.
async fn run(call: Call, out: &mut tokio::io::Stdout, cancel: &CancellationToken) -> Reply {
    let failed = |e: EngineError| Reply::Failed {
        reason: e.to_string(),
    };
    match call {
        Call::Status { lab } => match status::snapshot(&LabDir::of(lab)) {
            Ok(s) => Reply::Status {
                status: Box::new(s),
            },
            Err(e) => failed(e),
        },
        Call::Destroy { lab, host } => {
            let result = streamed(out, |sink| async move {
                crate::lab::destroy::destroy_part(&lab, &host, &sink).await
            })
            .await;
            match result {
                Ok(said) => Reply::Destroyed { said },
                Err(reason) => Reply::Failed { reason },
            }
        }
        Call::Check { spec, host, accel } => {
            let lab = match crate::image::load_spec(&spec) {
                Ok(l) => l,
                Err(e) => return failed(e),
            };
            match deploy::dry_run(&lab, accel, Some(host)).await {
                Ok((_, p)) if p.is_empty() => Reply::Checked { problems: None },
                Ok((_, p)) => Reply::Checked {
                    problems: Some(p.to_string()),
                },
                Err(e) => failed(e),
            }
        }
        Call::Deploy {
            spec,
            host,
            accel,
            force,
            keep_on_failure,
        } => {
            let lab = match crate::image::load_spec(&spec) {
                Ok(l) => l,
                Err(e) => return failed(e),
            };
            let result = streamed(out, |sink| async move {
                let opts = DeployOptions {
                    accel,
                    force,
                    keep_on_failure,
                    host: Some(host),
                };
                match deploy::prepare(&lab, opts, &sink).await {
                    Ok(Prepared::AlreadyRunning(_)) => Ok(true),
                    Ok(Prepared::Ready(d)) => d.run(&sink, cancel).await.map(|_| false),
                    Err(e) => Err(e),
                }
            })
            .await;
            match result {
                Ok(already_running) => Reply::Deployed { already_running },
                Err(e) => failed(e),
            }
        }
    }
}

/// Runs `work` with a sink whose events go out as `line`s while it runs; its result.
async fn streamed<T, F, Fut>(out: &mut tokio::io::Stdout, work: F) -> T
where
    F: FnOnce(EventSink) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (sink, mut rx) = EventSink::channel();
    let work = work(sink);
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            Some(e) = rx.recv() => {
                let _ = send(out, &Reply::Line { text: e.describe() }).await;
            }
        }
    };
    while let Ok(e) = rx.try_recv() {
        let _ = send(out, &Reply::Line { text: e.describe() }).await;
    }
    result
}

/// The line a request is written as, ending in a newline.
pub fn request_line(call: &Call) -> String {
    let mut s = serde_json::to_string(&Request {
        version: VERSION,
        call: call.clone(),
    })
    .unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_shape() {
        let line = request_line(&Call::Deploy {
            spec: "/s p/lab".into(),
            host: "h2".into(),
            accel: Some(Accel::Tcg),
            force: false,
            keep_on_failure: true,
        });
        assert_eq!(
            line,
            "{\"version\":1,\"call\":\"deploy\",\"spec\":\"/s p/lab\",\"host\":\"h2\",\
             \"accel\":\"tcg\",\"force\":false,\"keep_on_failure\":true}\n"
        );
        let r: Request = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(r.version, VERSION);
        let done: Reply =
            serde_json::from_str("{\"reply\":\"deployed\",\"already_running\":true}").unwrap();
        assert_eq!(
            done,
            Reply::Deployed {
                already_running: true
            }
        );
        // A field this version does not know is refused, not ignored.
        assert!(
            serde_json::from_str::<Request>(
                "{\"version\":1,\"call\":\"status\",\"lab\":\"x\",\"extra\":1}"
            )
            .is_err()
        );
    }
}
