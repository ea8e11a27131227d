//! The v1 scheduler API: `POST /api/v1/scheduler`.
//!
//! SUBSCRIBE answers with a chunked RecordIO stream (`<len>\n<record>`) of
//! `mesos.v1.scheduler.Event`s, JSON or protobuf as the client accepts: SUBSCRIBED, an
//! immediate HEARTBEAT, then HEARTBEATs every interval and whatever else the framework is
//! sent. Other calls need the framework id and the stream's `Mesos-Stream-Id`, and get 202.
//! v1 and v0 messages share field numbers, so calls are re-encoded into the v0 types the
//! master works with, and events back into v1 on the way out.

use bytes::Bytes;
use libprocess::media::{self, ContentType};
use libprocess::{recordio, Ctx, Reply, Request, Response};
use mesos_proto::mesos::scheduler::{call, event, Call, Event};
use mesos_proto::mesos::v1;
use prost::Message as _;

use crate::frameworks::{Conn, HttpStream};
use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    ctx.route("/api/v1/scheduler", |m, ctx, req| {
        match m.ha.redirect(&req) {
            Some(standby) => standby,
            None => m.scheduler_api(ctx, req),
        }
    });
}

/// Encodes one event (v0 types) as a v1 RecordIO record.
pub fn encode_event(event: &Event, json: bool) -> Option<Bytes> {
    let v1_event: v1::scheduler::Event = mesos_proto::evolve(event).ok()?;
    let data = if json {
        serde_json::to_vec(&mesos_proto::to_json(&v1_event)).ok()?
    } else {
        v1_event.encode_to_vec()
    };
    Some(recordio::encode(&data))
}

fn decode_call(body: &[u8], json: bool) -> Result<Call, String> {
    let v1_call: v1::scheduler::Call = if json {
        let text = std::str::from_utf8(body)
            .map_err(|e| format!("Failed to parse body into Call: {e}"))?;
        mesos_proto::from_json_str(text)
            .map_err(|e| format!("Failed to convert JSON into Call protobuf: {e}"))?
    } else {
        mesos_proto::decode(body)
            .map_err(|e| format!("Failed to parse body into Call protobuf: {e}"))?
    };
    mesos_proto::devolve(&v1_call).map_err(|e| format!("Failed to convert the call: {e}"))
}

