//! Written by `cargo xtask swap-test`. Runs mini-redis's server on the
//! swapped-in fork, loads it with mini-redis's client from another runtime,
//! and prints what the server runtime's probes counted.
use std::time::Instant;

const CLIENTS: usize = 8;
const ROUNDS: usize = 250;

fn main() -> mini_redis::Result<()> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let probes = tokio_pulse_rt::probes(server_rt.handle());
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let before = probes.snapshot();
    let server = server_rt.spawn(mini_redis::server::run(listener, async move {
        let _ = stop_rx.await;
    }));

    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let start = Instant::now();
    let answered: usize = client_rt.block_on(async move {
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            clients.push(tokio::spawn(async move {
                let mut client = mini_redis::client::connect(addr).await?;
                let mut right = 0usize;
                for i in 0..ROUNDS {
                    let key = format!("key-{}-{}", c, i);
                    let value = format!("value-{}", i);
                    client.set(&key, value.clone().into()).await?;
                    if client.get(&key).await?.as_deref() == Some(value.as_bytes()) {
                        right += 1;
                    }
                }
                Ok::<usize, mini_redis::Error>(right)
            }));
        }
        let mut right = 0;
        for client in clients {
            right += client.await??;
        }
        Ok::<usize, mini_redis::Error>(right)
    })?;
    let elapsed = start.elapsed();
    let _ = stop_tx.send(());
    server_rt.block_on(server)??;
    let change = probes.snapshot().delta(&before);
    let spawns_local: u64 = change.workers.iter().map(|w| w.spawns_local).sum();
    println!("{}", tokio_pulse_rt::report::WorkerTable::new(&change));
    println!(
        "pulse-probe: commands={} answered={} seconds={:.3} spawns_local={} spawns_remote={} polls={} wakes_remote={}",
        2 * CLIENTS * ROUNDS,
        answered,
        elapsed.as_secs_f64(),
        spawns_local,
        change.spawns_remote,
        change.polls(),
        change.wakes_remote,
    );
    Ok(())
}
