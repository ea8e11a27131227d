//! `/monitor/statistics` and `/monitor/statistics.json`: each running executor's
//! `ResourceStatistics` from the containerizer's `usage`, in Mesos's shape: a JSON array
//! of `{framework_id, executor_id, executor_name, source, statistics}`. Executors whose
//! usage cannot be collected are left out (as Mesos does).

use libprocess::http::json_reply;
use libprocess::{Ctx, Reply, Request};
use serde_json::{json, Value as Json};

use crate::slave::{ExecState, Slave};

pub(crate) fn install_routes(ctx: &mut Ctx<'_, Slave>) {
    for path in ["/monitor/statistics", "/monitor/statistics.json"] {
        ctx.route(path, |me, ctx, req| me.statistics(ctx, req));
    }
}

/// What one entry needs besides the statistics.
struct Entry {
    framework_id: String,
    executor_id: String,
    executor_name: String,
    source: String,
    container_id: String,
}

impl Slave {
    fn statistics(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) -> Reply {
        let (reply, tx) = Reply::later();
        let entries: Vec<Entry> = self
            .frameworks
            .iter()
            .flat_map(|(fw_key, fw)| {
                fw.executors
                    .values()
                    .filter(|ex| ex.os_pid.is_some() && ex.state != ExecState::Terminated)
                    .map(move |ex| Entry {
                        framework_id: fw_key.clone(),
                        executor_id: ex.info.executor_id.value.clone(),
                        executor_name: ex.info.name.clone().unwrap_or_default(),
                        // Deprecated in the proto, still reported by Mesos here.
                        #[allow(deprecated)]
                        source: ex.info.source.clone().unwrap_or_default(),
                        container_id: ex.container_id.clone(),
                    })
            })
            .collect();
        let containerizer = self.containerizer.clone();
        let collected = async move {
            let mut out = Vec::new();
            let Some(cz) = containerizer else {
                return out;
            };
            for e in entries {
                let (call, answer) = crate::containerizer::Call::usage(e.container_id.clone());
                crate::containerizer::send(&cz, call);
                match answer.await {
                    Ok(Ok(stats)) => out.push(json!({
                        "framework_id": e.framework_id,
                        "executor_id": e.executor_id,
                        "executor_name": e.executor_name,
                        "source": e.source,
                        "statistics": mesos_proto::to_json(&stats),
                    })),
                    Ok(Err(error)) => {
                        tracing::warn!(executor = %e.executor_id, %error, "no usage for executor")
                    }
                    Err(_) => {}
                }
            }
            out
        };
        ctx.then(collected, move |_me, _ctx, entries: Vec<Json>| {
            let _ = tx.send(json_reply(&req, Json::Array(entries).to_string()));
        });
        reply
    }
}
