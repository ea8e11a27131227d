//! The agent's read-only HTTP endpoints: `/state` in Mesos's JSON shape, `/health`, and
//! `/files/{browse,read,download}` confined to the work directory.

use libprocess::http::json_reply;
use libprocess::{Ctx, Response};
use mesos_proto::mesos::{Task, TaskState};
use serde_json::{json, Map, Value as Json};

use crate::resources::{attributes_json, to_json_map};
use crate::slave::{Executor, Framework, Slave, VERSION};

pub(crate) fn install_routes(ctx: &mut Ctx<'_, Slave>) {
    ctx.route("/state", |me, ctx, req| {
        json_reply(&req, me.state_json(ctx).to_string()).into()
    });
    ctx.route("/health", |_, _, _| Response::ok("").into());
    crate::monitor::install_routes(ctx);
    ctx.route("/files/browse", |me, _, req| {
        crate::browse::browse(me.config.work_dir.clone(), req)
    });
    ctx.route("/files/read", |me, _, req| {
        crate::files::read(me.config.work_dir.clone(), req)
    });
    ctx.route("/files/download", |me, _, req| {
        crate::files::download(me.config.work_dir.clone(), req)
    });
}

fn task_json(t: &Task) -> Json {
    let statuses: Vec<Json> = t
        .statuses
        .iter()
        .map(|s| json!({"state": s.state().as_str_name(), "timestamp": s.timestamp.unwrap_or(0.0)}))
        .collect();
    json!({
        "id": t.task_id.value,
        "name": t.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": t.slave_id.value,
        "state": TaskState::try_from(t.state).map(|s| s.as_str_name()).unwrap_or("TASK_STAGING"),
        "resources": to_json_map(&t.resources),
        "statuses": statuses,
    })
}

impl Slave {
    fn executor_json(&self, fw: &Framework, ex: &Executor) -> Json {
        let queued: Vec<Json> = ex.queued.iter().map(|t| json!({"id": t.task_id.value, "name": t.name, "resources": to_json_map(&t.resources)})).collect();
        json!({
            "id": ex.info.executor_id.value,
            "name": ex.info.name.clone().unwrap_or_default(),
            "source": "",
            "container": ex.container_id,
            "directory": ex.directory.display().to_string(),
            "resources": to_json_map(&ex.info.resources),
            "type": if ex.command_executor { "COMMAND" } else { "DEFAULT" },
            "framework_id": fw.info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
            "tasks": ex.tasks.values().map(task_json).collect::<Vec<_>>(),
            "queued_tasks": queued,
            "completed_tasks": ex.completed_tasks.iter().map(task_json).collect::<Vec<_>>(),
        })
    }

    fn framework_json(&self, fw: &Framework) -> Json {
        json!({
            "id": fw.info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
            "name": fw.info.name,
            "user": fw.info.user,
            "failover_timeout": fw.info.failover_timeout.unwrap_or(0.0),
            "checkpoint": fw.info.checkpoint.unwrap_or(false),
            "hostname": fw.info.hostname.clone().unwrap_or_default(),
            "role": fw.info.roles.first().cloned().unwrap_or_else(|| "*".into()),
            "executors": fw.executors.values().map(|e| self.executor_json(fw, e)).collect::<Vec<_>>(),
            "completed_executors": fw.completed_executors.iter().map(|e| self.executor_json(fw, e)).collect::<Vec<_>>(),
        })
    }

    /// `/state`.
    pub(crate) fn state_json(&self, ctx: &Ctx<'_, Self>) -> Json {
        let mut flags = Map::new();
        for (k, v) in &self.config.flags {
            flags.insert(k.clone(), Json::from(v.clone()));
        }
        let master = &self.config.master;
        json!({
            "version": VERSION,
            "build_date": "",
            "build_time": 0,
            "build_user": "",
            "start_time": self.start_time,
            "id": self.agent_id().unwrap_or(""),
            "pid": ctx.pid().to_string(),
            "hostname": self.config.hostname,
            "capabilities": crate::slave::AGENT_CAPABILITIES.iter().map(|c| c.as_str_name()).collect::<Vec<_>>(),
            "resources": to_json_map(&self.config.resources),
            "reserved_resources": {},
            "unreserved_resources": to_json_map(&self.config.resources),
            "reserved_resources_full": {},
            "unreserved_resources_full": self.config.resources.iter().map(mesos_proto::to_json).collect::<Vec<_>>(),
            "reserved_resources_allocated": {},
            "unreserved_resources_allocated": {},
            "resource_providers": [],
            "attributes": attributes_json(&self.config.attributes),
            "master_hostname": master.address().ip().to_string(),
            "flags": flags,
            "frameworks": self.frameworks.values().map(|f| self.framework_json(f)).collect::<Vec<_>>(),
            "completed_frameworks": self.completed_frameworks.iter().map(|f| self.framework_json(f)).collect::<Vec<_>>(),
        })
    }
}
