//! The agent's operator endpoints besides `/state` and `/files`: `/flags`, `/version`, the
//! `.json` aliases older tools request (`/state.json`, `/files/browse.json`, ...), and the
//! v1 operator API `POST /api/v1` (JSON or protobuf, Mesos's call and response type names).
//! Calls the agent does not carry out answer 501 naming the call.

use libprocess::http::json_reply;
use libprocess::media::{self, ContentType};
use libprocess::{Ctx, Process, Reply, Request, Response};
use mesos_proto::mesos::agent::{response, Response as V0Response};
use mesos_proto::mesos::v1::agent as v1;
use mesos_proto::mesos::{Flag, Metric, Task, VersionInfo};
use prost::Message as _;
use serde_json::json;

use crate::slave::{Framework, Slave, VERSION};

pub(crate) fn install_routes(ctx: &mut Ctx<'_, Slave>) {
    ctx.route("/flags", |me, _, req| me.flags_reply(&req).into());
    ctx.route("/flags.json", |me, _, req| me.flags_reply(&req).into());
    ctx.route("/state.json", |me, ctx, req| {
        json_reply(&req, me.state_json(ctx).to_string()).into()
    });
    ctx.route("/files/browse.json", |me, _, req| {
        crate::browse::browse(me.config.work_dir.clone(), req)
    });
    ctx.route("/files/read.json", |me, _, req| {
        crate::files::read(me.config.work_dir.clone(), req)
    });
    ctx.route("/files/download.json", |me, _, req| {
        crate::files::download(me.config.work_dir.clone(), req)
    });
    for path in ["/files/debug", "/files/debug.json"] {
        ctx.route(path, |me, _, req| {
            json_reply(&req, me.sandboxes().debug_json().to_string()).into()
        });
    }
    ctx.route("/api/v1", |me, ctx, req| me.operator_api(ctx, req));
    crate::metrics::install(ctx);
    let rt = ctx.runtime();
    if !rt.exists("version") {
        if let Err(e) = rt.spawn("version", VersionProcess) {
            tracing::warn!(error = %e, "cannot serve /version");
        }
    }
}

/// Serves `/version` like Mesos's `version` process.
struct VersionProcess;

impl Process for VersionProcess {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.route("/", |_, _, req| {
            let body = json!({
                "version": VERSION,
                "build_date": "",
                "build_time": 0.0,
                "build_user": "",
            });
            json_reply(&req, body.to_string()).into()
        });
    }
}

/// Why an operator call was refused before it was carried out.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CallError {
    #[error(transparent)]
    Body(#[from] mesos_proto::call_body::CallBodyError),
    #[error("Failed to validate agent::Call: Expecting '{0}' to be present")]
    Missing(&'static str),
}

/// Parses a call in the request's encoding and checks the field its type needs.
pub fn decode_call(body: &[u8], json: bool) -> Result<v1::Call, CallError> {
    let call: v1::Call = mesos_proto::call_body::decode_call(body, json)?;
    use v1::call::Type as T;
    match call.r#type.map(|_| call.r#type()) {
        None | Some(T::Unknown) => Err(CallError::Missing("type")),
        Some(T::GetMetrics) if call.get_metrics.is_none() => Err(CallError::Missing("get_metrics")),
        Some(T::SetLoggingLevel) if call.set_logging_level.is_none() => {
            Err(CallError::Missing("set_logging_level"))
        }
        Some(T::ListFiles) if call.list_files.is_none() => Err(CallError::Missing("list_files")),
        Some(T::ReadFile) if call.read_file.is_none() => Err(CallError::Missing("read_file")),
        _ => Ok(call),
    }
}

fn is_terminal(t: &Task) -> bool {
    mesos_proto::task_state::is_terminal_value(t.state)
}

impl Slave {
    fn flags_reply(&self, req: &Request) -> Response {
        let flags: serde_json::Map<String, serde_json::Value> = self
            .config
            .flags
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json_reply(req, json!({ "flags": flags }).to_string())
    }

    fn operator_api(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) -> Reply {
        if req.method != "POST" {
            return Response::method_not_allowed("POST").into();
        }
        let json = match media::content_type(req.header("Content-Type")) {
            Ok(t) => t == ContentType::Json,
            Err(e) => return e.response().into(),
        };
        let accept = match media::negotiate(req.header("Accept")) {
            Ok(a) => a,
            Err(e) => return e.response().into(),
        };
        let call = match decode_call(&req.body, json) {
            Ok(c) => c,
            Err(e) => return Response::bad_request(e.to_string()).into(),
        };
        let kind = call.r#type();
        tracing::debug!(call = kind.as_str_name(), "operator API call");
        use v1::call::Type as T;
        match kind {
            T::ListFiles => return self.list_files_call(call, accept),
            T::ReadFile => {
                if let Some(why) = json
                    .then(|| crate::operator_calls::negative_range(&req.body))
                    .flatten()
                {
                    return Response::bad_request(why).into();
                }
                return self.read_file_call(call, accept);
            }
            T::GetContainers => return self.get_containers_call(ctx, accept),
            T::SetLoggingLevel => return crate::operator_calls::set_logging_level(ctx, call),
            _ => {}
        }
        match self.answer(ctx, kind) {
            Some(r) => encode(&r, accept).into(),
            None => Response::new(
                501,
                format!(
                    "The operator API call {} is not implemented by this agent",
                    kind.as_str_name()
                ),
            )
            .into(),
        }
    }

