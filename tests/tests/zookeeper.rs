//! Election and detection against a real ZooKeeper server (Debian's package): the
//! contender and detector of `mesos-zookeeper`, sessions closed and expired, and a server
//! restart. Skipped (SKIPPED printed) where ZooKeeper is not installed.

use std::future::Future;
use std::time::Duration;

use mesos_proto::mesos::master_info::{capability::Type, Capability};
use mesos_proto::mesos::{Address, MasterInfo};
use mesos_tests::zookeeper::ZooKeeperServer;
use mesos_zookeeper::zookeeper_client::Client;
use mesos_zookeeper::{Candidacy, Contender, Detector, SessionOptions, ZkUrl};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(20);

fn options() -> SessionOptions {
    SessionOptions {
        // Short enough for quick expiry, long enough for a loaded CI machine.
        session_timeout: Duration::from_secs(4),
        max_retry_delay: Duration::from_millis(200),
    }
}

fn info(port: u16) -> MasterInfo {
    MasterInfo {
        id: format!("master-{port}"),
        ip: 16777343,
        port: u32::from(port),
        pid: Some(format!("master@127.0.0.1:{port}")),
        hostname: Some("localhost".into()),
        version: Some("1.11.0".into()),
        address: Some(Address {
            hostname: Some("localhost".into()),
            ip: Some("127.0.0.1".into()),
            port: i32::from(port),
        }),
        domain: None,
        capabilities: [Type::AgentUpdate, Type::AgentDraining, Type::QuotaV2]
            .into_iter()
            .map(|t| Capability {
                r#type: Some(t as i32),
            })
            .collect(),
    }
}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn until<T: Clone>(what: &str, rx: &watch::Receiver<T>, f: impl Fn(&T) -> bool) -> T {
    let mut rx = rx.clone();
    within(what, async { rx.wait_for(|v| f(v)).await.unwrap().clone() }).await
}

fn leader_port(d: &Option<MasterInfo>) -> Option<u32> {
    d.as_ref().map(|i| i.port)
}

