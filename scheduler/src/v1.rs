//! The v1 HTTP scheduler API driver: `POST /api/v1/scheduler`, a RecordIO event stream, and
//! calls on a second connection carrying `Mesos-Stream-Id`.
//!
//! Bodies are protobuf. v1 messages have the same field numbers as v0 ones, so events are
//! decoded as `mesos.scheduler.Event` and the same [`Scheduler`] trait serves both APIs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use mesos_proto::mesos::scheduler::{call, event, Call, Event};
use mesos_proto::mesos::{FrameworkId, FrameworkInfo};
use prost::Message;
use rand::Rng;

use crate::driver::{CallSink, DriverHandle, Outcome, Scheduler};
use libprocess::http_client::{HttpConn, HttpError};
use libprocess::media::APPLICATION_PROTOBUF as PROTOBUF;
use libprocess::recordio::{self, RecordIoError};

const PATH: &str = "/api/v1/scheduler";

#[derive(Debug, thiserror::Error)]
pub enum V1Error {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("SUBSCRIBE was refused: {status} {body}")]
    Refused { status: u16, body: String },
    #[error("redirect to '{0}' cannot be followed")]
    BadRedirect(String),
    #[error("undecodable event: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error(transparent)]
    RecordIo(#[from] RecordIoError),
}

/// Calls made by callbacks, sent after the callback returns.
#[derive(Default)]
struct Queue(Vec<Call>);

impl CallSink for Queue {
    fn send_call(&mut self, call: Call) {
        self.0.push(call);
    }
}

/// Runs a framework over the v1 HTTP API until it stops or the master reports an error.
pub async fn run(
    master: SocketAddr,
    framework: FrameworkInfo,
    scheduler: Box<dyn Scheduler>,
) -> Result<Outcome, V1Error> {
    run_following(master, None, framework, scheduler).await
}

/// Like [`run`], asking ZooKeeper (`detect`) for the leader before every re-subscription,
/// so a framework survives the death of its master (redirects alone cannot: nobody is left
/// at the old address to send them).
pub async fn run_following(
    master: SocketAddr,
    detect: Option<mesos_zookeeper::ZkUrl>,
    framework: FrameworkInfo,
    mut scheduler: Box<dyn Scheduler>,
) -> Result<Outcome, V1Error> {
    // An id in the FrameworkInfo: this process takes that framework over (failover).
    let mut framework_id: Option<FrameworkId> =
        framework.id.clone().filter(|id| !id.value.is_empty());
    let mut master = master;
    let mut backoff = Duration::from_secs(2);
    loop {
        match session(
            &mut master,
            &framework,
            &mut framework_id,
            scheduler.as_mut(),
        )
        .await
        {
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => tracing::warn!("the event stream ended; re-subscribing"),
            Err(V1Error::Refused { status, body }) if status != 503 => {
                return Err(V1Error::Refused { status, body })
            }
            Err(e) => tracing::warn!(error = %e, "subscription failed; retrying"),
        }
        let mut stop = None;
        let mut queue = Queue::default();
        scheduler.disconnected(&mut DriverHandle::new(
            &mut queue,
            framework_id.clone(),
            &mut stop,
        ));
        if stop.is_some() {
            return Ok(Outcome::Stopped);
        }
        // The jitter is drawn before the await: a thread-local RNG held across it would
        // make this future impossible to spawn on a multi-threaded runtime.
        let jitter: f64 = rand::thread_rng().gen_range(0.0..=1.0);
        tokio::time::sleep(backoff.mul_f64(jitter)).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
        if let Some(url) = detect.clone() {
            let lookup = tokio::task::spawn_blocking(move || {
                crate::detection::detect_leader(&url, crate::detection::DETECTION_TIMEOUT)
            });
            match lookup.await {
                Ok(Ok(pid)) => master = pid.socket_addr(),
                Ok(Err(e)) => tracing::warn!(error = %e, "no leading master detected yet"),
                Err(e) => tracing::warn!(error = %e, "master detection failed"),
            }
        }
    }
}

