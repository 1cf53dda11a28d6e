//! What the dashboard's drawing shares: the accent colour, the gauge, sizes and times as text,
//! word wrapping and centring.

use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::style::Color;

pub(in crate::tui) const ACCENT: Color = Color::Cyan;

/// A text gauge `width` cells wide.
pub fn gauge(frac: f64, width: usize) -> String {
    let frac = frac.clamp(0.0, 1.0);
    let full = (frac * width as f64).round() as usize;
    format!(
        "{}{}",
        "█".repeat(full),
        "░".repeat(width - full.min(width))
    )
}

pub(in crate::tui) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Words of `text` in lines of at most `width` characters (a longer word gets a line of its
/// own, cut by the frame).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + w.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

pub(in crate::tui) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

pub(in crate::tui) fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// `text` in at most `width` columns: whole when it fits, else cut with an ellipsis that
/// shows it was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let keep: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{keep}…")
}

/// A link end (`spine1:Ethernet0` and its guest interface `eth1`) in at most `width` columns,
/// keeping what tells ends apart: the guest interface goes first, then the node's name is cut
/// in the middle, the port kept whole as long as it fits.
pub fn fit_end(end: &str, guest: &str, width: usize) -> String {
    let whole = format!("{end} {guest}");
    if whole.chars().count() <= width {
        return whole;
    }
    if end.chars().count() <= width {
        return end.to_string();
    }
    let Some((node, port)) = end.split_once(':') else {
        return fit(end, width);
    };
    // The port whole, then as SONiC's short form (`Ethernet12` → `Eth12`), each after the node's
    // name cut in its middle (`sp…e1`).
    let digits = port.trim_start_matches(|c: char| !c.is_ascii_digit());
    let letters = &port[..port.len() - digits.len()];
    let short = format!("{}{digits}", letters.chars().take(3).collect::<String>());
    for port in [port, short.as_str()] {
        let room = width.saturating_sub(port.chars().count() + 2);
        if room >= 2 {
            return format!("{}:{port}", cut_middle(node, room + 1));
        }
    }
    // Narrower still: the port's end, which differs between ends.
    let port: Vec<char> = short.chars().collect();
    let keep = width.saturating_sub(1).min(port.len());
    format!("…{}", port[port.len() - keep..].iter().collect::<String>())
}

/// `text` in `width` columns, cut in its middle (`sp…e1`) when it does not fit.
fn cut_middle(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(1);
    let head = room.div_ceil(2);
    let tail = room - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_text_says_it_was_cut_and_link_ends_keep_their_port() {
        assert_eq!(fit("kernel-is-linux", 22), "kernel-is-linux");
        assert_eq!(fit("a-very-long-check-name-indeed", 10), "a-very-lo…");
        assert_eq!(
            fit_end("spine1:Ethernet0", "eth1", 30),
            "spine1:Ethernet0 eth1"
        );
        assert_eq!(fit_end("spine1:Ethernet0", "eth1", 16), "spine1:Ethernet0");
        assert_eq!(fit_end("spine1:Ethernet0", "eth1", 14), "sp…1:Ethernet0");
        assert_eq!(fit_end("spine1:Ethernet12", "eth4", 10), "sp…1:Eth12");
        assert_eq!(fit_end("spine1:Ethernet0", "eth1", 10), "sp…e1:Eth0");
        assert_eq!(fit_end("spine1:Ethernet12", "eth4", 6), "…Eth12");
        for w in 2..25 {
            let f = fit_end("spine1:Ethernet12", "eth4", w);
            assert!(f.chars().count() <= w, "{w}: {f}");
        }
    }
}
