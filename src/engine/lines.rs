//! A child process's output read a line at a time: each line handed on as it arrives (for
//! live output), and all of it kept (for the outcome). Used by `vmlab exec` and by the
//! `--all-hosts` driver reading other hosts' vmlab over ssh.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Reads `r` (a child's stdout or stderr; none: nothing) to its end, calling `each` with every
/// line as it comes; returns every line, each ending in `\n`.
pub async fn collect<R: AsyncRead + Unpin>(r: Option<R>, mut each: impl FnMut(&str)) -> String {
    let mut all = String::new();
    let Some(r) = r else { return all };
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        each(&line);
        all.push_str(&line);
        all.push('\n');
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_line_is_handed_on_and_kept() {
        let mut seen = Vec::new();
        let all = collect(Some(&b"one\ntwo\nthree"[..]), |l| seen.push(l.to_string())).await;
        assert_eq!(seen, ["one", "two", "three"]);
        assert_eq!(all, "one\ntwo\nthree\n");
        assert_eq!(collect(None::<&[u8]>, |_| panic!("no lines")).await, "");
    }
}
