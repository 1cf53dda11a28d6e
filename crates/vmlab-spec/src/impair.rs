//! Link impairments as values: delay, jitter, loss and rate, per direction, and the parsers for
//! how people write them (`20ms`, `1.5%`, `10mbit`), shared by topology.json's
//! `links[].impair` and `vmlab link set`. Every value is checked here: no negative delay, loss
//! from 0 to 100%, a rate a link can carry.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most delay or jitter a link may be given (one way).
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Which way frames travel on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the `a` end to the `z` end.
    AToZ,
    /// From the `z` end to the `a` end.
    ZToA,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::AToZ, Direction::ZToA];

    pub fn label(self) -> &'static str {
        match self {
            Direction::AToZ => "a-to-z",
            Direction::ZToA => "z-to-a",
        }
    }
}

/// What `--direction` names: one way or both; on the command line also a way named by the
/// end the user typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directions {
    One(Direction),
    Both,
    /// Leaving the typed end (`from-here`).
    FromHere,
    /// Arriving at the typed end (`to-here`).
    ToHere,
}

impl Directions {
    /// A direction as a spec writes it (the spec's a/z order, or both).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "a-to-z" => Ok(Directions::One(Direction::AToZ)),
            "z-to-a" => Ok(Directions::One(Direction::ZToA)),
            "both" => Ok(Directions::Both),
            other => Err(format!("direction {other:?} is not a-to-z, z-to-a or both")),
        }
    }

    /// A direction as typed with a link's end: also `from-here` and `to-here`.
    pub fn parse_typed(s: &str) -> Result<Self, String> {
        match s {
            "from-here" => Ok(Directions::FromHere),
            "to-here" => Ok(Directions::ToHere),
            other => Self::parse(other).map_err(|_| {
                format!("direction {other:?} is not from-here, to-here, both, a-to-z or z-to-a")
            }),
        }
    }

    /// The directions meant, `typed_a` saying whether the end typed was the link's `a` end
    /// (`None`: the link was named by its number). `Err` when `from-here`/`to-here` has no end.
    pub fn resolve(self, typed_a: Option<bool>) -> Result<Vec<Direction>, String> {
        let here = |from: bool| match typed_a {
            Some(a) if a == from => Ok(vec![Direction::AToZ]),
            Some(_) => Ok(vec![Direction::ZToA]),
            None => Err(
                "from-here and to-here need the link named by an end (node:interface), \
                         not by its number"
                    .to_string(),
            ),
        };
        match self {
            Directions::One(d) => Ok(vec![d]),
            Directions::Both => Ok(Direction::BOTH.to_vec()),
            Directions::FromHere => here(true),
            Directions::ToHere => here(false),
        }
    }

    /// The directions of a spec's impairment (never relative to a typed end).
    pub fn list(self) -> Vec<Direction> {
        self.resolve(None).unwrap_or_default()
    }
}

/// The impairments of one direction of a link. All zero: a clean wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Impairment {
    /// Added one-way delay, microseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_us: u64,
    /// Each frame's delay varies uniformly by up to this much either way, microseconds (frames
    /// keep their order).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_us: u64,
    /// Share of frames dropped at random, in millionths (10 000 = 1%).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loss_ppm: u32,
    /// Rate limit, bits per second (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rate_bps: u64,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Impairment {
    pub fn is_clean(&self) -> bool {
        *self == Impairment::default()
    }

    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us)
    }

    pub fn jitter(&self) -> Duration {
        Duration::from_micros(self.jitter_us)
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.delay_us > 0 {
            parts.push(format!("delay {}", show_duration(self.delay_us)));
        }
        if self.jitter_us > 0 {
            parts.push(format!("jitter {}", show_duration(self.jitter_us)));
        }
        if self.loss_ppm > 0 {
            parts.push(format!("loss {}", show_loss(self.loss_ppm)));
        }
        if self.rate_bps > 0 {
            parts.push(format!("rate {}", show_rate(self.rate_bps)));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// `20ms`, `1.5s`, `500us`, `0` → microseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("{s:?} is negative; a delay is 0 or more"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 20ms, 1.5s or 500us"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "" if value == 0.0 => 1.0,
        _ => {
            return Err(format!(
                "{s:?} is not a duration like 20ms, 1.5s or 500us (units: us, ms, s)"
            ));
        }
    };
    let us = value * scale;
    if !us.is_finite() || us > MAX_DELAY.as_micros() as f64 {
        return Err(format!("{s:?} is more than {} s", MAX_DELAY.as_secs()));
    }
    Ok(us.round() as u64)
}

