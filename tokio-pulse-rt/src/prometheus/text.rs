//! The text exposition format: families, histograms and escaping.

use std::fmt::Write as _;

/// One series of a histogram for [`write_histogram`].
///
/// # Examples
///
/// See [`write_histogram`].
#[derive(Clone, Copy, Debug)]
pub struct HistogramSeries<'a> {
    /// The series' labels, `(name, value)`; values are escaped on output.
    pub labels: &'a [(&'a str, &'a str)],
    /// Upper bounds of the finite buckets, ascending, in the family's unit.
    pub bounds: &'a [f64],
    /// Events per bucket, not cumulative: `counts[i]` for `bounds[i]`, and
    /// one more at the end for everything above the last bound. Missing
    /// entries count as zero; extra entries go to the last bucket.
    pub counts: &'a [u64],
    /// The sum of the observed values, in the family's unit.
    pub sum: f64,
}

/// Writes one histogram family in the text exposition format: `# HELP`,
/// `# TYPE`, then per series the cumulative `name_bucket{...,le}` lines
/// ending with `le="+Inf"`, `name_sum` and `name_count`. Writes nothing at
/// all for no series, so a family without data is absent. O(buckets) per
/// series.
///
/// # Examples
///
/// ```
/// use tokio_pulse_rt::prometheus::{write_histogram, HistogramSeries};
///
/// let mut out = String::new();
/// let series = HistogramSeries {
///     labels: &[("worker", "0")],
///     bounds: &[0.001, 0.01],
///     counts: &[3, 1, 1],
///     sum: 0.05,
/// };
/// write_histogram(&mut out, "demo_seconds", "Demo.", [series]);
/// assert!(out.contains("demo_seconds_bucket{worker=\"0\",le=\"0.01\"} 4\n"));
/// assert!(out.contains("demo_seconds_bucket{worker=\"0\",le=\"+Inf\"} 5\n"));
/// assert!(out.contains("demo_seconds_count{worker=\"0\"} 5\n"));
/// ```
pub fn write_histogram<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = HistogramSeries<'a>>,
) {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} histogram");
    for one in series {
        let labels = render_labels(one.labels);
        write_histogram_series(out, name, &labels, one.bounds, one.counts, one.sum);
    }
    out.push('\n');
}

/// Writes one histogram series whose labels are already rendered
/// (`key="value",...`, escaped): the cumulative `_bucket` lines ending with
/// `le="+Inf"`, then `_sum` and `_count`. `counts` are per bucket, as in
/// [`HistogramSeries::counts`].
pub(crate) fn write_histogram_series(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (i, bound) in bounds.iter().enumerate() {
        cumulative = cumulative.saturating_add(counts.get(i).copied().unwrap_or(0));
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
            format_float(*bound)
        );
    }
    let above: u64 = counts
        .iter()
        .skip(bounds.len())
        .fold(0, |a, b| a.saturating_add(*b));
    let total = cumulative.saturating_add(above);
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", format_float(sum));
    let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
}

pub(crate) fn render_labels(labels: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{key}=\"{}\"", escape_label_value(value));
    }
    text
}

pub(crate) fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

pub(crate) fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

pub(crate) fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}
