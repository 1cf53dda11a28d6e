//! A child process's output read a line at a time: each line handed on as it arrives (for
//! live output), and what fits kept (for the outcome). Used by `vmlab exec` and by the
//! `--all-hosts` driver reading other hosts' vmlab over ssh.
//!
//! The output is hostile as far as this module knows (a guest's command prints what it
//! likes): bytes that are not UTF-8 become U+FFFD and reading goes on, a line longer than
//! [`Limits::line`] is cut (the rest of it read and dropped, and the cut said on the line), and
//! no more than [`Limits::keep`] bytes are kept. Memory stays bounded whatever comes.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// How much of a stream is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest line handed on (bytes).
    pub line: usize,
    /// The most kept for the outcome (bytes).
    pub keep: usize,
}

impl Limits {
    /// A command run on a guest (`vmlab exec`).
    pub const EXEC: Limits = Limits {
        line: 64 * 1024,
        keep: 1024 * 1024,
    };
    /// vmlab on another host: its JSON status of a large lab may be long.
    pub const HOST: Limits = Limits {
        line: 8 * 1024 * 1024,
        keep: 64 * 1024 * 1024,
    };
}

/// What was kept of a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// The lines kept, each ending in `\n`.
    pub text: String,
    /// Lines were left out of `text` because it reached [`Limits::keep`].
    pub cut: bool,
}

/// Reads `r` (a child's stdout or stderr; none: nothing) to its end, calling `each` with every
/// line as it comes.
pub async fn collect<R: AsyncRead + Unpin>(
    r: Option<R>,
    limits: Limits,
    mut each: impl FnMut(&str),
) -> Collected {
    let mut out = Collected::default();
    let Some(r) = r else { return out };
    let mut r = BufReader::new(r);
    let mut line: Vec<u8> = Vec::new();
    // Bytes of the current line past the limit, read and dropped.
    let mut over = 0usize;
    let mut finish = |line: &mut Vec<u8>, over: &mut usize| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut text = String::from_utf8_lossy(line).into_owned();
        if *over > 0 {
            text.push_str(&format!(" [line cut: {over} more bytes]"));
        }
        each(&text);
        if out.text.len() + text.len() < limits.keep {
            out.text.push_str(&text);
            out.text.push('\n');
        } else {
            out.cut = true;
        }
        line.clear();
        *over = 0;
    };
    loop {
        let buf = match r.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        let (chunk, end, used) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true, i + 1),
            None => (buf, false, buf.len()),
        };
        let room = limits.line.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        over += chunk.len().saturating_sub(room);
        r.consume(used);
        if end {
            finish(&mut line, &mut over);
        }
    }
    if !line.is_empty() || over > 0 {
        finish(&mut line, &mut over);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_line_is_handed_on_and_kept() {
        let mut seen = Vec::new();
        let all = collect(Some(&b"one\ntwo\r\nthree"[..]), Limits::EXEC, |l| {
            seen.push(l.to_string())
        })
        .await;
        assert_eq!(seen, ["one", "two", "three"]);
        assert_eq!(all.text, "one\ntwo\nthree\n");
        assert!(!all.cut);
        let none = collect(None::<&[u8]>, Limits::EXEC, |_| panic!("no lines")).await;
        assert_eq!(none, Collected::default());
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_do_not_stop_the_reading() {
        let mut seen = Vec::new();
        let all = collect(Some(&b"\xff\n1\n2\n"[..]), Limits::EXEC, |l| {
            seen.push(l.to_string())
        })
        .await;
        assert_eq!(seen, ["\u{fffd}", "1", "2"]);
        assert_eq!(all.text, "\u{fffd}\n1\n2\n");
    }

    #[tokio::test]
    async fn a_flood_is_cut_to_the_limits() {
        let limits = Limits {
            line: 1000,
            keep: 10_000,
        };
        // 20 MB without a newline, then many short lines.
        let mut input = vec![0u8; 20_000_000];
        input.push(b'\n');
        input.extend("x\n".repeat(100_000).as_bytes());
        let mut longest = 0;
        let mut count = 0;
        let all = collect(Some(input.as_slice()), limits, |l| {
            longest = longest.max(l.len());
            count += 1;
        })
        .await;
        assert!(longest < 1100, "a line of {longest} bytes was handed on");
        assert_eq!(count, 100_001, "every line is handed on");
        assert!(all.text.len() <= 10_000, "{} bytes kept", all.text.len());
        assert!(all.cut);
        assert!(all.text.contains("[line cut: 19999000 more bytes]"));
    }
}
