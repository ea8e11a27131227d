//! `POST /master/teardown` (body `frameworkId=<id>`): an operator removes a framework. The
//! master then shuts it down everywhere exactly as when the framework tears itself down
//! (every agent gets `ShutdownFrameworkMessage`), as genuine Mesos's teardown endpoint does.

use libprocess::{Ctx, Reply, Request, Response};

use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    ctx.route("/teardown", |m, ctx, req| m.teardown_endpoint(ctx, req));
}

impl Master {
    fn teardown_endpoint(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) -> Reply {
        if req.method != "POST" {
            return Response::method_not_allowed("POST").into();
        }
        let Ok(body) = std::str::from_utf8(&req.body) else {
            return Response::bad_request("Unable to decode query string: not UTF-8").into();
        };
        let values = libprocess::http::parse_query(body);
        let Some(id) = values.get("frameworkId") else {
            return Response::bad_request(
                "Missing 'frameworkId' query parameter in the request body",
            )
            .into();
        };
        if self.frameworks.get(id).is_none() {
            return Response::bad_request("No framework found with specified ID").into();
        }
        tracing::info!(framework = %id, "operator asked to tear down the framework");
        self.remove_framework(ctx, id, "an operator tore it down");
        Response::ok(bytes::Bytes::new()).into()
    }
}
