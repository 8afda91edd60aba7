//! A starved I/O driver: the only worker spins inside one poll while a TCP
//! client task waits for bytes that have arrived; nobody turns the driver,
//! so the watchdog reports it, naming the spinning task.

use std::io::Write;
use std::panic::Location;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

const STALL: Duration = Duration::from_millis(50);

#[test]
fn a_spinning_only_worker_starves_the_io_driver_and_the_watchdog_says_so() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .pulse(
            PulseConfig::new()
                .stall_watchdog(STALL)
                .watchdog_period(Duration::from_millis(2))
                .stack_capture(false),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The client: connects, then waits for one byte.
    let client = rt.spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut byte = [0; 1];
        stream.read_exact(&mut byte).await.unwrap();
        byte[0]
    });
    let (mut server, _) = listener.accept().unwrap();
    // Let the client reach its read (and the worker park in the driver).
    std::thread::sleep(Duration::from_millis(50));

    let spinner_at = Location::caller();
    let spinner = rt.spawn(async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(400) {
            std::hint::spin_loop();
        }
    });
    // The byte arrives while the only worker spins.
    std::thread::sleep(Duration::from_millis(20));
    server.write_all(&[7]).unwrap();

    // While it spins, the driver's age grows past the threshold.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let starved = probes
            .stalls()
            .into_iter()
            .find(|stall| stall.details.starved_driver.is_some());
        if let Some(report) = starved {
            break report;
        }
        assert!(Instant::now() < deadline, "no starved-driver report");
        std::thread::sleep(Duration::from_millis(5));
    };
    let starved = report.details.starved_driver.unwrap();
    assert_eq!(starved.driver, "io");
    assert!(starved.not_turned_for >= STALL, "{starved}");
    assert_eq!(report.worker, 0);
    let at = report
        .task
        .spawned_at
        .expect("the spinner's spawn location");
    assert_eq!(
        (at.file(), at.line()),
        (spinner_at.file(), spinner_at.line() + 1)
    );

    rt.block_on(spinner).unwrap();
    assert_eq!(rt.block_on(client).unwrap(), 7);
}

#[test]
fn an_idle_runtime_is_not_starved() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .pulse(PulseConfig::new().stall_watchdog(STALL))
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    // A task that waits on a timer, and a worker that parks meanwhile.
    rt.block_on(async {
        tokio::spawn(tokio::time::sleep(Duration::from_millis(200)))
            .await
            .unwrap()
    });
    assert!(probes.stalls().is_empty());
    let age = probes.snapshot().driver_last_turn_age.expect("turned");
    assert!(age < STALL, "{age:?}");
}
