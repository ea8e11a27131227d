//! `/agent/<agent_id>/<endpoint>`: the master forwards a few read-only GET endpoints to the
//! agent with that id (`state`, `files/browse`, `files/read`, `monitor/statistics`), so the
//! web UI, served from the master's origin, can read sandboxes and container statistics:
//! genuine agents send no CORS headers, and proxying works for genuine agents and ours alike.
//! Nothing else is forwarded: no other path, no other method, no request body. Answers are
//! read whole (bounded by the HTTP client's 64 MiB; `/files/read` returns at most 64 KiB), so
//! `files/download` is not forwarded: the UI links downloads to the agent itself (a
//! navigation needs no CORS), and a large file never streams through the master.

use std::time::Duration;

use bytes::Bytes;
use libprocess::http_client::HttpConn;
use libprocess::{Ctx, Reply, Request, Response};

use crate::master::Master;

/// The agent endpoints this proxy forwards (path below the agent's root).
pub const FORWARDED: [&str; 4] = ["state", "files/browse", "files/read", "monitor/statistics"];

/// How long the agent has to answer (connect, head and body).
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    ctx.route("/agent", |m, _ctx, req| m.agent_proxy(req));
}

/// Splits `<agent_id>/<endpoint>` and checks the endpoint is one that is forwarded.
pub fn target(rest: &str) -> Result<(&str, &str), Response> {
    let rest = rest.trim_matches('/');
    let Some((agent, endpoint)) = rest.split_once('/') else {
        return Err(Response::bad_request(
            "Expecting /agent/<agent_id>/<endpoint>",
        ));
    };
    let endpoint = endpoint.trim_end_matches(".json");
    if !FORWARDED.contains(&endpoint) {
        return Err(Response::new(
            403,
            format!(
                "'{endpoint}' is not forwarded; one of: {}",
                FORWARDED.join(", ")
            ),
        ));
    }
    Ok((agent, endpoint))
}

/// `key=value&...` with every byte but unreserved ones percent-encoded.
pub fn encode_query(req: &Request) -> String {
    let mut pairs: Vec<(&String, &String)> = req.query.iter().collect();
    pairs.sort();
    let enc = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Master {
    fn agent_proxy(&mut self, req: Request) -> Reply {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::method_not_allowed("GET").into();
        }
        let (agent_id, endpoint) = match target(&req.rest) {
            Ok(t) => t,
            Err(r) => return r.into(),
        };
        let Some(agent) = self.agents.registered.get(agent_id) else {
            return Response::new(404, format!("No agent '{agent_id}' is registered")).into();
        };
        let addr = agent.pid.socket_addr();
        let query = encode_query(&req);
        let path = if query.is_empty() {
            format!("/{endpoint}")
        } else {
            format!("/{endpoint}?{query}")
        };
        let agent_id = agent_id.to_string();
        let (reply, tx) = Reply::later();
        tokio::spawn(async move {
            let _ = tx.send(forward(addr, &path).await.unwrap_or_else(|e| {
                tracing::debug!(agent = %agent_id, %addr, error = %e, "agent proxy failed");
                Response::new(
                    502,
                    format!("Could not read {path} from agent {agent_id} at {addr}: {e}"),
                )
            }));
        });
        reply
    }
}

/// GETs `path` from the agent and answers with its status, body and content type.
async fn forward(addr: std::net::SocketAddr, path: &str) -> Result<Response, String> {
    let (head, body) = tokio::time::timeout(AGENT_TIMEOUT, async {
        let mut conn = HttpConn::connect(addr).await?;
        let head = conn
            .request("GET", path, &[("Accept", "application/json")], b"")
            .await?;
        let body: Bytes = conn.body(&head).await?;
        Ok::<_, libprocess::http_client::HttpError>((head, body))
    })
    .await
    .map_err(|_| format!("no answer within {AGENT_TIMEOUT:?}"))?
    .map_err(|e| e.to_string())?;
    let mut response = Response::new(head.status, body);
    for name in ["Content-Type", "Content-Disposition", "Content-Encoding"] {
        if let Some(v) = head.header(name) {
            response = response.with_header(name, v);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_agent_endpoints_are_forwarded() {
        assert_eq!(target("a1/files/read").ok(), Some(("a1", "files/read")));
        assert_eq!(
            target("a1/files/browse.json/").ok(),
            Some(("a1", "files/browse"))
        );
        assert_eq!(
            target("a1/monitor/statistics").ok(),
            Some(("a1", "monitor/statistics"))
        );
        assert_eq!(target("a1/api/v1").err().map(|r| r.status), Some(403));
        assert_eq!(target("a1/flags").err().map(|r| r.status), Some(403));
        assert_eq!(
            target("a1/files/download").err().map(|r| r.status),
            Some(403)
        );
        assert_eq!(target("a1").err().map(|r| r.status), Some(400));
    }

    #[test]
    fn forwarded_queries_are_percent_encoded() {
        let req = Request::new("GET", "/agent/a/files/read?path=/tmp/a%20b%26c&offset=-1");
        assert_eq!(encode_query(&req), "offset=-1&path=/tmp/a%20b%26c");
    }
}
