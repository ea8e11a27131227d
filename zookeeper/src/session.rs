//! One ZooKeeper session as the contender and detector use it: connect (retrying), the
//! group's ACLs, and waiting for a watch while noticing a lost session.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Acl, AuthId, Client, CreateMode, Permission, SessionState};

use crate::url::ZkUrl;

/// Errors of a ZooKeeper session.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("ZooKeeper: {0}")]
    Client(#[from] zookeeper_client::Error),
    #[error("the session was lost (expired, closed, or disconnected past its timeout)")]
    SessionLost,
    #[error("our node {0} disappeared from the group")]
    NodeLost(String),
}

/// Session settings.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Requested session timeout (genuine Mesos uses 10 s; the server may clamp it).
    pub session_timeout: Duration,
    /// Longest pause between connection attempts.
    pub max_retry_delay: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            session_timeout: Duration::from_secs(10),
            max_retry_delay: Duration::from_secs(2),
        }
    }
}

/// Connects, retrying with a doubling delay until a session is established.
pub async fn connect(url: &ZkUrl, options: &SessionOptions) -> Client {
    let mut delay = Duration::from_millis(50);
    loop {
        let mut connector = Client::connector().with_session_timeout(options.session_timeout);
        if let Some(c) = url.credentials() {
            connector = connector.with_auth("digest", &c.digest());
        }
        match connector.connect(&url.connect_string()).await {
            Ok(client) => {
                tracing::debug!(%url, session = ?client.session_id(), "ZooKeeper session established");
                return client;
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, ?delay, "cannot connect to ZooKeeper; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(options.max_retry_delay);
            }
        }
    }
}

/// The ACL of the nodes we create: open without credentials; with credentials, world-read
/// and everything for the creator (as genuine Mesos does).
pub fn acls(url: &ZkUrl) -> Vec<Acl> {
    if url.credentials().is_some() {
        vec![
            Acl::new(Permission::READ, AuthId::anyone()),
            Acl::new(Permission::ALL, AuthId::new("auth", "")),
        ]
    } else {
        vec![Acl::new(Permission::ALL, AuthId::anyone())]
    }
}

/// Creates the group node and its ancestors (persistent, empty) if missing.
pub(crate) async fn ensure_group(client: &Client, url: &ZkUrl) -> Result<(), ZkError> {
    let acls = acls(url);
    let options = CreateMode::Persistent.with_acls(zookeeper_client::Acls::new(&acls));
    client.mkdir(url.path(), &options).await?;
    Ok(())
}

/// Waits for `event` while watching the session: returns `Err(SessionLost)` when the session
/// ends, or when it stays disconnected longer than its timeout (the server has expired it
/// by then, even though the client cannot hear so until it reconnects).
pub(crate) async fn wait_or_lost<F: Future>(
    client: &Client,
    event: F,
) -> Result<F::Output, ZkError> {
    let mut states = client.state_watcher();
    let timeout = client.session_timeout();
    let mut deadline = disconnected_deadline(states.peek_state(), timeout)?;
    tokio::pin!(event);
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = &mut event => return Ok(out),
            state = states.changed() => deadline = disconnected_deadline(state, timeout)?,
            _ = sleep => return Err(ZkError::SessionLost),
        }
    }
}

fn disconnected_deadline(
    state: SessionState,
    timeout: Duration,
) -> Result<Option<Instant>, ZkError> {
    match state {
        SessionState::Disconnected => Ok(Some(Instant::now() + timeout)),
        SessionState::SyncConnected | SessionState::ConnectedReadOnly => Ok(None),
        _ => Err(ZkError::SessionLost),
    }
}

/// Whether an operation error only means "not connected right now" (retry on this session).
pub fn is_transient(e: &zookeeper_client::Error) -> bool {
    matches!(
        e,
        zookeeper_client::Error::ConnectionLoss | zookeeper_client::Error::Timeout
    )
}

/// Waits until the session is connected again (or lost).
pub(crate) async fn wait_connected(client: &Client) -> Result<(), ZkError> {
    let mut states = client.state_watcher();
    if matches!(states.peek_state(), SessionState::SyncConnected) {
        return Ok(());
    }
    wait_or_lost(client, async {
        loop {
            if matches!(states.changed().await, SessionState::SyncConnected) {
                return;
            }
        }
    })
    .await
}
