//! The v1 operator API: `POST /api/v1` with a `mesos.v1.master.Call` (JSON or protobuf),
//! answered with a `mesos.v1.master.Response` in the encoding the client accepts.
//!
//! Read calls are answered from the `/state` snapshot on a blocking thread (a big cluster's
//! GET_STATE never delays scheduling). Responses are built in the v0 `mesos.master` types
//! the master keeps and re-encoded to v1 (`evolve`): same field numbers, so nothing is
//! copied by hand. Note that call and response type numbers differ (GET_STATE is 9 in a
//! call, 8 in a response); the generated enums carry each. Calls this master does not
//! carry out answer 501 naming the call, never 404.

use bytes::Bytes;
use libprocess::media::{self, ContentType};
use libprocess::{Ctx, Reply, Request, Response};
use mesos_proto::mesos::master::{response, Response as V0Response};
use mesos_proto::mesos::v1::master as v1;
use mesos_proto::mesos::{
    slave_info, ExecutorInfo, FrameworkId, Metric, Resource, SlaveId, TimeInfo, VersionInfo,
    WeightInfo,
};
use prost::Message as _;

use crate::master::Master;
use crate::operator_endpoints::{parse_weights, roles};
use crate::state::{AgentView, FrameworkView, Snapshot};

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    // As genuine: a master that does not lead sends operators to the leader (503 if none).
    ctx.route("/api/v1", |m, ctx, req| match m.ha.redirect(&req) {
        Some(standby) => standby,
        None => m.operator_api(ctx, req),
    });
}

/// Why a call was refused before it was carried out.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CallError {
    #[error(transparent)]
    Body(#[from] mesos_proto::call_body::CallBodyError),
    #[error("Failed to validate master::Call: Expecting '{0}' to be present")]
    Missing(&'static str),
}

/// Parses a call body in the request's encoding and checks the field its type needs.
pub fn decode_call(body: &[u8], json: bool) -> Result<v1::Call, CallError> {
    let call: v1::Call = mesos_proto::call_body::decode_call(body, json)?;
    use v1::call::Type as T;
    let missing = match call.r#type.map(|_| call.r#type()) {
        None | Some(T::Unknown) => Some("type"),
        Some(T::GetMetrics) if call.get_metrics.is_none() => Some("get_metrics"),
        Some(T::SetLoggingLevel) if call.set_logging_level.is_none() => Some("set_logging_level"),
        Some(T::Teardown) if call.teardown.is_none() => Some("teardown"),
        Some(T::ListFiles) if call.list_files.is_none() => Some("list_files"),
        Some(T::ReadFile) if call.read_file.is_none() => Some("read_file"),
        _ => None,
    };
    match missing {
        Some(field) => Err(CallError::Missing(field)),
        None => Ok(call),
    }
}

/// What the master itself contributes to answers beyond the snapshot.
pub struct Extras {
    pub metrics: Vec<(String, f64)>,
}

impl Master {
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
        use v1::call::Type as T;
        let kind = call.r#type();
        tracing::debug!(call = kind.as_str_name(), "operator API call");
        match kind {
            T::Teardown => self.operator_teardown(ctx, call),
            T::Subscribe => self.operator_subscribe(ctx, accept).into(),
            T::SetLoggingLevel => set_logging_level(ctx, call),
            T::ListFiles | T::ReadFile => {
                if let Some(why) = json.then(|| negative_range(&req.body)).flatten() {
                    return Response::bad_request(why).into();
                }
                files_call(self.attached_files(), call, accept)
            }
            T::GetHealth
            | T::GetFlags
            | T::GetVersion
            | T::GetMetrics
            | T::GetLoggingLevel
            | T::GetState
            | T::GetAgents
            | T::GetFrameworks
            | T::GetExecutors
            | T::GetTasks
            | T::GetRoles
            | T::GetWeights
            | T::GetMaster
            | T::GetMaintenanceStatus
            | T::GetMaintenanceSchedule
            | T::GetQuota => {
                let snapshot = self.snapshot();
                let extras = Extras {
                    metrics: self.metrics.metrics.snapshot().into_iter().collect(),
                };
                let (reply, tx) = Reply::later();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(match answer(kind, &snapshot, &extras) {
                        Some(r) => encode(&r, accept),
                        None => not_implemented(kind),
                    });
                });
                reply
            }
            _ => not_implemented(kind).into(),
        }
    }

    fn operator_teardown(&mut self, ctx: &mut Ctx<'_, Self>, call: v1::Call) -> Reply {
        let Some(id) = call.teardown.map(|t| t.framework_id.value) else {
            return Response::bad_request("Expecting 'teardown' to be present").into();
        };
        if self.frameworks.get(&id).is_none() {
            return Response::bad_request("No framework found with specified ID").into();
        }
        tracing::info!(framework = %id, "operator API asked to tear down the framework");
        self.remove_framework(ctx, &id, "an operator tore it down");
        Response::ok(Bytes::new()).into()
    }
}

