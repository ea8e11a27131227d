//! Master high availability: `--zk` election, leader detection, and the registrar that
//! makes agent admission durable (`--registry`).
//!
//! With `--zk`, every master contends (`mesos_zookeeper::Contender`, genuine `json.info_`
//! nodes) and detects the leader. Only the leader serves: a standby answers the scheduler
//! API with 307 to the leader (503 while none is known), drops agent registrations, and
//! reports `master/elected` 0. The leader recovers the registry when elected and admits an
//! agent (sends `SlaveRegisteredMessage`) only after the registry commit.
//!
//! Genuine masters exit when they lose leadership; ours demotes itself to a standby
//! (`demotion`: it forgets the cluster and ends its event streams) and contends again,
//! dropping every libprocess message a leader handles (`install_leading`). What a new
//! leader does with the recovered registry's agents is in `recovery`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use libprocess::{Ctx, Reply, Request, Response, Upid};
use mesos_proto::mesos::internal::SlaveRegisteredMessage;
use mesos_proto::mesos::{MasterInfo, SlaveId, SlaveInfo};
use mesos_registrar::{
    InMemoryStorage, LocalStorage, Operation, RegistrarError, RegistrarHandle, Storage,
    ZooKeeperStorage,
};
use mesos_zookeeper::{Candidacy, Contender, Detector, SessionOptions, ZkUrl};
use tokio::sync::watch;

use crate::flags::Flags;
use crate::master::Master;

/// Invalid high-availability flags.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("--zk: {0}")]
    Zk(#[from] mesos_zookeeper::UrlError),
    #[error("--quorum is required with --zk and --registry=replicated_log")]
    MissingQuorum,
    #[error("--quorum must be at least 1")]
    ZeroQuorum,
    #[error("--registry={0} needs --work_dir")]
    MissingWorkDir(String),
    #[error("--registry must be in_memory, replicated_log or local, not '{0}'")]
    UnknownRegistry(String),
}

/// Where the registry is kept.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistryBackend {
    /// No registrar: state lives in the master's memory only (the pre-HA behaviour).
    None,
    InMemory,
    Local(PathBuf),
    ZooKeeper(ZkUrl),
}

/// The checked HA settings.
#[derive(Clone, Debug)]
pub struct HaConfig {
    pub zk: Option<ZkUrl>,
    pub registry: RegistryBackend,
    /// `--zk_session_timeout` for the contender, the detector and the ZooKeeper store.
    pub session: SessionOptions,
}

/// Checks `--zk`, `--quorum`, `--registry` and `--work_dir` together.
pub fn config(flags: &Flags) -> Result<HaConfig, HaError> {
    let zk = flags.zk.as_deref().map(ZkUrl::parse).transpose()?;
    if flags.quorum == Some(0) {
        return Err(HaError::ZeroQuorum);
    }
    let work_dir = || {
        flags
            .work_dir
            .as_ref()
            .map(|d| PathBuf::from(d).join("meta").join("registry"))
            .ok_or_else(|| HaError::MissingWorkDir(flags.registry.clone()))
    };
    let registry = match (flags.registry.as_str(), &zk) {
        // With --zk a registry every master can read is needed, so in_memory still gets a
        // registrar (its store just does not survive the process).
        ("in_memory", None) => RegistryBackend::None,
        ("in_memory", Some(_)) => RegistryBackend::InMemory,
        ("replicated_log", Some(url)) => {
            if flags.quorum.is_none() {
                return Err(HaError::MissingQuorum);
            }
            RegistryBackend::ZooKeeper(url.clone())
        }
        ("replicated_log", None) | ("local", _) => RegistryBackend::Local(work_dir()?),
        (other, _) => return Err(HaError::UnknownRegistry(other.to_string())),
    };
    let session = SessionOptions {
        session_timeout: flags.zk_session_timeout.0,
        ..SessionOptions::default()
    };
    Ok(HaConfig {
        zk,
        registry,
        session,
    })
}

