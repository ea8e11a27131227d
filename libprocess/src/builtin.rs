//! Processes every runtime has: `metrics` (serving `/metrics/snapshot`).

use crate::http::{json_reply, Reply};
use crate::process::{Ctx, Process};
use crate::runtime::{Error, Runtime};

/// Serves `/metrics/snapshot`: every metric of the runtime as one flat JSON object
/// (`?jsonp=` honoured, as Mesos does).
struct MetricsProcess;

impl Process for MetricsProcess {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.route("/snapshot", |_, ctx, req| -> Reply {
            json_reply(&req, render_flat_json(&ctx.metrics().snapshot())).into()
        });
    }
}

/// `{"a/b":1.0,...}`; values that are not finite render as `null`.
pub fn render_flat_json(values: &std::collections::BTreeMap<String, f64>) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "{}".to_string())
}

pub(crate) fn spawn_builtins(rt: &Runtime) -> Result<(), Error> {
    rt.spawn("metrics", MetricsProcess)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_json_escapes_names_and_renders_doubles_and_non_finite_values() {
        let values = [
            ("a/b".to_string(), 1.0),
            ("q\"uote\\\n".to_string(), 0.25),
            ("nan".to_string(), f64::NAN),
        ]
        .into_iter()
        .collect();
        let text = render_flat_json(&values);
        assert_eq!(text, r#"{"a/b":1.0,"nan":null,"q\"uote\\\n":0.25}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["a/b"], 1.0);
    }
}
