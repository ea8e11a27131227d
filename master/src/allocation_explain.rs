//! `/allocator/explain` (also `/master/allocator/explain`): read-only, our own endpoint (genuine
//! Mesos has none). For each registered framework (or only `?framework_id=`), why it received
//! offers or none in the allocator's last run, from the allocator's explain hook. The web UI's
//! allocation view polls it; operators can `curl` it.

use libprocess::http::json_reply;
use libprocess::{Ctx, Reply, Response};
use mesos_allocator::Explanation;
use serde_json::{json, Value};

use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    ctx.route("/allocator/explain", |m, _ctx, req| {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::method_not_allowed("GET").into();
        }
        // Name, roles and activity as the master knows them, then the allocator's reasons.
        let wanted = req.query("framework_id");
        let frameworks: Vec<(String, String, Vec<String>, bool)> = m
            .frameworks
            .registered
            .values()
            .filter(|f| wanted.is_none_or(|id| id == f.id))
            .map(|f| (f.id.clone(), f.info.name.clone(), f.roles(), f.active))
            .collect();
        let pending = m
            .allocator
            .explain(frameworks.iter().map(|f| f.0.clone()).collect());
        let interval = m.flags.allocation_interval.0.as_secs_f64();
        let (reply, tx) = Reply::later();
        tokio::spawn(async move {
            let response = match pending.await {
                Ok(explanations) => {
                    let rows: Vec<Value> = frameworks
                        .into_iter()
                        .zip(explanations)
                        .map(|((id, name, roles, active), e)| {
                            let mut row = explanation_json(&e);
                            row["framework_id"] = json!(id);
                            row["name"] = json!(name);
                            row["roles"] = json!(roles);
                            row["active"] = json!(active);
                            row
                        })
                        .collect();
                    let body = json!({
                        "allocation_interval_seconds": interval,
                        "frameworks": rows,
                    });
                    json_reply(&req, body.to_string())
                }
                Err(e) => {
                    Response::service_unavailable(format!("The allocator did not answer: {e}"))
                }
            };
            let _ = tx.send(response);
        });
        reply
    });
}

/// An explanation as JSON: a stable `outcome` name, the readable `message`, and the agents
/// (at most a few) and counts it names.
pub fn explanation_json(e: &Explanation) -> Value {
    let outcome = match e {
        Explanation::UnknownFramework => "UNKNOWN_FRAMEWORK",
        Explanation::NotYetAllocated => "NOT_YET_ALLOCATED",
        Explanation::Allocated { .. } => "ALLOCATED",
        Explanation::Inactive => "INACTIVE",
        Explanation::NoRoles => "NO_ROLES",
        Explanation::Suppressed { .. } => "SUPPRESSED",
        Explanation::Filtered { .. } => "FILTERED",
        Explanation::NoAllocatableResources => "NO_ALLOCATABLE_RESOURCES",
        Explanation::BelowOthersInDrfOrder { .. } => "BELOW_OTHERS_IN_DRF_ORDER",
    };
    let mut v = json!({ "outcome": outcome, "message": e.to_string() });
    match e {
        Explanation::Allocated { agents, count } | Explanation::Filtered { agents, count } => {
            v["agents"] = json!(agents);
            v["count"] = json!(count);
        }
        Explanation::Suppressed { roles } => v["suppressed_roles"] = json!(roles),
        Explanation::BelowOthersInDrfOrder { granted_to_others } => {
            v["count"] = json!(granted_to_others)
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_carry_a_stable_outcome_the_message_and_what_they_name() {
        let v = explanation_json(&Explanation::Suppressed {
            roles: vec!["web".into()],
        });
        assert_eq!(v["outcome"], "SUPPRESSED");
        assert_eq!(v["suppressed_roles"], json!(["web"]));
        assert_eq!(v["message"], "offers suppressed for roles web");
        let v = explanation_json(&Explanation::Filtered {
            agents: vec!["a1".into()],
            count: 3,
        });
        assert_eq!(
            (v["outcome"].as_str(), v["count"].as_u64()),
            (Some("FILTERED"), Some(3))
        );
        assert_eq!(v["agents"], json!(["a1"]));
    }
}