/// `1%`, `0.5%`, `100%` → millionths.
pub fn parse_loss(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    let pct: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a loss like 1% or 0.5%"))?;
    if !(0.0..=100.0).contains(&pct) {
        return Err(format!("{s:?} is not a loss from 0% to 100%"));
    }
    Ok((pct * 10_000.0).round() as u32)
}

/// `10mbit`, `512kbit`, `1gbit`, `100bit`, `1mbps` (bytes) → bits per second.
/// A measured rate as people read it: `2.1 kbit/s`, `96.0 Mbit/s` (the CLI's link table and
/// the TUI's write rates alike).
pub fn show_bits_per_sec(bps: f64) -> String {
    match bps {
        b if b >= 1e9 => format!("{:.1} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kbit/s", b / 1e3),
        b => format!("{b:.0} bit/s"),
    }
}

pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate like 10mbit or 512kbit"))?;
    let scale = match unit {
        "bit" | "bps" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => {
            return Err(format!(
                "{s:?} is not a rate like 10mbit (units: bit, kbit, mbit, gbit; kbps, mbps, gbps \
                 are bytes)"
            ));
        }
    };
    let bps = value * scale;
    if !(8_000.0..=100e9).contains(&bps) {
        return Err(format!("{s:?} is not a rate from 8kbit to 100gbit"));
    }
    Ok(bps.round() as u64)
}

pub fn show_duration(us: u64) -> String {
    if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us >= 1_000 && us.is_multiple_of(1_000) {
        format!("{}ms", us / 1_000)
    } else if us >= 1_000 {
        format!("{:.1}ms", us as f64 / 1_000.0)
    } else {
        format!("{us}us")
    }
}

pub fn show_loss(ppm: u32) -> String {
    let pct = f64::from(ppm) / 10_000.0;
    if ppm.is_multiple_of(10_000) {
        format!("{}%", ppm / 10_000)
    } else {
        format!("{pct}%")
    }
}

pub fn show_rate(bps: u64) -> String {
    for (unit, scale) in [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)] {
        let v = bps as f64 / scale;
        if v >= 1.0 {
            return if v.fract() == 0.0 {
                format!("{v}{unit}")
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{bps}bit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20ms"), Ok(20_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000));
        assert_eq!(parse_duration("500us"), Ok(500));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in ["-5ms", "20", "ms", "20 parsecs", "61s", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn losses() {
        assert_eq!(parse_loss("1%"), Ok(10_000));
        assert_eq!(parse_loss("0.5%"), Ok(5_000));
        assert_eq!(parse_loss("100%"), Ok(1_000_000));
        assert_eq!(parse_loss("30"), Ok(300_000));
        for bad in ["101%", "-1%", "lots", "%"] {
            assert!(parse_loss(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("512kbit"), Ok(512_000));
        assert_eq!(parse_rate("1Gbit"), Ok(1_000_000_000));
        assert_eq!(parse_rate("1mbps"), Ok(8_000_000));
        for bad in ["10", "fast", "-1mbit", "1bit", "1000gbit"] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shown_as_written() {
        let i = Impairment {
            delay_us: 20_000,
            jitter_us: 5_000,
            loss_ppm: 10_000,
            rate_bps: 10_000_000,
        };
        assert_eq!(i.to_string(), "delay 20ms jitter 5ms loss 1% rate 10mbit");
        assert_eq!(Impairment::default().to_string(), "none");
        assert_eq!(show_loss(5_000), "0.5%");
    }
}