/// SET_LOGGING_LEVEL: the verbosity for `duration`, then back to 0 (as genuine).
fn set_logging_level(ctx: &mut Ctx<'_, Master>, call: v1::Call) -> Reply {
    let Some(set) = call.set_logging_level else {
        return Response::bad_request("Expecting 'set_logging_level' to be present").into();
    };
    let Ok(nanos) = u64::try_from(set.duration.nanoseconds) else {
        return Response::bad_request("'set_logging_level.duration' must not be negative").into();
    };
    let token = libprocess::logging::set_verbosity_for_a_while(set.level);
    ctx.delay(
        std::time::Duration::from_nanos(nanos),
        "revert_logging_level",
        move |_, _| libprocess::logging::revert_after_a_while(token),
    );
    Response::ok(Bytes::new()).into()
}

/// A READ_FILE in JSON with a negative `offset` or `length`: the message refusing it
/// (the JSON mapping, as stout's, would wrap a negative into a huge unsigned number).
fn negative_range(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["offset", "length"].into_iter().find_map(|name| {
        let n = v.get("read_file")?.get(name)?.as_i64()?;
        (n < 0).then(|| format!("Negative {name} provided: {n}."))
    })
}

/// LIST_FILES and READ_FILE over the master's attached files, on a blocking thread.
fn files_call(files: crate::files::Attached, call: v1::Call, accept: ContentType) -> Reply {
    crate::files::blocking(move || {
        let mut r = V0Response::default();
        let answer = if let Some(list) = call.list_files {
            files.list(&list.path).map(|file_infos| {
                r.set_type(response::Type::ListFiles);
                r.list_files = Some(response::ListFiles { file_infos });
            })
        } else if let Some(read) = call.read_file {
            files
                .read(&read.path, read.offset, read.length)
                .map(|(size, data)| {
                    r.set_type(response::Type::ReadFile);
                    r.read_file = Some(response::ReadFile { size, data });
                })
        } else {
            return Response::bad_request("Expecting 'list_files' or 'read_file' to be present");
        };
        match answer {
            Ok(()) => encode(&r, accept),
            Err(e) => e.response(),
        }
    })
}

fn not_implemented(kind: v1::call::Type) -> Response {
    Response::new(
        501,
        format!(
            "The operator API call {} is not implemented by this master",
            kind.as_str_name()
        ),
    )
}

/// The response in the accepted encoding (v0 built, v1 sent).
fn encode(r: &V0Response, accept: ContentType) -> Response {
    let v1_response: v1::Response = match mesos_proto::evolve(r) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "operator response did not re-encode as v1");
            return Response::new(500, format!("Failed to encode the response: {e}"));
        }
    };
    let body = match accept {
        ContentType::Json => {
            let mut v = mesos_proto::to_json(&v1_response);
            write_empty_lists(&mut v);
            v.to_string().into_bytes()
        }
        ContentType::Protobuf => v1_response.encode_to_vec(),
    };
    Response::ok(body).with_header("Content-Type", accept.as_str())
}

/// Genuine writes the state calls' lists even when empty (`"tasks":[]`), where the generic
/// protobuf-to-JSON mapping leaves empty repeated fields out; tools index them directly.
pub(crate) fn write_empty_lists(v: &mut serde_json::Value) {
    const LISTS: &[(&str, &[&str])] = &[
        (
            "get_tasks",
            &["tasks", "unreachable_tasks", "completed_tasks"],
        ),
        ("get_agents", &["agents", "recovered_agents"]),
        ("get_frameworks", &["frameworks", "completed_frameworks"]),
        ("get_executors", &["executors"]),
    ];
    fn fill(parent: &mut serde_json::Value) {
        for (name, lists) in LISTS {
            if let Some(o) = parent.get_mut(*name).and_then(|c| c.as_object_mut()) {
                for l in *lists {
                    o.entry(l.to_string())
                        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                }
            }
        }
    }
    fill(v);
    if let Some(state) = v.get_mut("get_state") {
        fill(state);
    }
}

