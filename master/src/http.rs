//! The master's read-only HTTP endpoints: `/state`, `/redirect`, `/health`, `/flags`, and
//! the `version` process's `/version`. (`/metrics/snapshot` is the runtime's `metrics`
//! process; the master only registers its metrics there.)

use libprocess::http::json_reply;
use libprocess::{Ctx, Process, Reply, Request, Response};
use serde_json::json;

use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    ctx.route("/state", |m, _ctx, req| m.state_endpoint(req));
    ctx.route("/state.json", |m, _ctx, req| m.state_endpoint(req));
    ctx.route("/redirect", |m, _ctx, req| {
        if let Some(standby) = m.ha.redirect(&req) {
            return standby;
        }
        Response::temporary_redirect(m.redirect_location()).into()
    });
    ctx.route("/health", |_, _, _| {
        Response::ok(bytes::Bytes::new()).into()
    });
    ctx.route("/flags.json", |m, _ctx, req| m.flags_endpoint(&req).into());
    ctx.route("/flags", |m, _ctx, req| m.flags_endpoint(&req).into());
}

impl Master {
    fn flags_endpoint(&self, req: &Request) -> Response {
        let flags: serde_json::Map<String, serde_json::Value> = self
            .flags
            .to_map()
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        json_reply(req, json!({ "flags": flags }).to_string())
    }

    /// Where `/redirect` sends operators: `//host:port` of the leading master, which is
    /// this master (the one place to consult a leader detector once there is one).
    pub(crate) fn redirect_location(&self) -> String {
        let host = self.info.hostname.clone().unwrap_or_default();
        format!("//{host}:{}", self.info.port)
    }

    /// `/state`: snapshot here, render on a blocking thread.
    fn state_endpoint(&mut self, req: Request) -> Reply {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::method_not_allowed("GET").into();
        }
        let snapshot = self.snapshot();
        let (reply, tx) = Reply::later();
        tokio::task::spawn_blocking(move || {
            let body = crate::state::render(&snapshot);
            let _ = tx.send(json_reply(&req, body));
        });
        reply
    }
}

/// Serves `/version` like Mesos's `version` process.
pub struct VersionProcess;

impl Process for VersionProcess {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.route("/", |_, _, req| {
            let body = json!({
                "version": crate::VERSION,
                "build_date": "",
                "build_time": 0.0,
                "build_user": "",
            });
            json_reply(&req, body.to_string()).into()
        });
    }
}
