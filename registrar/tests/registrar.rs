//! The Registrar process on real runtimes: recovery, batching, compare-and-swap failure,
//! durability across restarts, and its metrics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libprocess::{Config, Runtime};
use mesos_proto::mesos::{MasterInfo, SlaveId, SlaveInfo, TimeInfo};
use mesos_registrar::storage::StorageFuture;
use mesos_registrar::{
    Entry, InMemoryStorage, LocalStorage, Operation, OperationError, RegistrarError,
    RegistrarHandle, Storage,
};
use tokio::sync::Semaphore;

fn master(port: u32) -> MasterInfo {
    MasterInfo {
        id: format!("m{port}"),
        ip: 16777343,
        port,
        pid: Some(format!("master@127.0.0.1:{port}")),
        ..Default::default()
    }
}

fn agent(id: &str) -> SlaveInfo {
    SlaveInfo {
        hostname: format!("{id}.example"),
        id: Some(SlaveId { value: id.into() }),
        ..Default::default()
    }
}

/// A real in-memory store whose writes wait for a permit, so a test can hold a write in
/// flight and watch what queues behind it.
struct GatedStorage {
    inner: InMemoryStorage,
    gate: Arc<Semaphore>,
    stores: AtomicUsize,
}

impl Storage for GatedStorage {
    fn fetch(&self) -> StorageFuture<Option<Entry>> {
        self.inner.fetch()
    }
    fn store(&self, expected: Option<u64>, data: Vec<u8>) -> StorageFuture<u64> {
        self.stores.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.clone();
        let write = self.inner.store(expected, data);
        // The in-memory write happened already; only its answer waits for the gate.
        Box::pin(async move {
            let permit = gate.acquire().await;
            drop(permit);
            write.await
        })
    }
    fn kind(&self) -> &'static str {
        "gated"
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_queued_during_a_store_commit_together_in_the_next_store() {
    let rt = Runtime::start(Config::local()).unwrap();
    let storage = Arc::new(GatedStorage {
        inner: InMemoryStorage::default(),
        gate: Arc::new(Semaphore::new(0)),
        stores: AtomicUsize::new(0),
    });
    let registrar = RegistrarHandle::spawn(&rt, storage.clone()).unwrap();
    let recovering = tokio::spawn({
        let r = registrar.clone();
        async move { r.recover(master(1)).await }
    });
    // Recovery's store (recording the master) is held: everything now queues.
    eventually("recovery store", || {
        storage.stores.load(Ordering::SeqCst) == 1
    })
    .await;
    let mut applies = Vec::new();
    for id in ["a1", "a2", "a3", "a4"] {
        let r = registrar.clone();
        applies.push(tokio::spawn(async move {
            r.apply(Operation::AdmitSlave(agent(id))).await
        }));
    }
    let metrics = rt.metrics().clone();
    eventually("4 queued", || {
        metrics.snapshot().get("registrar/queued_operations") == Some(&4.0)
    })
    .await;
    storage.gate.add_permits(1_000);
    recovering.await.unwrap().unwrap();
    for a in applies {
        assert_eq!(a.await.unwrap(), Ok(true));
    }
    // One store for recovery, one for the whole batch of four.
    assert_eq!(storage.stores.load(Ordering::SeqCst), 2);
    let registry = registrar.registry().await.unwrap();
    assert_eq!(registry.admitted().len(), 4);
    let snapshot = rt.metrics().snapshot();
    assert_eq!(snapshot.get("registrar/queued_operations"), Some(&0.0));
    assert_eq!(snapshot.get("registrar/state_store_ms/count"), Some(&2.0));
    assert_eq!(snapshot.get("registrar/state_fetch_ms/count"), Some(&1.0));
    assert!(snapshot.contains_key("registrar/state_store_ms/p99"));
    assert!(snapshot["registrar/registry_size_bytes"] > 0.0);
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_operation_fails_alone_and_does_not_block_the_batch() {
    let rt = Runtime::start(Config::local()).unwrap();
    let registrar = RegistrarHandle::spawn(&rt, Arc::new(InMemoryStorage::default())).unwrap();
    assert_eq!(
        registrar.apply(Operation::AdmitSlave(agent("x"))).await,
        Err(RegistrarError::NotRecovered)
    );
    registrar.recover(master(1)).await.unwrap();
    assert_eq!(
        registrar.apply(Operation::AdmitSlave(agent("a"))).await,
        Ok(true)
    );
    let (dup, other) = tokio::join!(
        registrar.apply(Operation::AdmitSlave(agent("a"))),
        registrar.apply(Operation::AdmitSlave(agent("b")))
    );
    assert_eq!(
        dup,
        Err(RegistrarError::Operation(OperationError::AlreadyAdmitted(
            "a".into()
        )))
    );
    assert_eq!(other, Ok(true));
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrar_whose_version_is_stale_stops_instead_of_overwriting() {
    let rt = Runtime::start(Config::local()).unwrap();
    let shared = Arc::new(InMemoryStorage::default());
    let old = RegistrarHandle::spawn(&rt, shared.clone()).unwrap();
    old.recover(master(1)).await.unwrap();
    old.apply(Operation::AdmitSlave(agent("a"))).await.unwrap();

    // A new leader recovers the same store: the old one's next write must fail.
    let rt2 = Runtime::start(Config::local()).unwrap();
    let new = RegistrarHandle::spawn(&rt2, shared.clone()).unwrap();
    let recovered = new.recover(master(2)).await.unwrap();
    assert_eq!(recovered.admitted().len(), 1);
    assert_eq!(recovered.master.as_ref().unwrap().info.port, 2);

    let stale = old.apply(Operation::AdmitSlave(agent("b"))).await;
    assert!(matches!(stale, Err(RegistrarError::Failed(ref r)) if r.contains("version conflict")));
    assert!(matches!(
        old.apply(Operation::AdmitSlave(agent("c"))).await,
        Err(RegistrarError::Failed(_))
    ));
    assert_eq!(new.apply(Operation::AdmitSlave(agent("b"))).await, Ok(true));
    assert_eq!(new.registry().await.unwrap().admitted().len(), 2);
    rt.shutdown();
    rt2.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_registry_survives_a_master_restart() {
    let dir = std::env::temp_dir().join(format!("registrar-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let rt = Runtime::start(Config::local()).unwrap();
        let r = RegistrarHandle::spawn(&rt, Arc::new(LocalStorage::new(&dir))).unwrap();
        r.recover(master(1)).await.unwrap();
        r.apply(Operation::AdmitSlave(agent("a"))).await.unwrap();
        r.apply(Operation::AdmitSlave(agent("b"))).await.unwrap();
        let op = Operation::MarkSlaveUnreachable {
            id: SlaveId { value: "b".into() },
            time: TimeInfo { nanoseconds: 42 },
        };
        r.apply(op).await.unwrap();
        rt.shutdown();
    }
    let rt = Runtime::start(Config::local()).unwrap();
    let r = RegistrarHandle::spawn(&rt, Arc::new(LocalStorage::new(&dir))).unwrap();
    let registry = r.recover(master(2)).await.unwrap();
    assert_eq!(registry.admitted().len(), 1);
    assert_eq!(registry.unreachable().len(), 1);
    assert_eq!(registry.unreachable()[0].timestamp.nanoseconds, 42);
    assert_eq!(registry.master.unwrap().info.port, 2);
    rt.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_registrar_reads_the_store_again_and_can_write_after_another_master_did() {
    let rt = Runtime::start(Config::local()).unwrap();
    let shared = Arc::new(InMemoryStorage::default());
    let a = RegistrarHandle::spawn(&rt, shared.clone()).unwrap();
    a.recover(master(1)).await.unwrap();
    // Another master leads for a while and admits an agent.
    let rt2 = Runtime::start(Config::local()).unwrap();
    let b = RegistrarHandle::spawn(&rt2, shared.clone()).unwrap();
    b.recover(master(2)).await.unwrap();
    b.apply(Operation::AdmitSlave(agent("from-b")))
        .await
        .unwrap();
    // a leads again: without a reset its cached registry would be stale.
    a.reset();
    let registry = a.recover(master(1)).await.unwrap();
    assert_eq!(registry.admitted().len(), 1);
    assert_eq!(
        a.apply(Operation::AdmitSlave(agent("from-a"))).await,
        Ok(true)
    );
    rt.shutdown();
    rt2.shutdown();
}
