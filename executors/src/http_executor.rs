//! The v1 HTTP executor library: what an executor needs to talk to its agent over
//! `POST /<agent id>/api/v1/executor` (the path built from `MESOS_SLAVE_PID`, the address
//! from `MESOS_AGENT_ENDPOINT`).
//!
//! SUBSCRIBE opens a chunked RecordIO stream of `mesos.v1.executor.Event`s; every other call
//! goes on its own short connection and must be answered 202. Status updates get a random
//! 16-byte uuid and are kept until the agent's ACKNOWLEDGED event names them; a
//! re-SUBSCRIBE carries every update and task still unacknowledged, so the agent can resend
//! them (the executor side of Mesos's at-least-once update delivery).
//!
//! [`Client`] holds that bookkeeping and is pure apart from [`Client::send`] and
//! [`Client::subscribe`], so the event handling is testable without sockets.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos_proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_proto::mesos::v1::{task_status, ExecutorId, FrameworkId, TaskId, TaskInfo, TaskStatus};
use prost::Message;

use crate::env::ExecutorEnv;
use libprocess::http_client::{HttpConn, HttpError};
use libprocess::media::APPLICATION_PROTOBUF as PROTOBUF;
use libprocess::recordio::{self, RecordIoError};

/// Why a call to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("MESOS_AGENT_ENDPOINT is not set: the agent does not offer the v1 executor API")]
    NoEndpoint,
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the agent answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("undecodable event: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error(transparent)]
    RecordIo(#[from] RecordIoError),
}

/// Where the agent's executor API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// `/<agent process id>/api/v1/executor`.
    pub path: String,
}

impl Endpoint {
    pub fn from_env(env: &ExecutorEnv) -> Result<Endpoint, ClientError> {
        let addr = env.agent_endpoint.ok_or(ClientError::NoEndpoint)?;
        Ok(Endpoint {
            addr,
            path: format!("/{}/api/v1/executor", env.slave_pid.id),
        })
    }
}

/// What an event means for the executor once the library has done its part.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Subscribed(Box<event::Subscribed>),
    Launch(Box<TaskInfo>),
    LaunchGroup(Vec<TaskInfo>),
    Kill {
        task_id: TaskId,
        grace: Option<Duration>,
    },
    Shutdown,
    Message(Vec<u8>),
    Error(String),
    /// An update was acknowledged (already forgotten by the library).
    Acknowledged {
        task_id: TaskId,
        uuid: Vec<u8>,
    },
    Heartbeat,
    /// An event this library does not know.
    Unknown,
}

/// The executor side of the v1 executor API.
pub struct Client {
    endpoint: Endpoint,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    /// Sent but not yet acknowledged, in the order they were sent.
    unacked_updates: Vec<call::Update>,
    /// Launched tasks for which no update was acknowledged yet.
    unacked_tasks: Vec<TaskInfo>,
}

impl Client {
    pub fn new(endpoint: Endpoint, framework_id: &str, executor_id: &str) -> Client {
        Client {
            endpoint,
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            executor_id: ExecutorId {
                value: executor_id.to_string(),
            },
            unacked_updates: Vec::new(),
            unacked_tasks: Vec::new(),
        }
    }

    pub fn from_env(env: &ExecutorEnv) -> Result<Client, ClientError> {
        Ok(Client::new(
            Endpoint::from_env(env)?,
            &env.framework_id,
            &env.executor_id,
        ))
    }

    pub fn executor_id(&self) -> &ExecutorId {
        &self.executor_id
    }

    fn call(&self, r#type: call::Type) -> Call {
        Call {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            r#type: Some(r#type as i32),
            ..Default::default()
        }
    }

    /// SUBSCRIBE, carrying whatever is still unacknowledged.
    pub fn subscribe_call(&self) -> Call {
        let mut c = self.call(call::Type::Subscribe);
        c.subscribe = Some(call::Subscribe {
            unacknowledged_tasks: self.unacked_tasks.clone(),
            unacknowledged_updates: self.unacked_updates.clone(),
        });
        c
    }

