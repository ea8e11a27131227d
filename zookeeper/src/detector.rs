//! The leader detector: follows the group and yields the leading master's MasterInfo, or
//! none. Used by agents, schedulers and standby masters. It reads every historical node
//! form, survives ZooKeeper restarts and reconnects on a fresh session after expiry.

use mesos_proto::mesos::MasterInfo;
use tokio::sync::watch;
use zookeeper_client::Client;

use crate::node;
use crate::session::{self, SessionOptions, ZkError};
use crate::url::ZkUrl;

/// A running detector; dropping it closes its session.
pub struct Detector {
    state: watch::Receiver<Option<MasterInfo>>,
    task: tokio::task::JoinHandle<()>,
}

impl Detector {
    /// Starts detecting (needs a tokio runtime). The leader is `None` until known.
    pub fn start(url: ZkUrl, options: SessionOptions) -> Detector {
        let (tx, state) = watch::channel(None);
        let task = tokio::spawn(run(url, options, tx));
        Detector { state, task }
    }

    /// The leader as last detected.
    pub fn leader(&self) -> Option<MasterInfo> {
        self.state.borrow().clone()
    }

    /// A receiver of every leader change.
    pub fn watch(&self) -> watch::Receiver<Option<MasterInfo>> {
        self.state.clone()
    }

    /// Waits until the leader differs from `previous` (Mesos's `detect(previous)`).
    pub async fn detect(&self, previous: Option<&MasterInfo>) -> Option<MasterInfo> {
        let mut rx = self.state.clone();
        let out = match rx.wait_for(|now| now.as_ref() != previous).await {
            Ok(now) => now.clone(),
            // The task never ends on its own; only dropping the detector stops it.
            Err(_) => None,
        };
        out
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn publish(tx: &watch::Sender<Option<MasterInfo>>, leader: Option<MasterInfo>) {
    tx.send_if_modified(|current| {
        if *current == leader {
            return false;
        }
        tracing::info!(
            leader = leader
                .as_ref()
                .and_then(|l| l.pid.as_deref())
                .unwrap_or("none"),
            "detected a new leading master"
        );
        *current = leader;
        true
    });
}

async fn run(url: ZkUrl, options: SessionOptions, tx: watch::Sender<Option<MasterInfo>>) {
    loop {
        let client = session::connect(&url, &options).await;
        let err = follow(&client, &url, &tx).await;
        tracing::warn!(%url, error = %err, "detector session ended; reconnecting");
        publish(&tx, None);
        drop(client);
    }
}

async fn follow(client: &Client, url: &ZkUrl, tx: &watch::Sender<Option<MasterInfo>>) -> ZkError {
    loop {
        let (children, watcher) = match client.list_and_watch_children(url.path()).await {
            Ok(r) => r,
            Err(zookeeper_client::Error::NoNode) => {
                // No group yet: no leader; wake when it is created.
                publish(tx, None);
                match client.check_and_watch_stat(url.path()).await {
                    Ok((Some(_), _)) => continue,
                    Ok((None, w)) => {
                        if let Err(e) = session::wait_or_lost(client, w.changed()).await {
                            return e;
                        }
                        continue;
                    }
                    Err(e) if session::is_transient(&e) => {
                        if let Err(e) = session::wait_connected(client).await {
                            return e;
                        }
                        continue;
                    }
                    Err(e) => return e.into(),
                }
            }
            Err(e) if session::is_transient(&e) => {
                if let Err(e) = session::wait_connected(client).await {
                    return e;
                }
                continue;
            }
            Err(e) => return e.into(),
        };
        let leader = match node::members(&children).into_iter().next() {
            None => None,
            Some(m) => match client.get_data(&format!("{}/{}", url.path(), m.name)).await {
                Ok((data, _)) => match node::decode(&m, &data) {
                    Ok(info) => Some(info),
                    Err(e) => {
                        tracing::warn!(error = %e, "the leading node is unreadable; no leader");
                        None
                    }
                },
                // Gone between the listing and the read: the watch fires; list again.
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) if session::is_transient(&e) => {
                    if let Err(e) = session::wait_connected(client).await {
                        return e;
                    }
                    continue;
                }
                Err(e) => return e.into(),
            },
        };
        publish(tx, leader);
        if let Err(e) = session::wait_or_lost(client, watcher.changed()).await {
            return e;
        }
    }
}
