//! The Mesos master: agent and framework registry, resource offers, task lifecycle,
//! wire-compatible with Apache Mesos 1.11 agents, scheduler drivers and HTTP clients.
//!
//! # Layout
//! - [`flags`]: command-line flags (`--port`, `--agent_ping_timeout`, ...), stout durations.
//! - [`master`]: the `Master` process (id `master`, the HTTP delegate): its state, its
//!   `MasterInfo`, the handler table, metrics, and what happens on `exited`.
//! - [`agents`]: agent (re-)registration, disconnection and removal; the per-agent
//!   `slave-observer(N)` processes that ping agents and count pongs.
//! - [`agent_disconnection`]: a broken agent link: non-checkpointing frameworks' tasks
//!   lost, `--agent_reregister_timeout` to come back before it is marked unreachable.
//! - [`agent_reregistration`]: a known agent re-registering: unreported tasks reconciled
//!   through the agent, unreported executors removed, its new total to the allocator.
//! - [`demotion`]: a leader that lost ZooKeeper leadership forgets the cluster, ends
//!   its event streams, and serves as a standby.
//! - [`frameworks`]: framework records, (re-)subscription, failover timeouts, removal, and
//!   sending events to a framework over either transport (v0 messages or v1 stream).
//! - [`framework_failover`]: failover timeouts of frameworks known only from agents
//!   (after a master failover), so orphaned tasks do not run forever.
//! - [`framework_updates`]: new FrameworkInfo (roles to the allocator, offers to dropped
//!   roles rescinded), scheduler failover (its offers discarded), updates to agents.
//! - [`agent_validation`]: checks on agent (re-)registrations (resources, ids, what runs).
//! - [`numbers`]: durations from peers' numbers, saturated or defaulted, never a panic.
//! - [`event_stream`]: the memory budget of each v1 event stream (slow readers are cut off).
//! - [`history`]: completed/unreachable tasks and unreachable agents, capped by flags.
//! - [`offers`]: turning allocations into offers, rescinding, offer timeouts.
//! - [`operations`]: offer operations this master does not carry out, dropped with
//!   OPERATION_ERROR as Mesos drops invalid ones.
//! - [`tasks`]: launching (ACCEPT), status updates, acknowledgements, kills.
//! - [`reconciliation`]: answering RECONCILE with what the master knows of each task.
//! - [`relays`]: executor messages, acknowledgements and framework messages, checked
//!   before they are relayed.
//! - [`teardown`]: `/teardown`, an operator removing a framework.
//! - [`wire_fields`]: values genuine Mesos puts in some fields (empty-UPID pids, ...).
//! - [`validation`]: checks on ACCEPT operations before anything reaches an agent.
//! - [`scheduler_v0`]: libprocess messages from the v0 scheduler driver.
//! - [`scheduler_http`]: the v1 scheduler API (`/api/v1/scheduler`, RecordIO streams).
//! - [`hostname`]: the hostname reported without `--hostname` (looked up, as genuine).
//! - [`files`]: the master's log as `/master/log` (`--external_log_file`): LIST_FILES,
//!   READ_FILE, `/files/browse`, `/files/read`.
//! - [`http`]: `/state`, `/redirect`, `/health`, `/flags`, `/version`.
//! - [`operator_api`]: the v1 operator API (`/api/v1`), answered from the `/state` snapshot.
//! - [`operator_events`]: the operator event stream (SUBSCRIBE), derived from changes.
//! - [`operator_endpoints`]: `/state-summary`, `/slaves`, `/frameworks`, `/tasks`, `/roles`
//!   and the `.json` aliases operators' older tools request.
//! - [`state`]: the `/state` JSON, rendered off the master's mailbox from a snapshot.
//! - [`allocation_explain`]: `/allocator/explain`, why each framework got offers or none.
//! - [`agent_proxy`]: `/agent/<id>/...`, agents' read-only endpoints for the web UI.
//! - [`webui`]: the embedded web UI at `/` and `/assets/`.
//! - [`allocation`]: the allocator as the master sees it: the hierarchical DRF allocator
//!   process of `mesos-allocator`, whose decisions come back to the master by dispatch.
//! - [`resource_versions`]: agents' resource versions, echoed in launches.
//! - [`metrics`]: `master/messages_*`, removal reasons and `event_queue_*`, with genuine's names.
//! - [`resource_metrics`]: `master/cpus_total`, `_used`, `_percent` (and mem, disk, gpus).
//! - [`resources`]: resource arithmetic the master needs (sums, containment), over the
//!   allocator crate's `Resources`.
#![forbid(unsafe_code)]

pub mod agent_disconnection;
pub mod agent_proxy;
pub mod agent_reregistration;
pub mod agent_validation;
pub mod agents;
pub mod allocation;
pub mod allocation_explain;
pub mod demotion;
pub mod event_stream;
pub mod files;
pub mod flags;
pub mod framework_failover;
pub mod framework_updates;
pub mod frameworks;
pub mod ha;
pub mod history;
pub mod hostname;
pub mod http;
pub mod master;
pub mod metrics;
pub mod numbers;
pub mod offers;
pub mod operations;
pub mod operator_api;
pub mod operator_endpoints;
pub mod operator_events;
pub mod reconciliation;
pub mod recovery;
pub mod relays;
pub mod resource_metrics;
pub mod resource_versions;
pub mod resources;
pub mod scheduler_http;
pub mod scheduler_v0;
pub mod state;
pub mod tasks;
pub mod teardown;
pub mod validation;
pub mod webui;
pub mod wire_fields;

pub use flags::Flags;
pub use master::{Master, MasterHandle};

/// The Mesos version this master speaks and reports.
pub const VERSION: &str = "1.11.0";

/// Why the master could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Runtime(#[from] libprocess::Error),
    #[error(transparent)]
    Ha(#[from] ha::HaError),
}

/// Starts a libprocess runtime from the flags and the master inside it.
pub fn start(flags: Flags) -> Result<MasterHandle, StartError> {
    let config = libprocess::Config {
        ip: flags.ip,
        port: flags.port,
        advertise_ip: flags.advertise_ip,
        advertise_port: flags.advertise_port,
        delegate: Some("master".into()),
        ..Default::default()
    };
    let runtime = libprocess::Runtime::start(config)?;
    runtime.set_validator(|name, body| mesos_proto::check(name, body).map_err(|e| e.to_string()));
    master::spawn(&runtime, flags)
}