    /// An UPDATE for `status`, stamped (uuid, source EXECUTOR, executor id, timestamp) and
    /// remembered until acknowledged.
    pub fn update_call(&mut self, mut status: TaskStatus) -> Call {
        status.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
        status.set_source(task_status::Source::Executor);
        status.executor_id = Some(self.executor_id.clone());
        if status.timestamp.is_none() {
            status.timestamp = Some(now_secs());
        }
        let update = call::Update { status };
        self.unacked_updates.push(update.clone());
        let mut c = self.call(call::Type::Update);
        c.update = Some(update);
        c
    }

    /// A MESSAGE for the framework.
    pub fn message_call(&self, data: Vec<u8>) -> Call {
        let mut c = self.call(call::Type::Message);
        c.message = Some(call::Message { data });
        c
    }

    /// Updates sent and not yet acknowledged.
    pub fn unacknowledged_updates(&self) -> &[call::Update] {
        &self.unacked_updates
    }

    /// Whether every update sent so far was acknowledged.
    pub fn all_acknowledged(&self) -> bool {
        self.unacked_updates.is_empty()
    }

    /// Does the library's part of an event (acknowledgements, task bookkeeping) and says what
    /// it means for the executor.
    pub fn handle(&mut self, event: Event) -> Incoming {
        match event.r#type() {
            event::Type::Subscribed => match event.subscribed {
                Some(s) => Incoming::Subscribed(Box::new(s)),
                None => Incoming::Error("SUBSCRIBED event without 'subscribed'".into()),
            },
            event::Type::Launch => match event.launch {
                Some(l) => {
                    self.unacked_tasks.push(l.task.clone());
                    Incoming::Launch(Box::new(l.task))
                }
                None => Incoming::Error("LAUNCH event without 'launch'".into()),
            },
            event::Type::LaunchGroup => match event.launch_group {
                Some(g) => {
                    self.unacked_tasks
                        .extend(g.task_group.tasks.iter().cloned());
                    Incoming::LaunchGroup(g.task_group.tasks)
                }
                None => Incoming::Error("LAUNCH_GROUP event without 'launch_group'".into()),
            },
            event::Type::Kill => match event.kill {
                Some(k) => Incoming::Kill {
                    grace: k
                        .kill_policy
                        .and_then(|p| p.grace_period)
                        .map(|d| libprocess::duration::from_nanos_i64(d.nanoseconds)),
                    task_id: k.task_id,
                },
                None => Incoming::Error("KILL event without 'kill'".into()),
            },
            event::Type::Acknowledged => match event.acknowledged {
                Some(a) => {
                    let before = self.unacked_updates.len();
                    self.unacked_updates
                        .retain(|u| u.status.uuid.as_deref() != Some(a.uuid.as_slice()));
                    if self.unacked_updates.len() == before {
                        tracing::debug!(task = %a.task_id.value, "acknowledgement for an unknown update");
                    }
                    self.unacked_tasks.retain(|t| t.task_id != a.task_id);
                    Incoming::Acknowledged {
                        task_id: a.task_id,
                        uuid: a.uuid,
                    }
                }
                None => Incoming::Error("ACKNOWLEDGED event without 'acknowledged'".into()),
            },
            event::Type::Shutdown => Incoming::Shutdown,
            event::Type::Message => match event.message {
                Some(m) => Incoming::Message(m.data),
                None => Incoming::Error("MESSAGE event without 'message'".into()),
            },
            event::Type::Error => Incoming::Error(
                event
                    .error
                    .map(|e| e.message)
                    .unwrap_or_else(|| "ERROR event without a message".into()),
            ),
            event::Type::Heartbeat => Incoming::Heartbeat,
            event::Type::Unknown => Incoming::Unknown,
        }
    }

    /// Posts a call (not SUBSCRIBE) on a connection of its own; the agent must answer 202.
    pub async fn send(&self, call: &Call) -> Result<(), ClientError> {
        let mut conn = HttpConn::connect(self.endpoint.addr).await?;
        let body = call.encode_to_vec();
        let head = conn
            .request(
                "POST",
                &self.endpoint.path,
                &[
                    ("Content-Type", PROTOBUF),
                    ("Accept", PROTOBUF),
                    ("Connection", "close"),
                ],
                &body,
            )
            .await?;
        if head.status == 202 {
            return Ok(());
        }
        let body = conn.body(&head).await.unwrap_or_default();
        Err(ClientError::Refused {
            status: head.status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends SUBSCRIBE and returns the event stream once the agent answered 200.
    pub async fn subscribe(&self) -> Result<Subscription, ClientError> {
        open_subscription(&self.endpoint, &self.subscribe_call()).await
    }
}

/// Posts a SUBSCRIBE call and returns the event stream once the agent answered 200 (for
/// readers that run apart from the [`Client`]).
pub async fn open_subscription(
    endpoint: &Endpoint,
    call: &Call,
) -> Result<Subscription, ClientError> {
    let mut conn = HttpConn::connect(endpoint.addr).await?;
    let body = call.encode_to_vec();
    let head = conn
        .request(
            "POST",
            &endpoint.path,
            &[("Content-Type", PROTOBUF), ("Accept", PROTOBUF)],
            &body,
        )
        .await?;
    if head.status != 200 {
        let body = conn.body(&head).await.unwrap_or_default();
        return Err(ClientError::Refused {
            status: head.status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(Subscription {
        conn,
        chunked: head.chunked(),
        decoder: recordio::Decoder::default(),
    })
}

/// An open SUBSCRIBE stream.
pub struct Subscription {
    conn: HttpConn,
    chunked: bool,
    decoder: recordio::Decoder,
}

impl Subscription {
    /// The next event; `None` when the agent ended the stream. Not cancel-safe: read it from
    /// one task that forwards events.
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            if let Some(record) = self.decoder.next_record()? {
                return Ok(Some(Event::decode(record)?));
            }
            if !self.chunked {
                return Err(ClientError::Http(HttpError::Malformed(
                    "the event stream is not chunked".into(),
                )));
            }
            match self.conn.chunk().await? {
                Some(chunk) => self.decoder.feed(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// Seconds since the epoch (status update timestamps).
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::{KillPolicy, TaskGroupInfo, TaskState};

    fn client() -> Client {
        Client::new(
            Endpoint {
                addr: "127.0.0.1:1".parse().unwrap(),
                path: "/slave(1)/api/v1/executor".into(),
            },
            "F",
            "E",
        )
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            ..Default::default()
        }
    }

    fn status(id: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: id.into() },
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn endpoint_path_comes_from_the_agent_pid() {
        let env = ExecutorEnv::from_lookup(|k| {
            match k {
                "MESOS_FRAMEWORK_ID" => Some("F"),
                "MESOS_EXECUTOR_ID" => Some("E"),
                "MESOS_SLAVE_PID" => Some("slave(3)@10.0.0.1:5051"),
                "MESOS_AGENT_ENDPOINT" => Some("10.0.0.1:5051"),
                _ => None,
            }
            .map(String::from)
        })
        .unwrap();
        let e = Endpoint::from_env(&env).unwrap();
        assert_eq!(e.path, "/slave(3)/api/v1/executor");
        assert_eq!(e.addr, "10.0.0.1:5051".parse().unwrap());
    }

    #[test]
    fn updates_are_stamped_and_kept_until_acknowledged() {
        let mut c = client();
        let call = c.update_call(status("t1", TaskState::TaskRunning));
        assert_eq!(call.r#type(), call::Type::Update);
        let sent = call.update.unwrap().status;
        let uuid = sent.uuid.clone().unwrap();
        assert_eq!(uuid.len(), 16);
        assert_eq!(sent.source(), task_status::Source::Executor);
        assert_eq!(sent.executor_id.unwrap().value, "E");
        assert!(sent.timestamp.unwrap() > 1.0e9);
        c.update_call(status("t1", TaskState::TaskFinished));
        assert_eq!(c.unacknowledged_updates().len(), 2);
        // A re-SUBSCRIBE carries both, in order.
        let sub = c.subscribe_call().subscribe.unwrap();
        assert_eq!(sub.unacknowledged_updates.len(), 2);
        assert_eq!(
            sub.unacknowledged_updates[0].status.uuid.as_deref(),
            Some(uuid.as_slice())
        );
        let got = c.handle(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: "t1".into() },
                uuid: uuid.clone(),
            }),
            ..Default::default()
        });
        assert!(matches!(got, Incoming::Acknowledged { .. }));
        assert_eq!(c.unacknowledged_updates().len(), 1);
        assert_eq!(
            c.unacknowledged_updates()[0].status.state(),
            TaskState::TaskFinished
        );
        assert!(!c.all_acknowledged());
    }

    #[test]
    fn launched_tasks_stay_unacknowledged_until_an_update_for_them_is() {
        let mut c = client();
        let got = c.handle(Event {
            r#type: Some(event::Type::LaunchGroup as i32),
            launch_group: Some(event::LaunchGroup {
                task_group: TaskGroupInfo {
                    tasks: vec![task("a"), task("b")],
                },
            }),
            ..Default::default()
        });
        assert_eq!(got, Incoming::LaunchGroup(vec![task("a"), task("b")]));
        assert_eq!(
            c.subscribe_call()
                .subscribe
                .unwrap()
                .unacknowledged_tasks
                .len(),
            2
        );
        let call = c.update_call(status("a", TaskState::TaskStarting));
        let uuid = call.update.unwrap().status.uuid.unwrap();
        c.handle(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: "a".into() },
                uuid,
            }),
            ..Default::default()
        });
        let tasks = c.subscribe_call().subscribe.unwrap().unacknowledged_tasks;
        assert_eq!(tasks, vec![task("b")]);
        assert!(c.all_acknowledged());
    }

    #[test]
    fn kill_carries_the_policy_grace_period_and_malformed_events_are_errors() {
        let mut c = client();
        let got = c.handle(Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(event::Kill {
                task_id: TaskId { value: "a".into() },
                kill_policy: Some(KillPolicy {
                    grace_period: Some(mesos_proto::mesos::v1::DurationInfo {
                        nanoseconds: 2_000_000_000,
                    }),
                }),
            }),
            ..Default::default()
        });
        assert_eq!(
            got,
            Incoming::Kill {
                task_id: TaskId { value: "a".into() },
                grace: Some(Duration::from_secs(2))
            }
        );
        let got = c.handle(Event {
            r#type: Some(event::Type::Launch as i32),
            ..Default::default()
        });
        assert!(matches!(got, Incoming::Error(_)));
        let got = c.handle(Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        });
        assert_eq!(got, Incoming::Heartbeat);
    }

    #[tokio::test]
    async fn subscription_reads_events_split_across_chunks() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hb = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        }
        .encode_to_vec();
        let sd = Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Default::default()
        }
        .encode_to_vec();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let mut stream = format!("{}\n", hb.len()).into_bytes();
            stream.extend_from_slice(&hb);
            stream.extend_from_slice(format!("{}\n", sd.len()).as_bytes());
            stream.extend_from_slice(&sd);
            let (a, b) = stream.split_at(3);
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for part in [a, b] {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            s.write_all(&out).await.unwrap();
            req
        });
        let c = Client::new(
            Endpoint {
                addr,
                path: "/slave(1)/api/v1/executor".into(),
            },
            "F",
            "E",
        );
        let mut sub = c.subscribe().await.unwrap();
        let e1 = sub.next().await.unwrap().unwrap();
        let e2 = sub.next().await.unwrap().unwrap();
        assert_eq!(e1.r#type(), event::Type::Heartbeat);
        assert_eq!(e2.r#type(), event::Type::Shutdown);
        assert!(sub.next().await.unwrap().is_none());
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /slave(1)/api/v1/executor HTTP/1.1"));
        assert!(req.contains("Content-Type: application/x-protobuf"));
    }
}
