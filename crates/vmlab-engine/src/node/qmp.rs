//! A minimal QMP client: connect to a VM's monitor socket, negotiate, run one command.
//!
//! vmlab needs only a handful of commands (`quit`, `stop`, `cont`, and `savevm`/`loadvm`/
//! `delvm` through `human-monitor-command`), so a few lines of line-delimited JSON beat a
//! generated client. An HMP command reports failure as text in its return value: [`hmp`]
//! turns that text into an error.

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
    // Greeting.
    next_reply(&mut lines).await?;
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").await?;
    next_reply(&mut lines).await?;
    let msg = match arguments {
        Some(a) => json!({ "execute": command, "arguments": a }),
        None => json!({ "execute": command }),
    }
    .to_string()
        + "\n";
    w.write_all(msg.as_bytes()).await?;
    match next_reply(&mut lines).await {
        Ok(v) => Ok(v.get("return").cloned().unwrap_or(Value::Null)),
        // `quit` may close the socket before QEMU answers.
        Err(e) if command == "quit" && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Ok(Value::Null)
        }
        Err(e) => Err(e),
    }
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
    let mut reply = || -> std::io::Result<Value> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(closed());
            }
            if let Some(v) = parse_reply(&line)? {
                return Ok(v);
            }
        }
    };
    reply()?;
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n")?;
    reply()?;
    w.write_all(format!("{}\n", json!({ "execute": command })).as_bytes())?;
    Ok(reply()?.get("return").cloned().unwrap_or(Value::Null))
}

/// Is the VM behind `path` paused? `None` when QEMU did not answer in time (a snapshot may
/// hold its monitor).
pub fn is_paused_blocking(path: &Path, limit: Duration) -> Option<bool> {
    let v = execute_blocking(path, "query-status", limit).ok()?;
    Some(v.get("running").and_then(Value::as_bool) != Some(true))
}

/// The next line that is not an asynchronous event.
async fn next_reply(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
) -> std::io::Result<Value> {
    loop {
        let Some(line) = lines.next_line().await? else {
            return Err(closed());
        };
        if let Some(v) = parse_reply(&line)? {
            return Ok(v);
        }
    }
}

/// One line from QMP: a reply, `None` for an asynchronous event, or the error QEMU answered.
fn parse_reply(line: &str) -> std::io::Result<Option<Value>> {
    let v: Value = serde_json::from_str(line).map_err(std::io::Error::other)?;
    if v.get("event").is_some() {
        return Ok(None);
    }
    if let Some(err) = v.get("error") {
        return Err(std::io::Error::other(format!("QMP error: {err}")));
    }
    Ok(Some(v))
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "QMP closed")
}