    /// The answer to a read call, or `None` for calls this agent does not carry out.
    fn answer(&self, ctx: &Ctx<'_, Self>, kind: v1::call::Type) -> Option<V0Response> {
        use response::Type as R;
        use v1::call::Type as T;
        let mut r = V0Response::default();
        let t = match kind {
            T::GetHealth => {
                r.get_health = Some(response::GetHealth { healthy: true });
                R::GetHealth
            }
            T::GetFlags => {
                r.get_flags = Some(response::GetFlags {
                    flags: self
                        .config
                        .flags
                        .iter()
                        .map(|(name, value)| Flag {
                            name: name.clone(),
                            value: Some(value.clone()),
                        })
                        .collect(),
                });
                R::GetFlags
            }
            T::GetVersion => {
                r.get_version = Some(response::GetVersion {
                    version_info: VersionInfo {
                        version: VERSION.into(),
                        build_date: Some(String::new()),
                        build_time: Some(0.0),
                        build_user: Some(String::new()),
                        ..Default::default()
                    },
                });
                R::GetVersion
            }
            T::GetMetrics => {
                self.publish_gauges(ctx);
                r.get_metrics = Some(response::GetMetrics {
                    metrics: ctx
                        .metrics()
                        .snapshot()
                        .into_iter()
                        .map(|(name, value)| Metric {
                            name,
                            value: Some(value),
                        })
                        .collect(),
                });
                R::GetMetrics
            }
            T::GetLoggingLevel => {
                r.get_logging_level = Some(response::GetLoggingLevel {
                    level: libprocess::logging::verbosity(),
                });
                R::GetLoggingLevel
            }
            T::GetState => {
                r.get_state = Some(response::GetState {
                    get_tasks: Some(self.get_tasks()),
                    get_executors: Some(self.get_executors()),
                    get_frameworks: Some(self.get_frameworks()),
                });
                R::GetState
            }
            T::GetFrameworks => {
                r.get_frameworks = Some(self.get_frameworks());
                R::GetFrameworks
            }
            T::GetExecutors => {
                r.get_executors = Some(self.get_executors());
                R::GetExecutors
            }
            T::GetTasks => {
                r.get_tasks = Some(self.get_tasks());
                R::GetTasks
            }
            T::GetAgent => {
                r.get_agent = Some(response::GetAgent {
                    slave_info: Some(self.slave_info(ctx)),
                    ..Default::default()
                });
                R::GetAgent
            }
            _ => return None,
        };
        r.r#type = Some(t as i32);
        Some(r)
    }

    fn get_frameworks(&self) -> response::GetFrameworks {
        let of = |f: &Framework| response::get_frameworks::Framework {
            framework_info: f.info.clone(),
        };
        response::GetFrameworks {
            frameworks: self.frameworks.values().map(of).collect(),
            completed_frameworks: self.completed_frameworks.iter().map(of).collect(),
        }
    }

    fn get_executors(&self) -> response::GetExecutors {
        let mut e = response::GetExecutors::default();
        for f in self.frameworks.values().chain(&self.completed_frameworks) {
            for ex in f.executors.values() {
                e.executors.push(response::get_executors::Executor {
                    executor_info: ex.info.clone(),
                });
            }
            for ex in &f.completed_executors {
                e.completed_executors
                    .push(response::get_executors::Executor {
                        executor_info: ex.info.clone(),
                    });
            }
        }
        e
    }

    fn get_tasks(&self) -> response::GetTasks {
        let mut t = response::GetTasks::default();
        for f in self.frameworks.values().chain(&self.completed_frameworks) {
            for ex in f.executors.values() {
                for task in ex.tasks.values() {
                    if is_terminal(task) {
                        t.terminated_tasks.push(task.clone());
                    } else {
                        t.launched_tasks.push(task.clone());
                    }
                }
                t.completed_tasks.extend(ex.completed_tasks.iter().cloned());
            }
            for ex in &f.completed_executors {
                t.completed_tasks
                    .extend(ex.tasks.values().chain(&ex.completed_tasks).cloned());
            }
        }
        t
    }
}

/// The response in the accepted encoding (v0 built, v1 sent).
pub(crate) fn encode(r: &V0Response, accept: ContentType) -> Response {
    let v1_response: v1::Response = match mesos_proto::evolve(r) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "operator response did not re-encode as v1");
            return Response::new(500, format!("Failed to encode the response: {e}"));
        }
    };
    let body = match accept {
        ContentType::Json => mesos_proto::to_json(&v1_response).to_string().into_bytes(),
        ContentType::Protobuf => v1_response.encode_to_vec(),
    };
    Response::ok(body).with_header("Content-Type", accept.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_calls_missing_their_type_or_payload_are_refused() {
        assert_eq!(decode_call(b"{}", true), Err(CallError::Missing("type")));
        assert_eq!(
            decode_call(br#"{"type":"GET_METRICS"}"#, true),
            Err(CallError::Missing("get_metrics"))
        );
        assert!(matches!(
            decode_call(b"[", true),
            Err(CallError::Body(
                mesos_proto::call_body::CallBodyError::Json(_)
            ))
        ));
        assert_eq!(
            decode_call(br#"{"type":"GET_AGENT"}"#, true).map(|c| c.r#type()),
            Ok(v1::call::Type::GetAgent)
        );
        assert_eq!(v1::call::Type::GetAgent as i32, 20);
        assert_eq!(v1::response::Type::GetAgent as i32, 14);
    }
}