fn time(secs: f64) -> TimeInfo {
    // Float to integer `as` saturates: no overflow on any clock value.
    TimeInfo {
        nanoseconds: (secs * 1e9) as i64,
    }
}

pub(crate) fn framework(f: &FrameworkView, completed: bool) -> response::get_frameworks::Framework {
    let mut info = f.info.clone();
    info.id = Some(FrameworkId {
        value: f.id.clone(),
    });
    response::get_frameworks::Framework {
        framework_info: info,
        active: f.active,
        connected: f.connected,
        registered_time: Some(time(f.registered_time)),
        reregistered_time: Some(time(f.reregistered_time.unwrap_or(f.registered_time))),
        unregistered_time: completed.then(|| time(f.unregistered_time.unwrap_or_default())),
        offers: f.offers.clone(),
        allocated_resources: f.used.clone(),
        offered_resources: f.offered.clone(),
        recovered: f.recovered,
        offer_constraints: Some(Default::default()),
        ..Default::default()
    }
}

fn get_frameworks(s: &Snapshot) -> response::GetFrameworks {
    response::GetFrameworks {
        frameworks: s.frameworks.iter().map(|f| framework(f, false)).collect(),
        completed_frameworks: s
            .completed_frameworks
            .iter()
            .map(|f| framework(f, true))
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn agent(a: &AgentView) -> response::get_agents::Agent {
    let mut info = a.info.clone();
    info.id = Some(SlaveId {
        value: a.id.clone(),
    });
    response::get_agents::Agent {
        agent_info: info,
        active: a.active,
        deactivated: Some(!a.active),
        version: a.version.clone(),
        pid: Some(a.pid.clone()),
        registered_time: Some(time(a.registered_time)),
        reregistered_time: a.reregistered_time.map(time),
        total_resources: a.info.resources.clone(),
        allocated_resources: a.used.clone(),
        offered_resources: a.offered.clone(),
        capabilities: a
            .capabilities
            .iter()
            .filter_map(|c| slave_info::capability::Type::from_str_name(c))
            .map(|t| slave_info::Capability {
                r#type: Some(t as i32),
            })
            .collect(),
        ..Default::default()
    }
}

fn get_agents(s: &Snapshot) -> response::GetAgents {
    response::GetAgents {
        agents: s.agents.iter().map(agent).collect(),
        recovered_agents: s.recovered_agents.clone(),
    }
}

fn get_executors(s: &Snapshot) -> response::GetExecutors {
    let executors = s
        .frameworks
        .iter()
        .flat_map(|f| {
            f.executors.iter().map(|(agent, e)| {
                let mut info: ExecutorInfo = e.clone();
                info.framework_id = Some(FrameworkId {
                    value: f.id.clone(),
                });
                response::get_executors::Executor {
                    executor_info: info,
                    slave_id: SlaveId {
                        value: agent.clone(),
                    },
                }
            })
        })
        .collect();
    response::GetExecutors {
        executors,
        ..Default::default()
    }
}

fn get_tasks(s: &Snapshot) -> response::GetTasks {
    let mut t = response::GetTasks::default();
    for f in &s.frameworks {
        t.tasks.extend(f.tasks.iter().cloned());
        t.unreachable_tasks
            .extend(f.unreachable_tasks.iter().cloned());
        t.completed_tasks.extend(f.completed_tasks.iter().cloned());
    }
    for f in &s.completed_frameworks {
        t.completed_tasks
            .extend(f.tasks.iter().chain(&f.completed_tasks).cloned());
    }
    t
}

/// The whole state, as GET_STATE and the SUBSCRIBED event carry it.
pub(crate) fn get_state(s: &Snapshot) -> response::GetState {
    response::GetState {
        get_tasks: Some(get_tasks(s)),
        get_executors: Some(get_executors(s)),
        get_frameworks: Some(get_frameworks(s)),
        get_agents: Some(get_agents(s)),
    }
}

fn weights(s: &Snapshot) -> Vec<WeightInfo> {
    let flag = s
        .flags
        .iter()
        .find(|(k, _)| k == "weights")
        .map(|(_, v)| v.as_str());
    parse_weights(flag)
        .into_iter()
        .map(|(role, weight)| WeightInfo {
            weight,
            role: Some(role),
        })
        .collect()
}

/// The answer to a read call, or `None` for a call that is not a read call.
pub fn answer(kind: v1::call::Type, s: &Snapshot, extras: &Extras) -> Option<V0Response> {
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
                flags: s
                    .flags
                    .iter()
                    .map(|(name, value)| mesos_proto::mesos::Flag {
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
                    version: crate::VERSION.into(),
                    build_date: Some(String::new()),
                    build_time: Some(0.0),
                    build_user: Some(String::new()),
                    ..Default::default()
                },
            });
            R::GetVersion
        }
        T::GetMetrics => {
            r.get_metrics = Some(response::GetMetrics {
                metrics: extras
                    .metrics
                    .iter()
                    .map(|(name, value)| Metric {
                        name: name.clone(),
                        value: Some(*value),
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
            r.get_state = Some(get_state(s));
            R::GetState
        }
        T::GetAgents => {
            r.get_agents = Some(get_agents(s));
            R::GetAgents
        }
        T::GetFrameworks => {
            r.get_frameworks = Some(get_frameworks(s));
            R::GetFrameworks
        }
        T::GetExecutors => {
            r.get_executors = Some(get_executors(s));
            R::GetExecutors
        }
        T::GetTasks => {
            r.get_tasks = Some(get_tasks(s));
            R::GetTasks
        }
        T::GetRoles => {
            r.get_roles = Some(response::GetRoles {
                roles: roles(s)
                    .into_iter()
                    .map(|role| mesos_proto::mesos::Role {
                        name: role.name,
                        weight: role.weight,
                        frameworks: role
                            .frameworks
                            .into_iter()
                            .map(|value| FrameworkId { value })
                            .collect(),
                        resources: role.allocated.into_iter().collect::<Vec<Resource>>(),
                    })
                    .collect(),
            });
            R::GetRoles
        }
        T::GetWeights => {
            // As genuine: no weights configured, no `get_weights` at all.
            let weight_infos = weights(s);
            r.get_weights =
                (!weight_infos.is_empty()).then_some(response::GetWeights { weight_infos });
            R::GetWeights
        }
        T::GetMaster => {
            r.get_master = Some(response::GetMaster {
                master_info: Some(s.info.clone()),
                start_time: Some(s.start_time),
                elected_time: Some(s.start_time),
            });
            R::GetMaster
        }
        T::GetMaintenanceStatus => {
            r.get_maintenance_status = Some(response::GetMaintenanceStatus {
                status: Default::default(),
            });
            R::GetMaintenanceStatus
        }
        T::GetMaintenanceSchedule => {
            r.get_maintenance_schedule = Some(response::GetMaintenanceSchedule {
                schedule: Default::default(),
            });
            R::GetMaintenanceSchedule
        }
        T::GetQuota => {
            r.get_quota = Some(response::GetQuota {
                status: Default::default(),
            });
            R::GetQuota
        }
        _ => return None,
    };
    r.r#type = Some(t as i32);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_missing_their_type_or_payload_are_refused_with_genuine_messages() {
        assert_eq!(
            decode_call(br#"{"type":"GET_METRICS"}"#, true),
            Err(CallError::Missing("get_metrics"))
        );
        assert_eq!(decode_call(b"{}", true), Err(CallError::Missing("type")));
        assert!(matches!(
            decode_call(b"{bad", true),
            Err(CallError::Body(
                mesos_proto::call_body::CallBodyError::Json(_)
            ))
        ));
        assert_eq!(
            decode_call(br#"{"type":"NO_SUCH_CALL"}"#, true),
            Err(CallError::Missing("type")),
            "an unknown type name reads as no type, as genuine answers"
        );
        assert!(matches!(
            decode_call(br#"{"type":"GET_HEALTH","get_metrics":7}"#, true),
            Err(CallError::Body(
                mesos_proto::call_body::CallBodyError::JsonCall(_)
            ))
        ));
        assert!(matches!(
            decode_call(b"\xff\xff\xff", false),
            Err(CallError::Body(
                mesos_proto::call_body::CallBodyError::Protobuf(_)
            ))
        ));
        let ok = decode_call(br#"{"type":"GET_METRICS","get_metrics":{}}"#, true).unwrap();
        assert_eq!(ok.r#type(), v1::call::Type::GetMetrics);
    }

    #[test]
    fn call_and_response_type_numbers_differ_as_in_mesos() {
        assert_eq!(v1::call::Type::GetState as i32, 9);
        assert_eq!(v1::response::Type::GetState as i32, 8);
        assert_eq!(response::Type::GetQuota as i32, 18);
        assert_eq!(mesos_proto::mesos::master::call::Type::GetQuota as i32, 28);
    }
}
