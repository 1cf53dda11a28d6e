//! A minimal QMP client: connect to a VM's monitor socket, negotiate, run one command.
//!
//! vmlab needs only a handful of commands (`quit`, `stop`, `cont`, and `savevm`/`loadvm`/
//! `delvm` through `human-monitor-command`), so a few lines of line-delimited JSON beat a
//! generated client. An HMP command reports failure as text in its return value: [`hmp`]
//! turns that text into an error.
//!
//! Every command carries an id of this connection's own and only the answer with that id
//! counts: a vmlab killed while QEMU ran its command (a `savevm` takes seconds) leaves QEMU's
//! answer to be written to whoever connects next, and read in turn it would shift every answer
//! by one (a `query-status` read as the capabilities' empty answer says "not running").

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Runs `command` on the QMP socket at `path` and returns its `return` value.
pub async fn execute(path: &Path, command: &str, limit: Duration) -> std::io::Result<Value> {
    execute_with(path, command, None, limit).await
}

/// Runs `command` with `arguments`.
pub async fn execute_with(
    path: &Path,
    command: &str,
    arguments: Option<Value>,
    limit: Duration,
) -> std::io::Result<Value> {
    tokio::time::timeout(limit, execute_inner(path, command, arguments))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "QMP did not answer"))?
}

/// Runs a human-monitor command line (`savevm s1`); its output, or an error when QEMU
/// printed one.
pub async fn hmp(path: &Path, line: &str, limit: Duration) -> std::io::Result<String> {
    let v = execute_with(
        path,
        "human-monitor-command",
        Some(json!({ "command-line": line })),
        limit,
    )
    .await?;
    let out = v.as_str().unwrap_or_default().trim().to_string();
    // HMP says what went wrong on its output, and nothing when all went well.
    if out.to_lowercase().contains("error") || out.contains("not found") || out.contains("failed") {
        return Err(std::io::Error::other(out));
    }
    Ok(out)
}

async fn execute_inner(
    path: &Path,
    command: &str,
    arguments: Option<Value>,
) -> std::io::Result<Value> {
    let stream = UnixStream::connect(path).await?;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let ids = Ids::new();
    next_reply(&mut lines, Wait::Greeting).await?;
    w.write_all(ids.message("qmp_capabilities", None, 0).as_bytes())
        .await?;
    next_reply(&mut lines, Wait::Answer(&ids.id(0))).await?;
    w.write_all(ids.message(command, arguments, 1).as_bytes())
        .await?;
    match next_reply(&mut lines, Wait::Answer(&ids.id(1))).await {
        Ok(v) => Ok(v.get("return").cloned().unwrap_or(Value::Null)),
        // `quit` may close the socket before QEMU answers.
        Err(e) if command == "quit" && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Ok(Value::Null)
        }
        Err(e) => Err(e),
    }
}

/// The ids of one connection's commands: unique to this process and connection, so that no
/// answer meant for an earlier client (or an earlier connection of ours) is taken for ours.
struct Ids(String);

impl Ids {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ids(format!("vmlab-{}-{n}", std::process::id()))
    }

    fn id(&self, k: u32) -> String {
        format!("{}-{k}", self.0)
    }

    /// Command `k` of this connection, as one line.
    fn message(&self, command: &str, arguments: Option<Value>, k: u32) -> String {
        let mut m = json!({ "execute": command, "id": self.id(k) });
        if let Some(a) = arguments {
            m["arguments"] = a;
        }
        m.to_string() + "\n"
    }
}

/// What a read waits for: QEMU's greeting, or the answer with this id.
#[derive(Clone, Copy)]
enum Wait<'a> {
    Greeting,
    Answer(&'a str),
}

/// Runs `command` without a runtime, each read and write bounded by `limit`: for a `Drop`
/// that must resume paused VMs, and for status, which asks a paused VM what it is doing.
pub fn execute_blocking(path: &Path, command: &str, limit: Duration) -> std::io::Result<Value> {
    use std::io::{BufRead, Write};
    let stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    let mut w = stream.try_clone()?;
    let mut r = std::io::BufReader::new(stream);
    let mut reply = |wait: Wait<'_>| -> std::io::Result<Value> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(closed());
            }
            if let Some(v) = parse_reply(&line, wait)? {
                return Ok(v);
            }
        }
    };
    let ids = Ids::new();
    reply(Wait::Greeting)?;
    w.write_all(ids.message("qmp_capabilities", None, 0).as_bytes())?;
    reply(Wait::Answer(&ids.id(0)))?;
    w.write_all(ids.message(command, None, 1).as_bytes())?;
    Ok(reply(Wait::Answer(&ids.id(1)))?
        .get("return")
        .cloned()
        .unwrap_or(Value::Null))
}

