//! The v1 HTTP executor API, `POST /slave(1)/api/v1/executor` (and `/api/v1/executor`
//! through the delegate): SUBSCRIBE opens a RecordIO event stream (SUBSCRIBED, then LAUNCH
//! per task, LAUNCH_GROUP per task group), UPDATE and MESSAGE get 202 and an ACKNOWLEDGED
//! event for accepted updates. A re-SUBSCRIBE's unacknowledged updates are taken again
//! (duplicates are recognised) and acknowledged on the new stream.

use bytes::Bytes;
use libprocess::media::{self, ContentType};
use libprocess::{recordio, Ctx, Reply, Request, Response};
use mesos_proto::mesos::internal::{ExecutorToFrameworkMessage, KillTaskMessage, StatusUpdate};
use mesos_proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_proto::mesos::{self as v0, v1, TaskGroupInfo, TaskInfo};
use prost::Message;

use crate::slave::{EventStream, ExecState, Slave};

pub(crate) fn install_routes(ctx: &mut Ctx<'_, Slave>) {
    ctx.route("/api/v1/executor", |me, ctx, req| {
        me.executor_call(ctx, req)
    });
}

/// v0 → v1 for the agent's own, well-formed records (twins cannot fail to convert; if a
/// schema ever diverged, the field is logged and left empty rather than taking the agent down).
fn convert<A: Message + prost::Name, B: Message + prost::Name + Default>(a: &A) -> B {
    mesos_proto::evolve(a).unwrap_or_else(|e| {
        tracing::error!(error = %e, "v0 to v1 conversion failed");
        B::default()
    })
}

fn encode_event(stream: &EventStream, event: &Event) -> Bytes {
    if stream.json {
        recordio::encode(mesos_proto::to_json(event).to_string().as_bytes())
    } else {
        recordio::encode(&event.encode_to_vec())
    }
}

fn push(stream: &EventStream, event: Event) {
    if stream.tx.send(encode_event(stream, &event)).is_err() {
        tracing::debug!("executor event stream closed");
    }
}

pub(crate) fn send_launch(stream: &EventStream, task: &TaskInfo) {
    push(
        stream,
        Event {
            r#type: Some(event::Type::Launch as i32),
            launch: Some(event::Launch {
                task: convert(task),
            }),
            ..Default::default()
        },
    );
}

pub(crate) fn send_launch_group(stream: &EventStream, group: &TaskGroupInfo) {
    push(
        stream,
        Event {
            r#type: Some(event::Type::LaunchGroup as i32),
            launch_group: Some(event::LaunchGroup {
                task_group: convert(group),
            }),
            ..Default::default()
        },
    );
}

pub(crate) fn send_kill(stream: &EventStream, kill: &KillTaskMessage) {
    push(
        stream,
        Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(event::Kill {
                task_id: convert(&kill.task_id),
                kill_policy: kill.kill_policy.as_ref().map(convert),
            }),
            ..Default::default()
        },
    );
}

pub(crate) fn send_shutdown(stream: &EventStream) {
    push(
        stream,
        Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Default::default()
        },
    );
}

pub(crate) fn send_message(stream: &EventStream, data: &[u8]) {
    push(
        stream,
        Event {
            r#type: Some(event::Type::Message as i32),
            message: Some(event::Message {
                data: data.to_vec(),
            }),
            ..Default::default()
        },
    );
}

/// Parses a Call body by content type.
pub fn decode_call(content_type: Option<&str>, body: &[u8]) -> Result<(Call, bool), Response> {
    match media::content_type(content_type).map_err(|e| e.response())? {
        ContentType::Json => {
            let text = std::str::from_utf8(body)
                .map_err(|_| Response::bad_request("Request body is not UTF-8"))?;
            mesos_proto::from_json_str::<Call>(text)
                .map(|c| (c, true))
                .map_err(|e| {
                    Response::bad_request(format!("Failed to convert JSON into Call protobuf: {e}"))
                })
        }
        ContentType::Protobuf => {
            mesos_proto::check(&Call::full_name_static(), body).map_err(|e| {
                Response::bad_request(format!("Failed to parse body into Call protobuf: {e}"))
            })?;
            Call::decode(body).map(|c| (c, false)).map_err(|e| {
                Response::bad_request(format!("Failed to parse body into Call protobuf: {e}"))
            })
        }
    }
}

trait FullName {
    fn full_name_static() -> String;
}
impl FullName for Call {
    fn full_name_static() -> String {
        <Call as prost::Name>::full_name()
    }
}

