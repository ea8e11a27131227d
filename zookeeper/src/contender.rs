//! The master contender: joins the group with an ephemeral sequential `json.info_` node
//! holding our MasterInfo (genuine format), and reports whether we lead (lowest sequence).
//!
//! Unlike genuine Mesos, whose master exits when its candidacy is lost, the contender
//! re-contends on a fresh session: the owner sees `Joining` (demote) and later
//! `Standby`/`Leading` again.

use std::sync::{Arc, Mutex};

use mesos_proto::mesos::MasterInfo;
use tokio::sync::watch;
use zookeeper_client::{Client, CreateMode, SessionInfo};

use crate::node::{self, JSON_LABEL};
use crate::session::{self, SessionOptions, ZkError};
use crate::url::ZkUrl;

/// Where this contender stands in the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidacy {
    /// Not (or no longer) a member: connecting, or re-contending after losing a session.
    Joining,
    /// A member that does not lead; `sequence` is our node's number.
    Standby { sequence: u64 },
    /// The leader: ours is the lowest sequence in the group.
    Leading { sequence: u64 },
}

impl Candidacy {
    pub fn is_leading(&self) -> bool {
        matches!(self, Candidacy::Leading { .. })
    }
}

/// A running contender; dropping it closes its session, which withdraws its node.
pub struct Contender {
    state: watch::Receiver<Candidacy>,
    session: Arc<Mutex<Option<SessionInfo>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Contender {
    /// Starts contending (needs a tokio runtime).
    pub fn start(url: ZkUrl, info: MasterInfo, options: SessionOptions) -> Contender {
        let (tx, state) = watch::channel(Candidacy::Joining);
        let session = Arc::new(Mutex::new(None));
        let data = node::encode_json(&info).into_bytes();
        let task = tokio::spawn(run(url, data, options, tx, session.clone()));
        Contender {
            state,
            session,
            task,
        }
    }

    /// The candidacy now.
    pub fn candidacy(&self) -> Candidacy {
        self.state.borrow().clone()
    }

    /// A receiver of every candidacy change.
    pub fn watch(&self) -> watch::Receiver<Candidacy> {
        self.state.clone()
    }

    /// The current session (e.g. for tests that expire it from another client).
    pub fn session(&self) -> Option<SessionInfo> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    /// Leaves the election now: the session is closed and our node vanishes.
    pub fn withdraw(self) {
        drop(self);
    }
}

impl Drop for Contender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    url: ZkUrl,
    data: Vec<u8>,
    options: SessionOptions,
    tx: watch::Sender<Candidacy>,
    session: Arc<Mutex<Option<SessionInfo>>>,
) {
    loop {
        tx.send_if_modified(|c| replace(c, Candidacy::Joining));
        let client = session::connect(&url, &options).await;
        if let Ok(mut s) = session.lock() {
            *s = Some(client.session().clone());
        }
        let err = contend(&client, &url, &data, &tx).await;
        tracing::warn!(%url, error = %err, "master candidacy lost; contending again on a new session");
        tx.send_if_modified(|c| replace(c, Candidacy::Joining));
        // Dropping the client closes the session, so any node of ours goes with it.
        drop(client);
    }
}

fn replace(current: &mut Candidacy, new: Candidacy) -> bool {
    if *current == new {
        return false;
    }
    tracing::info!(from = ?current, to = ?new, "master candidacy changed");
    *current = new;
    true
}

/// Creates our node and follows the group until the session is lost; returns why it ended.
async fn contend(
    client: &Client,
    url: &ZkUrl,
    data: &[u8],
    tx: &watch::Sender<Candidacy>,
) -> ZkError {
    if let Err(e) = session::ensure_group(client, url).await {
        return e;
    }
    let acls = session::acls(url);
    let prefix = format!("{}/{}_", url.path(), JSON_LABEL);
    let options = CreateMode::EphemeralSequential.with_acls(zookeeper_client::Acls::new(&acls));
    // A failed create may still have created the node: the caller drops the session then,
    // which removes it, so no orphan can lead.
    let sequence = match client.create(&prefix, data, &options).await {
        Ok((_, seq)) => match u64::try_from(seq.into_i64()) {
            Ok(s) => s,
            Err(_) => return ZkError::NodeLost(format!("{prefix}{seq}")),
        },
        Err(e) => return e.into(),
    };
    let mine = format!("{JSON_LABEL}_{sequence:010}");
    tracing::info!(node = %format!("{}/{mine}", url.path()), "joined the master group");
    loop {
        let (children, watcher) = match client.list_and_watch_children(url.path()).await {
            Ok(r) => r,
            Err(e) if session::is_transient(&e) => {
                if let Err(e) = session::wait_connected(client).await {
                    return e;
                }
                continue;
            }
            Err(e) => return e.into(),
        };
        let members = node::members(&children);
        if !members
            .iter()
            .any(|m| m.sequence == sequence && m.label == JSON_LABEL)
        {
            return ZkError::NodeLost(mine);
        }
        let new = if members.first().map(|m| m.sequence) == Some(sequence) {
            Candidacy::Leading { sequence }
        } else {
            Candidacy::Standby { sequence }
        };
        tx.send_if_modified(|c| replace(c, new));
        if let Err(e) = session::wait_or_lost(client, watcher.changed()).await {
            return e;
        }
    }
}