/// One subscription: Ok(Some) when the run ends, Ok(None) when the stream broke.
async fn session(
    master: &mut SocketAddr,
    framework: &FrameworkInfo,
    framework_id: &mut Option<FrameworkId>,
    scheduler: &mut dyn Scheduler,
) -> Result<Option<Outcome>, V1Error> {
    let mut info = framework.clone();
    info.id = framework_id.clone();
    let subscribe = Call {
        framework_id: framework_id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    let body = subscribe.encode_to_vec();
    let headers = [("Content-Type", PROTOBUF), ("Accept", PROTOBUF)];
    let (mut stream, head) = loop {
        let mut conn = HttpConn::connect(*master).await?;
        let head = conn.request("POST", PATH, &headers, &body).await?;
        if head.status == 307 {
            // `Location: //host:port/api/v1/scheduler` names the leading master.
            let location = head.header("location").unwrap_or("").to_string();
            *master = redirect_target(&location).ok_or(V1Error::BadRedirect(location))?;
            continue;
        }
        if head.status != 200 {
            let body = conn.body(&head).await.unwrap_or_default();
            return Err(V1Error::Refused {
                status: head.status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        break (conn, head);
    };
    let stream_id = head.header("mesos-stream-id").unwrap_or("").to_string();
    let mut calls = HttpConn::connect(*master).await?;
    let mut records = recordio::Decoder::default();
    loop {
        let Some(chunk) = stream.chunk().await? else {
            return Ok(None);
        };
        records.feed(&chunk);
        while let Some(record) = records.next_record()? {
            let event = Event::decode(record)?;
            let mut queue = Queue::default();
            let mut stop = None;
            let outcome = handle_event(event, framework_id, scheduler, &mut queue, &mut stop);
            for mut call in queue.0 {
                call.framework_id = framework_id.clone();
                post_call(&mut calls, &stream_id, &call).await?;
            }
            if let Some(failover) = stop {
                if !failover {
                    let teardown = Call {
                        framework_id: framework_id.clone(),
                        r#type: Some(call::Type::Teardown as i32),
                        ..Default::default()
                    };
                    post_call(&mut calls, &stream_id, &teardown).await?;
                }
                return Ok(Some(Outcome::Stopped));
            }
            if let Some(outcome) = outcome {
                return Ok(Some(outcome));
            }
        }
    }
}

async fn post_call(conn: &mut HttpConn, stream_id: &str, call: &Call) -> Result<(), V1Error> {
    let headers = [
        ("Content-Type", PROTOBUF),
        ("Accept", PROTOBUF),
        ("Mesos-Stream-Id", stream_id),
    ];
    let head = conn
        .request("POST", PATH, &headers, &call.encode_to_vec())
        .await?;
    let body = conn.body(&head).await?;
    if head.status != 202 && head.status != 200 {
        tracing::warn!(status = head.status, body = %String::from_utf8_lossy(&body), "call refused");
    }
    Ok(())
}

fn handle_event(
    event: Event,
    framework_id: &mut Option<FrameworkId>,
    scheduler: &mut dyn Scheduler,
    queue: &mut Queue,
    stop: &mut Option<bool>,
) -> Option<Outcome> {
    let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok());
    match kind {
        Some(event::Type::Subscribed) => {
            let subscribed = event.subscribed?;
            *framework_id = Some(subscribed.framework_id.clone());
            let master = subscribed.master_info.unwrap_or_default();
            let mut d = DriverHandle::new(queue, framework_id.clone(), stop);
            scheduler.registered(&mut d, &subscribed.framework_id, &master);
        }
        Some(event::Type::Offers) => {
            let offers = event.offers.map(|o| o.offers).unwrap_or_default();
            scheduler.resource_offers(
                &mut DriverHandle::new(queue, framework_id.clone(), stop),
                offers,
            );
        }
        Some(event::Type::Rescind) => {
            if let Some(r) = event.rescind {
                scheduler.offer_rescinded(
                    &mut DriverHandle::new(queue, framework_id.clone(), stop),
                    &r.offer_id,
                );
            }
        }
        Some(event::Type::Update) => {
            let status = event.update?.status;
            scheduler.status_update(
                &mut DriverHandle::new(queue, framework_id.clone(), stop),
                &status,
            );
            // Updates with a uuid came from an agent and need an acknowledgement, unless the
            // framework stopped in the callback (it tears down instead).
            if let (Some(uuid), Some(agent), None) =
                (status.uuid.clone(), status.slave_id.clone(), *stop)
            {
                queue.0.push(crate::driver::acknowledge(
                    agent,
                    status.task_id.clone(),
                    uuid,
                ));
            }
        }
        Some(event::Type::Failure) => {
            if let Some(f) = event.failure {
                let mut d = DriverHandle::new(queue, framework_id.clone(), stop);
                match (f.executor_id, f.slave_id) {
                    (Some(e), Some(a)) => {
                        scheduler.executor_lost(&mut d, &e.value, &a.value, f.status.unwrap_or(0))
                    }
                    (None, Some(a)) => scheduler.agent_lost(&mut d, &a.value),
                    _ => {}
                }
            }
        }
        Some(event::Type::Error) => {
            let message = event.error.map(|e| e.message).unwrap_or_default();
            scheduler.error(
                &mut DriverHandle::new(queue, framework_id.clone(), stop),
                &message,
            );
            return Some(Outcome::Error(message));
        }
        // HEARTBEAT, MESSAGE and inverse offers need nothing from these frameworks.
        _ => {}
    }
    None
}

/// `//host:port/path` (or `http://host:port/path`) to an address.
fn redirect_target(location: &str) -> Option<SocketAddr> {
    let rest = location
        .trim_start_matches("http:")
        .trim_start_matches("//");
    let hostport = rest.split('/').next()?;
    hostport.to_socket_addrs().ok()?.find(|a| a.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_name_the_leader_scheme_relative() {
        assert_eq!(
            redirect_target("//127.0.0.1:5051/api/v1/scheduler"),
            Some("127.0.0.1:5051".parse().unwrap())
        );
        assert_eq!(
            redirect_target("http://127.0.0.1:5052/x"),
            Some("127.0.0.1:5052".parse().unwrap())
        );
        assert_eq!(redirect_target("nonsense"), None);
    }
}
