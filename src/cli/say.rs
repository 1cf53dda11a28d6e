//! Writing to the user's terminal without dying of it: output to a closed pipe (`vmlab status
//! | head -1`) or a hung-up terminal (SIGHUP during a deploy) must not panic and skip the
//! cleanup that follows, as `println!` would.

use std::io::Write;

/// A line of data on stdout.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A line of progress, a warning or an error on stderr.
pub fn tell(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