/// `--zk` for `/flags`, without the password.
pub fn redact_zk(zk: &str) -> String {
    ZkUrl::parse(zk)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| zk.to_string())
}

/// The master's HA state.
pub struct Ha {
    config: HaConfig,
    contender: Option<Contender>,
    detector: Option<Detector>,
    leading: bool,
    /// The sequence of our node while we lead: a new one means leadership was lost and
    /// won again in between (the watch may coalesce the two changes), which is a demotion.
    term: Option<u64>,
    leader: Option<MasterInfo>,
    pub(crate) registrar: Option<RegistrarHandle>,
    /// The recovered registry's agents this leadership waits for.
    pub(crate) recovery: crate::recovery::Recovery,
    /// Agents whose admission is being committed (their retries are not new agents).
    admitting: HashSet<Upid>,
    /// Agents whose unreachability is being committed.
    marking: HashSet<String>,
}

impl Ha {
    /// Spawns the registrar (if any) on `runtime`; election starts in [`start`].
    pub fn new(config: HaConfig, runtime: &libprocess::Runtime) -> Result<Ha, libprocess::Error> {
        let storage: Option<Arc<dyn Storage>> = match &config.registry {
            RegistryBackend::None => None,
            RegistryBackend::InMemory => Some(Arc::new(InMemoryStorage::default())),
            RegistryBackend::Local(dir) => Some(Arc::new(LocalStorage::new(dir))),
            RegistryBackend::ZooKeeper(url) => Some(Arc::new(ZooKeeperStorage::new(
                url.clone(),
                config.session.clone(),
            ))),
        };
        let registrar = storage
            .map(|s| RegistrarHandle::spawn(runtime, s))
            .transpose()?;
        Ok(Ha {
            leading: config.zk.is_none(),
            term: None,
            config,
            contender: None,
            detector: None,
            leader: None,
            registrar,
            recovery: Default::default(),
            admitting: HashSet::new(),
            marking: HashSet::new(),
        })
    }

    pub fn is_leading(&self) -> bool {
        self.leading
    }

    /// For a standby: the answer to an HTTP call meant for the leader.
    pub fn redirect(&self, req: &Request) -> Option<Reply> {
        if self.leading {
            return None;
        }
        Some(match &self.leader {
            Some(l) => {
                let host = l
                    .hostname
                    .clone()
                    .unwrap_or_else(|| std::net::Ipv4Addr::from(l.ip.to_le_bytes()).to_string());
                Response::temporary_redirect(format!("//{host}:{}{}", l.port, req.path)).into()
            }
            None => Response::new(503, "No leading master is known").into(),
        })
    }
}

/// Starts contending and detecting (with `--zk`), or recovers the registry at once
/// (without: this master is the only one and leads).
pub(crate) fn start(m: &mut Master, ctx: &mut Ctx<'_, Master>) {
    m.metrics.elected.set(if m.ha.leading { 1.0 } else { 0.0 });
    let Some(url) = m.ha.config.zk.clone() else {
        recover_registry(m, ctx);
        return;
    };
    let session = m.ha.config.session.clone();
    let contender = Contender::start(url.clone(), m.info.clone(), session.clone());
    let detector = Detector::start(url, session);
    follow(ctx, contender.watch(), on_candidacy);
    follow(ctx, detector.watch(), |m, _ctx, leader| {
        m.ha.leader = leader
    });
    m.ha.contender = Some(contender);
    m.ha.detector = Some(detector);
}

