//! The web UI: `index.html` at `/` and the embedded files of `mesos-webui` at
//! `/assets/<path>`, with their content types and an `ETag` (a matching `If-None-Match` is
//! answered 304). Other paths that reach the master's catch-all route stay 404.

use libprocess::{Ctx, Reply, Request, Response};
use mesos_webui::Asset;

use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    // `/` is the longest-prefix fallback of every route, so only the bare path serves the page.
    ctx.route("/", |_, _, req| {
        if req.rest.trim_matches('/').is_empty() {
            serve(&req, mesos_webui::index())
        } else {
            Response::not_found().into()
        }
    });
    ctx.route("/assets", |_, _, req| {
        match mesos_webui::get(req.rest.trim_end_matches('/')) {
            Some(asset) => serve(&req, asset),
            None => Response::not_found().into(),
        }
    });
}

fn serve(req: &Request, asset: &'static Asset) -> Reply {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::method_not_allowed("GET").into();
    }
    let etag = asset.etag();
    if req
        .header("If-None-Match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Response::new(304, bytes::Bytes::new())
            .with_header("ETag", etag)
            .into();
    }
    Response::ok(bytes::Bytes::from_static(asset.bytes))
        .with_header("Content-Type", asset.content_type)
        .with_header("Cache-Control", "no-cache")
        .with_header("ETag", etag)
        .into()
}
