//! Inbound: one port serves libprocess messages and plain HTTP, on actix-web.
//!
//! A request is a message iff it is a `POST` with a `User-Agent: libprocess/…` or a
//! `Libprocess-From` header. Messages are answered `202` (or `404` for an unknown process)
//! in order; bad ones are counted and answered `4xx` without disturbing any process. Other
//! requests are routed to process endpoints. Connections are kept open for as long as the
//! peer wants: closing one would make a genuine peer see its link break.

use std::net::TcpListener;
use std::rc::Rc;

use actix_http::{HttpService, KeepAlive};
use actix_service::{map_config, Service, ServiceFactory};
use actix_web::dev::AppConfig;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::encoder::Message;
use crate::http::{parse_query, Body, Request, Response};
use crate::pid::Upid;
use crate::runtime::Runtime;

/// Runs the accept loop on the runtime's arbiter.
pub(crate) async fn serve(rt: Runtime, listener: TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the listening socket");
            return;
        }
    };
    let local = listener.local_addr().ok();
    let app_rt = rt.clone();
    let app = App::new()
        .app_data(web::Data::new(app_rt))
        .app_data(web::PayloadConfig::new(rt.0.max_body))
        .default_service(web::to(handle));
    let mut builder = HttpService::build()
        .keep_alive(KeepAlive::Os)
        .client_request_timeout(std::time::Duration::ZERO)
        .client_disconnect_timeout(std::time::Duration::from_secs(1));
    if let Some(addr) = local {
        builder = builder.local_addr(addr);
    }
    let factory = builder.h1(map_config(app, |_| AppConfig::default())).tcp();
    let service = match factory.new_service(()).await {
        Ok(s) => Rc::new(s),
        Err(()) => {
            tracing::error!("cannot build the HTTP service");
            return;
        }
    };
    let accepted = rt.metrics().counter("libprocess/connections_accepted");
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                accepted.inc();
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                actix_rt::spawn(async move {
                    if let Err(e) = service.call(stream).await {
                        tracing::debug!(error = ?e, "inbound connection ended with an error");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Whether a request is a libprocess message rather than an HTTP call.
fn is_message(req: &HttpRequest) -> bool {
    if req.method() != actix_web::http::Method::POST {
        return false;
    }
    let headers = req.headers();
    headers.contains_key("libprocess-from")
        || headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("libprocess/"))
}

/// The sender: `Libprocess-From`, else the `User-Agent` suffix.
fn sender(req: &HttpRequest) -> Result<Upid, String> {
    let headers = req.headers();
    let text = match headers.get("libprocess-from") {
        Some(v) => v.to_str().map_err(|_| "Libprocess-From is not text".to_string())?.trim().to_string(),
        None => headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.strip_prefix("libprocess/"))
            .unwrap_or("")
            .trim()
            .to_string(),
    };
    let from = Upid::parse(&text).map_err(|e| e.to_string())?;
    if from.is_none() {
        return Err("the message has no sender".into());
    }
    Ok(from)
}

async fn read_body(rt: &Runtime, mut payload: web::Payload) -> Result<Bytes, HttpResponse> {
    let limit = rt.0.max_body;
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            rt.metrics().counter("libprocess/requests_bad_body").inc();
            HttpResponse::BadRequest().body(format!("Failed to read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            rt.metrics().counter("libprocess/requests_too_large").inc();
            tracing::warn!(limit, "request body over the limit");
            return Err(HttpResponse::PayloadTooLarge()
                .body(format!("Request body exceeds the limit of {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn handle(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(rt) = req.app_data::<web::Data<Runtime>>().map(|d| d.get_ref().clone()) else {
        return HttpResponse::InternalServerError().finish();
    };
    if let Some(len) = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > rt.0.max_body {
            rt.metrics().counter("libprocess/requests_too_large").inc();
            return HttpResponse::PayloadTooLarge()
                .body(format!("Request body exceeds the limit of {} bytes", rt.0.max_body));
        }
    }
    let body = match read_body(&rt, payload).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    if is_message(&req) {
        handle_message(&rt, &req, body)
    } else {
        handle_http(&rt, &req, body).await
    }
}

fn handle_message(rt: &Runtime, req: &HttpRequest, body: Bytes) -> HttpResponse {
    let from = match sender(req) {
        Ok(f) => f,
        Err(why) => {
            rt.metrics().counter("libprocess/messages_bad_sender").inc();
            tracing::warn!(peer = ?req.peer_addr(), %why, "dropping message with a malformed sender");
            return HttpResponse::BadRequest().body(format!("Malformed sender: {why}"));
        }
    };
    let path = req.path().trim_start_matches('/');
    let Some((id, name)) = path.split_once('/').filter(|(id, name)| !id.is_empty() && !name.is_empty())
    else {
        rt.metrics().counter("libprocess/messages_bad_path").inc();
        return HttpResponse::BadRequest().body("Malformed message path: expected /<process-id>/<message-name>");
    };
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned();
    rt.metrics().counter("libprocess/messages_received").inc();
    let to = rt.upid(&id);
    let message = Message { from, to, name: name.to_string(), body };
    if rt.deliver(message) {
        HttpResponse::Accepted().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}

async fn handle_http(rt: &Runtime, req: &HttpRequest, body: Bytes) -> HttpResponse {
    let request = Request {
        method: req.method().to_string(),
        path: req.path().to_string(),
        rest: String::new(),
        query: parse_query(req.query_string()),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
        peer: req.peer_addr(),
    };
    let response = rt.http(request).await;
    into_actix(response)
}

fn into_actix(response: Response) -> HttpResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (k, v) in &response.headers {
        builder.insert_header((k.as_str(), v.as_str()));
    }
    match response.body {
        Body::Full(bytes) => builder.body(bytes),
        Body::Stream(rx) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (Ok::<_, actix_web::Error>(chunk), rx))
            });
            builder.streaming(stream)
        }
    }
}
