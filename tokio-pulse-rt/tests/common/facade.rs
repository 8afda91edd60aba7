//! Reading what was published into a `metrics_util` `DebuggingRecorder`.

use metrics::Key;
use metrics_util::debugging::DebugValue;

/// The labels of a published key, as (key, value) pairs in their order.
pub fn labels<B: FromIterator<(String, String)>>(key: &Key) -> B {
    key.labels()
        .map(|l| (l.key().to_string(), l.value().to_string()))
        .collect()
}

/// A published counter's or gauge's value. The facade publishes no
/// histograms, so one fails the test, naming the metric.
pub fn value(key: &Key, value: DebugValue) -> f64 {
    match value {
        DebugValue::Counter(v) => v as f64,
        DebugValue::Gauge(v) => v.into_inner(),
        DebugValue::Histogram(_) => panic!("no facade histograms expected: {}", key.name()),
    }
}