/// Expires a session the way ZooKeeper tests do: a second client attaches to it and closes it.
/// (Retried: on a loaded machine the JVM may be slow to answer the attach.)
async fn expire(zk: &ZooKeeperServer, c: &Contender) {
    zk.expire_session(c.session().expect("contender has a session"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_contenders_lowest_sequence_leads_and_next_leads_when_leader_withdraws() {
    let Some(zk) = ZooKeeperServer::start("three_contenders") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/mesos/election")).unwrap();
    let detector = Detector::start(url.clone(), options());
    let mut contenders = Vec::new();
    for port in [5001u16, 5002, 5003] {
        let c = Contender::start(url.clone(), info(port), options());
        until("join", &c.watch(), |s| *s != Candidacy::Joining).await;
        contenders.push(c);
    }
    assert!(contenders[0].candidacy().is_leading());
    assert!(matches!(
        contenders[1].candidacy(),
        Candidacy::Standby { .. }
    ));
    assert!(matches!(
        contenders[2].candidacy(),
        Candidacy::Standby { .. }
    ));
    let seen = until("first leader", &detector.watch(), |d| d.is_some()).await;
    assert_eq!(seen, Some(info(5001)));

    // The leader closes its session: the next-lowest leads and the detector follows.
    contenders.remove(0).withdraw();
    until(
        "second leads",
        &contenders[0].watch(),
        Candidacy::is_leading,
    )
    .await;
    assert!(!contenders[1].candidacy().is_leading());
    let seen = until("detector follows", &detector.watch(), |d| {
        leader_port(d) == Some(5002)
    })
    .await;
    assert_eq!(seen, Some(info(5002)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leader_session_demotes_then_recontends_behind_the_new_leader() {
    let Some(zk) = ZooKeeperServer::start("session_expiry") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let a = Contender::start(url.clone(), info(6001), options());
    until("a leads", &a.watch(), Candidacy::is_leading).await;
    let b = Contender::start(url.clone(), info(6002), options());
    until("b joins", &b.watch(), |s| *s != Candidacy::Joining).await;
    let detector = Detector::start(url.clone(), options());
    until("a detected", &detector.watch(), |d| {
        leader_port(d) == Some(6001)
    })
    .await;
    let Candidacy::Leading { sequence: first } = a.candidacy() else {
        panic!("a should lead")
    };

    expire(&zk, &a).await;
    // a sees the loss: it stops leading on its first node. (A watch keeps only the latest
    // value, so the brief `Joining` between sessions may already be gone when we look; CI
    // once missed it and timed out.)
    until("a demoted", &a.watch(), |s| {
        *s != Candidacy::Leading { sequence: first }
    })
    .await;
    until("b leads", &b.watch(), Candidacy::is_leading).await;
    until("b detected", &detector.watch(), |d| {
        leader_port(d) == Some(6002)
    })
    .await;
    // ...and rejoins on a new session, behind b, with a new node.
    let rejoined = until("a rejoins", &a.watch(), |s| {
        matches!(s, Candidacy::Standby { .. })
    })
    .await;
    assert!(matches!(rejoined, Candidacy::Standby { sequence } if sequence > first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_recovers_after_a_zookeeper_restart_and_follows_later_changes() {
    let Some(mut zk) = ZooKeeperServer::start("zookeeper_restart") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let a = Contender::start(url.clone(), info(7001), options());
    until("a leads", &a.watch(), Candidacy::is_leading).await;
    let detector = Detector::start(url.clone(), options());
    until("a detected", &detector.watch(), |d| {
        leader_port(d) == Some(7001)
    })
    .await;

    zk.stop();
    // Past the session timeout nobody can know the leader: the detector says so.
    until("no leader while down", &detector.watch(), |d| d.is_none()).await;
    zk.start_again();
    until("a leads again", &a.watch(), Candidacy::is_leading).await;
    until("a detected again", &detector.watch(), |d| {
        leader_port(d) == Some(7001)
    })
    .await;

    // The watches work on the new sessions: a new contender takes over when a leaves.
    let b = Contender::start(url.clone(), info(7002), options());
    until("b joins", &b.watch(), |s| *s != Candidacy::Joining).await;
    a.withdraw();
    until("b leads", &b.watch(), Candidacy::is_leading).await;
    until("b detected", &detector.watch(), |d| {
        leader_port(d) == Some(7002)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contender_node_is_ephemeral_sequential_json_info_with_the_genuine_bytes() {
    let Some(zk) = ZooKeeperServer::start("genuine_json") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let a = Contender::start(url.clone(), info(27050), options());
    until("a leads", &a.watch(), Candidacy::is_leading).await;

    let client = Client::connect(&zk.address()).await.unwrap();
    let (group, group_stat) = client.get_data("/mesos").await.unwrap();
    assert!(group.is_empty(), "the group node is empty");
    assert_eq!(
        group_stat.ephemeral_owner, 0,
        "the group node is persistent"
    );
    let children = client.list_children("/mesos").await.unwrap();
    assert_eq!(children.len(), 1);
    let name = &children[0];
    let digits = name.strip_prefix("json.info_").expect("json.info_ label");
    assert_eq!(digits.len(), 10);
    assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    let (data, stat) = client.get_data(&format!("/mesos/{name}")).await.unwrap();
    assert_ne!(stat.ephemeral_owner, 0, "the member node is ephemeral");

    // A genuine 1.11 master wrote this for the same MasterInfo (id aside).
    let capture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/wire/captures/zk-json-info.txt");
    let genuine = match std::fs::read_to_string(&capture) {
        Ok(text) => text.trim().to_string(),
        Err(_) => r#"{"address":{"hostname":"localhost","ip":"127.0.0.1","port":27050},"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}],"hostname":"localhost","id":"43a250e4-64bd-4a87-ae5d-960042a7f534","ip":16777343,"pid":"master@127.0.0.1:27050","port":27050,"version":"1.11.0"}"#.to_string(),
    };
    let expected = genuine.replace("43a250e4-64bd-4a87-ae5d-960042a7f534", "master-27050");
    assert_eq!(String::from_utf8(data).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_make_nodes_world_readable_but_writable_only_by_their_creator() {
    let Some(zk) = ZooKeeperServer::start("zk_credentials") else {
        return;
    };
    let url = ZkUrl::parse(&format!("zk://jo:s3cret@{}/secured", zk.address())).unwrap();
    let a = Contender::start(url, info(8001), options());
    until("a leads", &a.watch(), Candidacy::is_leading).await;
    // A detector without credentials still finds the leader (world:read)...
    let open = ZkUrl::parse(&zk.url("/secured")).unwrap();
    let detector = Detector::start(open, options());
    until("detected", &detector.watch(), |d| {
        leader_port(d) == Some(8001)
    })
    .await;
    // ...but cannot remove the leader's node (creator:all is for "jo" only).
    let anonymous = Client::connect(&zk.address()).await.unwrap();
    let children = anonymous.list_children("/secured").await.unwrap();
    let node = format!("/secured/{}", children[0]);
    assert_eq!(
        anonymous.delete(&node, None).await,
        Err(mesos_zookeeper::zookeeper_client::Error::NoAuth)
    );
    let (acl, _) = anonymous.get_acl(&node).await.unwrap();
    assert_eq!(acl.len(), 2);
}
