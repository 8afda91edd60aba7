//! The pure formatting helpers: numbers, shares, durations, sparklines and
//! worker states as the panels print them.

pub(super) fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

pub(super) fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

pub(super) fn uptime(s: f64) -> String {
    let s = s as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A duration in seconds, in a short human unit.
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::view::secs(0.000_512), "512µs");
/// assert_eq!(tokio_pulse_top::view::secs(0.25), "250ms");
/// assert_eq!(tokio_pulse_top::view::secs(2.0), "2.0s");
/// ```
pub fn secs(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0}µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.0}ms", s * 1e3)
    } else {
        format!("{s:.1}s")
    }
}

/// A sparkline of `points` in at most `width` characters (the latest at
/// the right; older points merged by their maximum).
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::view::sparkline(&[0.0, 1.0, 2.0, 4.0], 4), "▁▃▅█");
/// assert_eq!(tokio_pulse_top::view::sparkline(&[], 4), "");
/// ```
pub fn sparkline(points: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if points.is_empty() || width == 0 {
        return String::new();
    }
    let per = points.len().div_ceil(width);
    let merged: Vec<f64> = points
        .rchunks(per)
        .rev()
        .map(|c| c.iter().copied().fold(0.0, f64::max))
        .collect();
    let max = merged.iter().copied().fold(0.0, f64::max);
    merged
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// A worker state's short name (`/pulse.json` names), as the table shows it.
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::view::short_state("search"), "srch");
/// assert_eq!(tokio_pulse_top::view::short_state("something new"), "somet");
/// ```
pub fn short_state(name: &str) -> &str {
    match name {
        "poll" => "poll",
        "driver" => "drv",
        "search" => "srch",
        "park" => "park",
        "maintenance" => "mnt",
        "blocking" => "blk",
        // A state a newer exporter adds: its first five characters.
        other => other
            .char_indices()
            .nth(5)
            .map_or(other, |(end, _)| &other[..end]),
    }
}

/// The states a worker spent at least 0.5% of the interval in, with their
/// shares: `poll 62% srch 10% park 25% drv 1%`.
///
/// # Examples
///
/// ```
/// let shares = [("poll", 0.62), ("driver", 0.01), ("search", 0.1), ("park", 0.25), ("blocking", 0.001)];
/// assert_eq!(tokio_pulse_top::view::state_shares(&shares), "poll 62% drv 1% srch 10% park 25%");
/// ```
pub fn state_shares(shares: &[(&str, f64)]) -> String {
    let parts: Vec<String> = shares
        .iter()
        .filter(|(_, share)| *share >= 0.005)
        .map(|(name, share)| format!("{} {}", short_state(name), pct(*share)))
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}
