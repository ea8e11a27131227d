//! The benchmark's driver and peer work across runtimes and locally (small counts).
use libprocess::bench::{self, Driver, Peer};
use libprocess::{Config, Runtime};

#[tokio::test]
async fn flood_and_round_trips_complete_across_two_runtimes_and_locally() {
    let a = Runtime::start(Config::local()).unwrap();
    let b = Runtime::start(Config::local()).unwrap();
    let driver = a.spawn("ping", Driver::default()).unwrap();
    let remote = b.spawn("pong", Peer::new(1000)).unwrap();
    let local = a.spawn("pong", Peer::new(1000)).unwrap();
    let took = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        bench::flood(&driver, remote.upid(), bench::ping_body(256), 20_000, 4000),
    )
    .await;
    let took = match took {
        Ok(t) => t,
        Err(_) => panic!(
            "remote flood stuck: a={:?} b={:?}",
            a.metrics().snapshot(),
            b.metrics().snapshot()
        ),
    };
    assert!(took.as_nanos() > 0);
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        bench::flood(&driver, local.upid(), bench::ping_body(256), 20_000, 4000),
    )
    .await
    .expect("local flood");
    let rtts = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        bench::round_trips(&driver, remote.upid(), bench::ping_body(64), 100),
    )
    .await
    .expect("rtt");
    assert_eq!(rtts.len(), 100);
    a.shutdown();
    b.shutdown();
}