/// Installs a libprocess message handler that only a leading master runs: a standby drops
/// the message and counts it in `master/dropped_messages`, as genuine masters filter every
/// message while not elected (their senders retry, or follow the leader they detect).
pub(crate) fn install_leading<M>(
    ctx: &mut Ctx<'_, Master>,
    handler: impl Fn(&mut Master, &mut Ctx<'_, Master>, Upid, M) + 'static,
) where
    M: prost::Message + prost::Name + Default + 'static,
{
    ctx.install::<M>(move |m, ctx, from, message| {
        if !m.ha.leading {
            tracing::warn!(%from, name = %M::full_name(), "dropping a message: this master is not the leader");
            m.metrics.dropped_messages.inc();
            return;
        }
        m.count_message(&M::full_name());
        handler(m, ctx, from, message)
    });
}

/// Calls `on` with every new value of `rx`.
/// (The initial values, `Joining` and no leader, are the master's initial state.)
fn follow<T: Clone + Send + Sync + 'static>(
    ctx: &mut Ctx<'_, Master>,
    mut rx: watch::Receiver<T>,
    on: fn(&mut Master, &mut Ctx<'_, Master>, T),
) {
    rx.borrow_and_update();
    ctx.then(
        async move {
            let alive = rx.changed().await.is_ok();
            (rx, alive)
        },
        move |m, ctx, (rx, alive)| {
            if alive {
                let now = rx.borrow().clone();
                on(m, ctx, now);
                follow(ctx, rx, on);
            }
        },
    );
}

fn on_candidacy(m: &mut Master, ctx: &mut Ctx<'_, Master>, candidacy: Candidacy) {
    let term = match candidacy {
        Candidacy::Leading { sequence } => Some(sequence),
        Candidacy::Standby { .. } | Candidacy::Joining => None,
    };
    if term == m.ha.term {
        return;
    }
    if m.ha.term.is_some() {
        demote(m, ctx);
    }
    m.ha.term = term;
    if term.is_some() {
        m.ha.leading = true;
        m.metrics.elected.set(1.0);
        tracing::info!(id = %m.info.id, "elected the leading master");
        recover_registry(m, ctx);
    }
}

/// Leadership lost: serve as a standby that holds nothing of the cluster.
fn demote(m: &mut Master, ctx: &mut Ctx<'_, Master>) {
    tracing::error!(id = %m.info.id, "no longer the leading master: demoting to a standby");
    m.ha.leading = false;
    m.ha.term = None;
    m.metrics.elected.set(0.0);
    // Another master may write the registry now: read it again if we lead again.
    if let Some(r) = &m.ha.registrar {
        r.reset();
    }
    m.ha.recovery.reset();
    m.ha.admitting.clear();
    m.ha.marking.clear();
    m.forget_cluster(ctx);
    // What this master held is gone, as if it had restarted: it contends again as a new
    // master (a new MasterInfo id), so agents and drivers that detect it leading again,
    // genuine ones included, register anew instead of assuming it still knows them.
    m.info.id = uuid::Uuid::new_v4().to_string();
    if let Some(url) = m.ha.config.zk.clone() {
        // Dropping the contender closes its session, which withdraws any node of ours.
        m.ha.contender = None;
        let contender = Contender::start(url, m.info.clone(), m.ha.config.session.clone());
        follow(ctx, contender.watch(), on_candidacy);
        m.ha.contender = Some(contender);
    }
}

/// Gives up this leadership without losing ZooKeeper (as a genuine master does by
/// exiting, for a supervisor to restart it): demote, which contends again from the end of
/// the queue, so another master leads if there is one. The only master (no `--zk`) leads
/// again at once and recovers the registry afresh, as a restarted one would.
pub(crate) fn step_down(m: &mut Master, ctx: &mut Ctx<'_, Master>, why: &str) {
    tracing::error!(id = %m.info.id, reason = %why, "stepping down as the leading master");
    // With --zk, demotion contends again from the end of the queue.
    demote(m, ctx);
    if m.ha.config.zk.is_none() {
        m.ha.leading = true;
        m.metrics.elected.set(1.0);
        recover_registry(m, ctx);
    }
}

fn recover_registry(m: &mut Master, ctx: &mut Ctx<'_, Master>) {
    let Some(registrar) = m.ha.registrar.clone() else {
        return;
    };
    let info = m.info.clone();
    ctx.then(
        async move { registrar.recover(info).await },
        |m, ctx, result| match result {
            Ok(r) => {
                tracing::info!(
                    admitted = r.admitted().len(),
                    unreachable = r.unreachable().len(),
                    "registry recovered"
                );
                if m.ha.leading {
                    crate::recovery::recovered(m, ctx, &r);
                }
            }
            Err(e) => {
                // Genuine masters exit here for a supervisor to restart them; we try again
                // from the start (election included) a little later.
                tracing::error!(error = %e, "cannot recover the registry; stepping down to try again");
                let generation = m.ha.recovery.generation();
                ctx.delay(REGISTRY_RETRY, "registry_retry", move |m, ctx| {
                    if m.ha.leading && m.ha.recovery.generation() == generation {
                        step_down(m, ctx, "the registry could not be recovered");
                    }
                });
            }
        },
    );
}

/// How long a master whose registry cannot be read waits before it steps down to retry.
const REGISTRY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// A registry operation failed because the registrar can no longer write (its store failed):
/// nothing more can be admitted or removed, so this master steps down, which resets the
/// registrar and recovers the registry afresh (genuine masters exit instead). Other errors
/// (an operation the registry refused) concern that operation alone.
fn on_registrar_error(m: &mut Master, ctx: &mut Ctx<'_, Master>, error: &RegistrarError) {
    if let RegistrarError::Failed(reason) = error {
        if m.ha.leading {
            step_down(m, ctx, &format!("the registrar failed: {reason}"));
        }
    }
}

impl Master {
    /// The contender's ZooKeeper session (for tests that expire it).
    pub fn zk_session(&self) -> Option<mesos_zookeeper::zookeeper_client::SessionInfo> {
        self.ha.contender.as_ref().and_then(|c| c.session())
    }

    /// Marks agent `id` unreachable in the registry, then removes it (as Mesos does: the
    /// registry first, so a new leader never re-admits an agent whose tasks were declared
    /// unreachable). `false` when there is no registrar (remove at once).
    pub(crate) fn mark_unreachable_through_registry(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &str,
        why: &str,
    ) -> bool {
        let Some(registrar) = self.ha.registrar.clone() else {
            return false;
        };
        if !self.ha.marking.insert(id.to_string()) {
            return true;
        }
        let nanos = (ctx.clock().now_secs() * 1e9) as i64;
        let op = Operation::MarkSlaveUnreachable {
            id: SlaveId {
                value: id.to_string(),
            },
            time: mesos_proto::mesos::TimeInfo { nanoseconds: nanos },
        };
        let (id, why) = (id.to_string(), why.to_string());
        let generation = self.ha.recovery.generation();
        ctx.then(async move { registrar.apply(op).await }, move |m, ctx, result| {
            if m.ha.recovery.generation() != generation {
                return; // demoted meanwhile: the agent is no longer ours to remove
            }
            m.ha.marking.remove(&id);
            match result {
                Ok(_) => {}
                // Admitted before this master had a registry (e.g. re-registered after a
                // failover): nothing to record, the removal still stands.
                Err(RegistrarError::Operation(e)) => {
                    tracing::info!(%id, reason = %e, "agent unreachable; the registry had nothing to change")
                }
                Err(e) => {
                    tracing::error!(%id, error = %e, "cannot record the agent as unreachable");
                    on_registrar_error(m, ctx, &e);
                    return;
                }
            }
            if m.agents.registered.contains_key(&id) {
                m.metrics.slave_unreachable_scheduled.inc();
                m.remove_agent(ctx, &id, true, &why);
            }
        });
        true
    }

    /// Registration through the registrar: `true` if it took over the registration of
    /// `from` (the caller stops), `false` when there is no registrar (admit at once).
    pub(crate) fn admit_through_registry(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: &Upid,
        info: &SlaveInfo,
        version: &str,
        capabilities: &[i32],
    ) -> bool {
        if !self.ha.leading {
            tracing::warn!(agent = %from, "dropping a registration: this master is not the leader");
            return true;
        }
        let Some(registrar) = self.ha.registrar.clone() else {
            return false;
        };
        if !self.ha.admitting.insert(from.clone()) {
            tracing::info!(agent = %from, "registration already being committed; ignoring the retry");
            return true;
        }
        let (from, info, version, capabilities) = (
            from.clone(),
            info.clone(),
            version.to_string(),
            capabilities.to_vec(),
        );
        let op = Operation::AdmitSlave(info.clone());
        let generation = self.ha.recovery.generation();
        ctx.then(async move { registrar.apply(op).await }, move |m, ctx, result| {
            if m.ha.recovery.generation() != generation {
                tracing::warn!(agent = %from, "not admitting the agent: this master was demoted meanwhile");
                return;
            }
            m.ha.admitting.remove(&from);
            let id = info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
            if let Err(e) = result {
                tracing::error!(agent = %from, %id, error = %e, "agent not admitted: the registry refused it");
                on_registrar_error(m, ctx, &e);
                return;
            }
            m.admit_agent(ctx, from.clone(), id.clone(), info, version, capabilities, false, Vec::new());
            m.metrics.slave_registrations.inc();
            tracing::info!(agent = %from, %id, "registered agent (registry committed)");
            let reply = SlaveRegisteredMessage {
                slave_id: SlaveId { value: id },
                connection: Some(m.connection()),
            };
            ctx.send(&from, &reply);
            m.changed();
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(extra: &[&str]) -> Flags {
        let mut args = vec!["mesos-master"];
        args.extend_from_slice(extra);
        Flags::parse_from_args(args).unwrap()
    }

    #[test]
    fn zk_with_replicated_log_needs_a_positive_quorum() {
        let zk = [
            "--zk",
            "zk://127.0.0.1:2181/mesos",
            "--registry",
            "replicated_log",
        ];
        assert!(matches!(config(&flags(&zk)), Err(HaError::MissingQuorum)));
        let zero = [&zk[..], &["--quorum", "0"]].concat();
        assert!(matches!(config(&flags(&zero)), Err(HaError::ZeroQuorum)));
        let ok = [&zk[..], &["--quorum", "2"]].concat();
        let c = config(&flags(&ok)).unwrap();
        assert!(matches!(c.registry, RegistryBackend::ZooKeeper(ref u) if u.path() == "/mesos"));
    }

    #[test]
    fn replicated_log_without_zk_is_a_local_file_under_work_dir() {
        let c = config(&flags(&[
            "--registry",
            "replicated_log",
            "--work_dir",
            "/w",
        ]))
        .unwrap();
        assert_eq!(
            c.registry,
            RegistryBackend::Local(PathBuf::from("/w/meta/registry"))
        );
        assert!(matches!(
            config(&flags(&["--registry", "local"])),
            Err(HaError::MissingWorkDir(_))
        ));
        assert!(matches!(
            config(&flags(&["--registry", "etcd"])),
            Err(HaError::UnknownRegistry(_))
        ));
    }

    #[test]
    fn default_registry_keeps_a_single_master_without_registrar() {
        let c = config(&flags(&[])).unwrap();
        assert_eq!(c.registry, RegistryBackend::None);
        assert!(c.zk.is_none());
        assert!(matches!(
            config(&flags(&["--zk", "zk://h:1/"])),
            Err(HaError::Zk(_))
        ));
    }

    #[test]
    fn zk_session_timeout_flag_sets_the_session_timeout_of_election_and_registry() {
        let c = config(&flags(&[])).unwrap();
        assert_eq!(
            c.session.session_timeout,
            std::time::Duration::from_secs(10)
        );
        let c = config(&flags(&["--zk_session_timeout", "3secs"])).unwrap();
        assert_eq!(c.session.session_timeout, std::time::Duration::from_secs(3));
    }

    #[test]
    fn flags_endpoint_never_shows_the_zk_password() {
        let f = flags(&["--zk", "zk://u:secret@h:2181/m", "--quorum", "1"]);
        let map = f.to_map();
        let zk = map.iter().find(|(k, _)| k == "zk").unwrap();
        assert_eq!(zk.1, "zk://u:***@h:2181/m");
    }
}
