//! The global recorder that `install()` sets: the application's metrics go
//! to a `metrics-exporter-prometheus` recorder; `tokio_pulse_*` series are
//! dropped, because the scrape writes them from the snapshots.

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::export::ExportError;

/// The prefix of every Tokio-Pulse family, reserved for this crate.
const RESERVED: &str = "tokio_pulse_";

/// A Prometheus recorder that refuses the `tokio_pulse_*` families.
///
/// Without it, an interval publisher feeding the global recorder puts every
/// family into the recorder's render, and the scrape, which also writes the
/// families from the snapshots, then has each of them twice: Prometheus
/// rejects such a scrape.
#[derive(Debug)]
struct AppRecorder {
    inner: PrometheusRecorder,
}

fn reserved(name: &str) -> bool {
    name.starts_with(RESERVED)
}

impl Recorder for AppRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !reserved(key.as_str()) {
            self.inner.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !reserved(key.as_str()) {
            self.inner.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !reserved(key.as_str()) {
            self.inner.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if reserved(key.name()) {
            Counter::noop()
        } else {
            self.inner.register_counter(key, metadata)
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if reserved(key.name()) {
            Gauge::noop()
        } else {
            self.inner.register_gauge(key, metadata)
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if reserved(key.name()) {
            Histogram::noop()
        } else {
            self.inner.register_histogram(key, metadata)
        }
    }
}

/// Installs the application recorder as the global `metrics` recorder and
/// returns its handle.
pub(super) fn install() -> Result<PrometheusHandle, ExportError> {
    let inner = PrometheusBuilder::new().build_recorder();
    let handle = inner.handle();
    metrics::set_global_recorder(AppRecorder { inner })
        .map_err(|_| ExportError::RecorderInstalled)?;
    Ok(handle)
}