/// Is the VM behind `path` paused? `None` when QEMU did not answer in time (a snapshot may
/// hold its monitor).
pub fn is_paused_blocking(path: &Path, limit: Duration) -> Option<bool> {
    let v = execute_blocking(path, "query-status", limit).ok()?;
    Some(v.get("running").and_then(Value::as_bool) != Some(true))
}

/// The next line that is what `wait` waits for.
async fn next_reply(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    wait: Wait<'_>,
) -> std::io::Result<Value> {
    loop {
        let Some(line) = lines.next_line().await? else {
            return Err(closed());
        };
        if let Some(v) = parse_reply(&line, wait)? {
            return Ok(v);
        }
    }
}

/// One line from QMP: what `wait` waits for, `None` for anything else (an asynchronous event,
/// an answer to another client's command), or the error QEMU answered to ours.
fn parse_reply(line: &str, wait: Wait<'_>) -> std::io::Result<Option<Value>> {
    let v: Value = serde_json::from_str(line).map_err(std::io::Error::other)?;
    match wait {
        Wait::Greeting => Ok(v.get("QMP").is_some().then_some(v)),
        Wait::Answer(id) if v.get("id").and_then(Value::as_str) != Some(id) => Ok(None),
        Wait::Answer(_) => match v.get("error") {
            Some(err) => Err(std::io::Error::other(format!("QMP error: {err}"))),
            None => Ok(Some(v)),
        },
    }
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "QMP closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_answer_with_our_id_counts() {
        let ours = Wait::Answer("vmlab-9-0-1");
        // What QEMU wrote for a client that was killed mid-command, with no id or another's.
        assert!(parse_reply(r#"{"return": ""}"#, ours).unwrap().is_none());
        assert!(
            parse_reply(r#"{"return": {}, "id": "vmlab-8-0-1"}"#, ours)
                .unwrap()
                .is_none()
        );
        let other_error = r#"{"error": {"class": "GenericError", "desc": "x"}, "id": "other"}"#;
        assert!(parse_reply(other_error, ours).unwrap().is_none());
        assert!(
            parse_reply(r#"{"event": "STOP", "timestamp": {}}"#, ours)
                .unwrap()
                .is_none()
        );
        let v = parse_reply(
            r#"{"return": {"status": "paused"}, "id": "vmlab-9-0-1"}"#,
            ours,
        )
        .unwrap()
        .unwrap();
        assert_eq!(v["return"]["status"], "paused");
        let mine =
            r#"{"error": {"class": "GenericError", "desc": "no such"}, "id": "vmlab-9-0-1"}"#;
        let e = parse_reply(mine, ours).unwrap_err();
        assert!(e.to_string().contains("no such"), "{e}");
    }

    #[test]
    fn the_greeting_is_waited_for_past_a_stale_answer() {
        assert!(
            parse_reply(r#"{"return": ""}"#, Wait::Greeting)
                .unwrap()
                .is_none()
        );
        let g = r#"{"QMP": {"version": {}, "capabilities": []}}"#;
        assert!(parse_reply(g, Wait::Greeting).unwrap().is_some());
    }

    #[test]
    fn each_connection_has_ids_of_its_own() {
        let (a, b) = (Ids::new(), Ids::new());
        assert_ne!(a.id(1), b.id(1));
        let m: Value = serde_json::from_str(&a.message("stop", None, 1)).unwrap();
        assert_eq!(m["id"], a.id(1));
        assert_eq!(m["execute"], "stop");
        assert!(m.get("arguments").is_none());
        let m: Value =
            serde_json::from_str(&a.message("x", Some(json!({"command-line": "savevm s"})), 2))
                .unwrap();
        assert_eq!(m["arguments"]["command-line"], "savevm s");
    }
}