impl Master {
    fn scheduler_api(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) -> Reply {
        if req.method != "POST" {
            return Response::method_not_allowed("POST").into();
        }
        let json = match media::content_type(req.header("Content-Type")) {
            Ok(t) => t == ContentType::Json,
            Err(e) => return e.response().into(),
        };
        let call = match decode_call(&req.body, json) {
            Ok(c) => c,
            Err(e) => return Response::bad_request(e).into(),
        };
        if call.r#type() == call::Type::Subscribe {
            return self.http_subscribe(ctx, &req, call).into();
        }
        let Some(framework_id) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
            return Response::bad_request("Expecting 'framework_id' to be present").into();
        };
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return Response::bad_request(format!("Framework {framework_id} is not subscribed"))
                .into();
        };
        let Conn::Http(stream) = &framework.conn else {
            return Response::new(403, "Framework is not subscribed over the HTTP API").into();
        };
        if req.header("Mesos-Stream-Id") != Some(stream.stream_id.as_str()) {
            return Response::bad_request(
                "The stream ID in 'Mesos-Stream-Id' does not match the framework's",
            )
            .into();
        }
        if !framework.connected {
            return Response::new(403, "Framework is not connected").into();
        }
        let update = call.r#type() == call::Type::UpdateFramework;
        match self.scheduler_call(ctx, &framework_id, call) {
            Ok(()) if update => Response::ok(Bytes::new()).into(),
            Ok(()) => Response::accepted().into(),
            Err(e) => Response::bad_request(e).into(),
        }
    }

    fn http_subscribe(&mut self, ctx: &mut Ctx<'_, Self>, req: &Request, call: Call) -> Response {
        if req.header("Mesos-Stream-Id").is_some() {
            return Response::bad_request(
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let accept = match media::negotiate(req.header("Accept")) {
            Ok(t) => t,
            Err(e) => return e.response(),
        };
        let json = accept == ContentType::Json;
        let Some(subscribe) = call.subscribe else {
            return Response::bad_request("Expecting 'subscribe' to be present");
        };
        let mut info = subscribe.framework_info;
        match (&call.framework_id, &info.id) {
            (Some(a), Some(b)) if a.value != b.value => {
                return Response::bad_request(
                    "'framework_id' differs from 'subscribe.framework_info.id'",
                );
            }
            (Some(a), None) => info.id = Some(a.clone()),
            _ => {}
        }
        let stream_id = uuid::Uuid::new_v4().to_string();
        let (response, tx) = Response::stream(200);
        let response = response
            .with_header("Content-Type", accept.as_str())
            .with_header("Mesos-Stream-Id", stream_id.clone());
        let (stop_watch, stopped) = tokio::sync::oneshot::channel();
        let watched = tx.clone();
        let conn = Conn::Http(HttpStream {
            tx,
            stream_id: stream_id.clone(),
            json,
            stop_watch: Some(stop_watch),
            budget: crate::event_stream::Budget::new(self.flags.http_framework_max_queued_bytes),
        });
        let subscribed = match self.subscribe(ctx, info, subscribe.suppressed_roles, conn) {
            Ok(s) => s,
            Err(message) => return Response::bad_request(message),
        };
        self.watch_stream(
            ctx,
            subscribed.framework_id.clone(),
            stream_id.clone(),
            watched,
            stopped,
        );
        let interval = self.flags.http_framework_heartbeat_interval.0;
        let event = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: mesos_proto::mesos::FrameworkId {
                    value: subscribed.framework_id.clone(),
                },
                heartbeat_interval_seconds: Some(interval.as_secs_f64()),
                master_info: Some(self.info.clone()),
            }),
            ..Default::default()
        };
        if let Some(Conn::Http(stream)) = self
            .frameworks
            .get(&subscribed.framework_id)
            .map(|f| &f.conn)
        {
            stream.write(&event);
        }
        self.heartbeat(ctx, subscribed.framework_id, stream_id);
        response
    }

    /// Reports the client of a SUBSCRIBE stream going away as soon as it does, as Mesos
    /// watches the connection: the HTTP server drops the stream's receiver when the socket
    /// closes, which resolves `closed()`. Without this a dead scheduler would hold its
    /// offers until the next heartbeat write failed. `stopped` fires when the master drops
    /// the stream itself (failover, removal), so the watcher never outlives it.
    fn watch_stream(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: String,
        stream_id: String,
        watched: tokio::sync::mpsc::UnboundedSender<Bytes>,
        stopped: tokio::sync::oneshot::Receiver<()>,
    ) {
        let closed = async move {
            tokio::select! {
                _ = watched.closed() => true,
                _ = stopped => false,
            }
        };
        ctx.then(closed, move |m, ctx, closed| {
            if closed {
                m.http_stream_closed(ctx, &framework_id, &stream_id);
            }
        });
    }

    /// The client of stream `stream_id` went away: if it is still the framework's current
    /// stream, the framework is disconnected (deactivated, offers rescinded, failover
    /// timeout started).
    fn http_stream_closed(&mut self, ctx: &mut Ctx<'_, Self>, framework_id: &str, stream_id: &str) {
        let current = self.frameworks.get(framework_id).is_some_and(|f| {
            f.connected && matches!(&f.conn, Conn::Http(s) if s.stream_id == stream_id)
        });
        if current {
            tracing::info!(framework = %framework_id, stream = %stream_id, "event stream closed by the client");
            self.framework_disconnected(ctx, framework_id);
        }
    }

    /// Sends a HEARTBEAT on the framework's current stream and schedules the next one.
    fn heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, framework_id: String, stream_id: String) {
        let alive = match self.frameworks.get(&framework_id) {
            Some(f) if f.connected => match &f.conn {
                Conn::Http(s) if s.stream_id == stream_id => s.write(&Event {
                    r#type: Some(event::Type::Heartbeat as i32),
                    ..Default::default()
                }),
                _ => return,
            },
            _ => return,
        };
        if !alive {
            tracing::info!(framework = %framework_id, "event stream closed by the client");
            self.framework_disconnected(ctx, &framework_id);
            return;
        }
        let interval = self.flags.http_framework_heartbeat_interval.0;
        ctx.delay(interval, "heartbeat", move |m, ctx| {
            m.heartbeat(ctx, framework_id, stream_id)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_recordio_framed_v1_json() {
        let e = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        };
        let record = encode_event(&e, true).unwrap();
        assert_eq!(&record[..], b"20\n{\"type\":\"HEARTBEAT\"}");
    }
}
