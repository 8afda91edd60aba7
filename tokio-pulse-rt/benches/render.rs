//! What one Prometheus scrape costs: `Renderer::render` on a 16-worker
//! runtime, which snapshots every counter, writes the families as text
//! (the full steal matrix included: 16 workers is the default limit), and
//! appends the exact poll-time histogram. The target is under 1 ms per
//! scrape.
//!
//! `cargo bench -p tokio-pulse-rt --bench render`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::runtime::{Builder, Runtime};
use tokio_pulse_probes::PulseConfig;

const WORKERS: usize = 16;

fn rt(poll_timing: bool) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .name("bench")
        .pulse(PulseConfig::new().poll_timing(poll_timing))
        .build()
        .expect("build runtime")
}

/// Some work on every worker, so that the counters and the steal matrix
/// hold real, many-digit values.
fn warm(rt: &Runtime) {
    rt.block_on(async {
        for _ in 0..20 {
            let tasks: Vec<_> = (0..1000)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::task::yield_now().await;
                        black_box(i)
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        }
    });
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_16_workers");
    group.throughput(Throughput::Elements(1));
    for poll_timing in [false, true] {
        let runtime = rt(poll_timing);
        warm(&runtime);
        let renderer = tokio_pulse_rt::prometheus()
            .with_global_recorder(false)
            .build()
            .unwrap();
        let text = renderer.render();
        eprintln!(
            "poll_timing={poll_timing}: {} bytes, {} samples per scrape",
            text.len(),
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .count()
        );
        let id = if poll_timing {
            "poll_timing_on"
        } else {
            "poll_timing_off"
        };
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| black_box(renderer.render()))
        });
        drop(runtime);
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
