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
