//! The ZooKeeper registry store against a real ZooKeeper (Debian's package): a registry of
//! 50,000 agents is split so no znode nears the 1 MB limit, and writes are compare-and-swap.

use std::sync::Arc;
use std::time::Duration;

use libprocess::{Config, Runtime};
use mesos_proto::mesos::value::{Scalar, Type as ValueType};
use mesos_proto::mesos::{MasterInfo, Resource, SlaveId, SlaveInfo};
use mesos_registrar::storage::zookeeper::CHUNK_BYTES;
use mesos_registrar::{
    Operation, RegistrarError, RegistrarHandle, Storage, StorageError, ZooKeeperStorage,
};
use mesos_tests::zookeeper::ZooKeeperServer;
use mesos_zookeeper::zookeeper_client::Client;
use mesos_zookeeper::{SessionOptions, ZkUrl};

fn options() -> SessionOptions {
    SessionOptions {
        session_timeout: Duration::from_secs(4),
        max_retry_delay: Duration::from_millis(200),
    }
}

/// Multi-MB transactions on a loaded 2-core machine (the whole suite runs beside them) can
/// take seconds: a short session would time the client out, not test the store.
fn big_writes() -> SessionOptions {
    SessionOptions {
        session_timeout: Duration::from_secs(20),
        ..options()
    }
}

fn agent(i: usize) -> SlaveInfo {
    let scalar = |name: &str, value: f64| Resource {
        name: name.into(),
        r#type: ValueType::Scalar as i32,
        scalar: Some(Scalar { value }),
        ..Default::default()
    };
    SlaveInfo {
        hostname: format!("agent-{i}.rack-{}.cluster.example.com", i % 100),
        id: Some(SlaveId {
            value: format!("3d4c3a4b-5e6f-4a1b-9c2d-{i:012}-S{i}"),
        }),
        port: Some(5051),
        resources: vec![
            scalar("cpus", 32.0),
            scalar("mem", 262144.0),
            scalar("disk", 1048576.0),
        ],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_of_50000_agents_is_chunked_below_the_znode_limit_and_reads_back() {
    let Some(zk) = ZooKeeperServer::start("zk_registry_50000") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let rt = Runtime::start(Config::local()).unwrap();
    let registrar = RegistrarHandle::spawn(
        &rt,
        Arc::new(ZooKeeperStorage::new(url.clone(), big_writes())),
    )
    .unwrap();
    registrar.recover(MasterInfo::default()).await.unwrap();
    // Admitted in one burst: the registrar batches them into few stores.
    let applies: Vec<_> = (0..50_000)
        .map(|i| registrar.apply(Operation::AdmitSlave(agent(i))))
        .collect();
    for r in futures::future::join_all(applies).await {
        assert_eq!(r, Ok(true));
    }
    let size = rt.metrics().snapshot()["registrar/registry_size_bytes"];
    assert!(
        size > 4.0 * 1024.0 * 1024.0,
        "the registry is several MB ({size})"
    );
    let snapshot = rt.metrics().snapshot();
    eprintln!(
        "50,000 agents: registry {:.1} MB, {} stores, state_store_ms max {:.0} p50 {:.0}",
        size / 1e6,
        snapshot["registrar/state_store_ms/count"],
        snapshot["registrar/state_store_ms/max"],
        snapshot["registrar/state_store_ms/p50"],
    );

    let client = Client::connect(&zk.address()).await.unwrap();
    let chunks = client
        .list_children("/mesos/registry/chunks")
        .await
        .unwrap();
    assert!(chunks.len() >= 8, "{} chunks", chunks.len());
    for c in &chunks {
        let (data, _) = client
            .get_data(&format!("/mesos/registry/chunks/{c}"))
            .await
            .unwrap();
        assert!(data.len() <= CHUNK_BYTES && CHUNK_BYTES < 1024 * 1024);
    }
    // The election group is untouched: the registry's node is ignored by detectors.
    assert!(
        mesos_zookeeper::node::members(&client.list_children("/mesos").await.unwrap()).is_empty()
    );

    // A new master reads it all back.
    let rt2 = Runtime::start(Config::local()).unwrap();
    let next =
        RegistrarHandle::spawn(&rt2, Arc::new(ZooKeeperStorage::new(url, big_writes()))).unwrap();
    let registry = next.recover(MasterInfo::default()).await.unwrap();
    assert_eq!(registry.admitted().len(), 50_000);
    eprintln!(
        "50,000 agents: recovery state_fetch_ms {:.0}",
        rt2.metrics().snapshot()["registrar/state_fetch_ms"]
    );
    assert_eq!(registry.admitted()[49_999].info, agent(49_999));
    // ...and from then on the first master may not write.
    assert!(matches!(
        registrar.apply(Operation::AdmitSlave(agent(50_000))).await,
        Err(RegistrarError::Failed(_))
    ));
    rt.shutdown();
    rt2.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_store_refuses_a_write_at_a_stale_version() {
    let Some(zk) = ZooKeeperServer::start("zk_registry_cas") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/cas")).unwrap();
    let a = ZooKeeperStorage::new(url.clone(), options());
    let b = ZooKeeperStorage::new(url, options());
    assert_eq!(a.fetch().await.unwrap(), None);
    assert_eq!(a.store(None, b"one".to_vec()).await.unwrap(), 1);
    assert!(matches!(
        b.store(None, b"two".to_vec()).await,
        Err(StorageError::Conflict {
            expected: None,
            found: Some(1)
        })
    ));
    let big = vec![7u8; 3 * CHUNK_BYTES + 5];
    assert_eq!(b.store(Some(1), big.clone()).await.unwrap(), 2);
    assert!(matches!(
        a.store(Some(1), b"stale".to_vec()).await,
        Err(StorageError::Conflict {
            expected: Some(1),
            found: Some(2)
        })
    ));
    let entry = a.fetch().await.unwrap().unwrap();
    assert_eq!((entry.version, entry.data.len()), (2, big.len()));
    // Failed writes and superseded generations leave no chunks behind.
    let client = Client::connect(&zk.address()).await.unwrap();
    assert_eq!(
        client
            .list_children("/cas/registry/chunks")
            .await
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_store_survives_a_zookeeper_restart_during_a_write() {
    let Some(mut zk) = ZooKeeperServer::start("zk_registry_restart") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/restart")).unwrap();
    let store = Arc::new(ZooKeeperStorage::new(url, options()));
    assert_eq!(store.store(None, b"one".to_vec()).await.unwrap(), 1);
    zk.stop();
    let writing = tokio::spawn({
        let store = store.clone();
        async move { store.store(Some(1), vec![9u8; 2 * CHUNK_BYTES]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    zk.start_again();
    let version = tokio::time::timeout(Duration::from_secs(30), writing)
        .await
        .expect("the write finishes")
        .unwrap()
        .expect("the write succeeds once ZooKeeper is back");
    assert_eq!(version, 2);
    let entry = store.fetch().await.unwrap().unwrap();
    assert_eq!((entry.version, entry.data.len()), (2, 2 * CHUNK_BYTES));
}