impl Slave {
    /// Takes an executor's UPDATE through the status update manager; acknowledges it on the
    /// executor's stream once accepted.
    fn v1_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        update: call::Update,
    ) -> Result<(), Response> {
        let status: v0::TaskStatus = mesos_proto::devolve(&update.status)
            .map_err(|e| Response::bad_request(format!("Invalid 'status': {e}")))?;
        let Some(uuid) = status.uuid.clone().filter(|u| !u.is_empty()) else {
            return Err(Response::bad_request("Expecting 'uuid' to be present"));
        };
        let now = ctx.clock().now_secs();
        let su = StatusUpdate {
            framework_id: v0::FrameworkId {
                value: fw_key.to_string(),
            },
            executor_id: Some(v0::ExecutorId {
                value: ex_key.to_string(),
            }),
            slave_id: self.id.clone(),
            timestamp: status.timestamp.unwrap_or(now),
            uuid: Some(uuid.clone()),
            status,
            latest_state: None,
        };
        let task_id: v1::TaskId = convert(&su.status.task_id);
        if self.executor_update(ctx, su, None) {
            if let Some(stream) = self
                .frameworks
                .get(fw_key)
                .and_then(|f| f.executors.get(ex_key))
                .and_then(|e| e.stream.as_ref())
            {
                push(
                    stream,
                    Event {
                        r#type: Some(event::Type::Acknowledged as i32),
                        acknowledged: Some(event::Acknowledged { task_id, uuid }),
                        ..Default::default()
                    },
                );
            }
        }
        Ok(())
    }

    fn executor_call(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) -> Reply {
        if req.method != "POST" {
            return Response::method_not_allowed("POST").into();
        }
        let (call, _) = match decode_call(req.header("content-type"), &req.body) {
            Ok(c) => c,
            Err(r) => return r.into(),
        };
        let fw_key = call.framework_id.value.clone();
        let ex_key = call.executor_id.value.clone();
        let known = self
            .frameworks
            .get(&fw_key)
            .and_then(|f| f.executors.get(&ex_key))
            .map(|e| e.state);
        match known {
            None => {
                return Response::bad_request(format!(
                    "Executor '{ex_key}' of framework '{fw_key}' is not known to this agent"
                ))
                .into()
            }
            Some(ExecState::Terminated) => {
                return Response::new(403, "Executor is terminated").into()
            }
            Some(_) => {}
        }
        match call.r#type() {
            call::Type::Subscribe => {
                let accept = match media::negotiate(req.header("accept")) {
                    Ok(t) => t,
                    Err(e) => return e.response().into(),
                };
                let json = accept == ContentType::Json;
                let (resp, tx) = Response::stream(200);
                let resp = resp.with_header("Content-Type", accept.as_str());
                let stream = EventStream { tx, json };
                let agent_info: v1::AgentInfo = convert(&self.slave_info(ctx));
                let (Some(fw), Some(ex)) = (
                    self.frameworks.get(&fw_key),
                    self.frameworks
                        .get(&fw_key)
                        .and_then(|f| f.executors.get(&ex_key)),
                ) else {
                    return Response::not_found().into();
                };
                push(
                    &stream,
                    Event {
                        r#type: Some(event::Type::Subscribed as i32),
                        subscribed: Some(event::Subscribed {
                            executor_info: convert(&ex.info),
                            framework_info: convert(&fw.info),
                            agent_info,
                            container_id: Some(v1::ContainerId {
                                value: ex.container_id.clone(),
                                parent: None,
                            }),
                        }),
                        ..Default::default()
                    },
                );
                tracing::info!(executor = %ex_key, "HTTP executor subscribed");
                self.executor_subscribed(ctx, &fw_key, &ex_key, stream);
                let pending = call
                    .subscribe
                    .map(|s| s.unacknowledged_updates)
                    .unwrap_or_default();
                for update in pending {
                    if let Err(r) = self.v1_update(ctx, &fw_key, &ex_key, update) {
                        tracing::warn!(executor = %ex_key, status = r.status, "unacknowledged update from SUBSCRIBE refused");
                    }
                }
                resp.into()
            }
            call::Type::Update => {
                let Some(update) = call.update else {
                    return Response::bad_request("Expecting 'update' to be present").into();
                };
                if let Err(r) = self.v1_update(ctx, &fw_key, &ex_key, update) {
                    return r.into();
                }
                Response::accepted().into()
            }
            call::Type::Message => {
                let Some(m) = call.message else {
                    return Response::bad_request("Expecting 'message' to be present").into();
                };
                let msg = ExecutorToFrameworkMessage {
                    slave_id: self.id.clone().unwrap_or_default(),
                    framework_id: v0::FrameworkId { value: fw_key },
                    executor_id: v0::ExecutorId { value: ex_key },
                    data: m.data,
                };
                let me = ctx.pid().clone();
                self.executor_message(ctx, me, msg);
                Response::accepted().into()
            }
            call::Type::Heartbeat => Response::accepted().into(),
            call::Type::Unknown => Response::bad_request("Expecting 'type' to be present").into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_need_a_known_content_type() {
        assert_eq!(decode_call(None, b"{}").unwrap_err().status, 400);
        assert_eq!(
            decode_call(Some("text/plain"), b"{}").unwrap_err().status,
            415
        );
        let body = br#"{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{}}"#;
        let (call, json) = decode_call(Some("application/json"), body).unwrap();
        assert!(json);
        assert_eq!(call.r#type(), call::Type::Subscribe);
        assert_eq!(call.executor_id.value, "e");
    }
}
