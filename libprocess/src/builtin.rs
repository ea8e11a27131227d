//! Processes every runtime has: `metrics` (serving `/metrics/snapshot`, and the same values
//! in Prometheus's text format at `/metrics/prometheus` for scrapers).

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
        ctx.route("/prometheus", |_, ctx, _req| -> Reply {
            crate::http::Response::ok(render_prometheus(&ctx.metrics().snapshot()))
                .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                .into()
        });
    }
}

/// A Mesos metric name as a Prometheus one: `master/tasks_running` → `master_tasks_running`
/// (anything outside `[a-zA-Z0-9_:]` becomes `_`; a leading digit gets a `_` prefix).
pub fn prometheus_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus text exposition format (0.0.4), one untyped sample per metric; a name
/// that collides with an earlier one after renaming is left out, so the output stays valid.
pub fn render_prometheus(values: &std::collections::BTreeMap<String, f64>) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for (name, value) in values {
        let name = prometheus_name(name);
        if !seen.insert(name.clone()) {
            continue;
        }
        let value = if value.is_nan() {
            "NaN".to_string()
        } else if value.is_infinite() {
            if *value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
        } else {
            format!("{value}")
        };
        out.push_str(&format!("# TYPE {name} untyped\n{name} {value}\n"));
    }
    out
}

/// `{"a/b":1.0,...}`; values that are not finite render as `null`.
pub fn render_flat_json(values: &std::collections::BTreeMap<String, f64>) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "{}".to_string())
}

pub(crate) fn spawn_builtins(rt: &Runtime) -> Result<(), Error> {
    rt.spawn("metrics", MetricsProcess)?;
    crate::system::register(rt.metrics());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_renames_metrics_and_renders_every_value_validly() {
        let values = [
            ("master/tasks_running".to_string(), 3.0),
            ("master/cpus_total".to_string(), 4.5),
            ("allocator/mesos/allocation_run_ms/p50".to_string(), 0.25),
            ("master/tasks-running".to_string(), 9.0),
            ("1st".to_string(), f64::NAN),
            ("inf".to_string(), f64::NEG_INFINITY),
        ]
        .into_iter()
        .collect();
        let text = render_prometheus(&values);
        assert!(text.contains("# TYPE master_cpus_total untyped\nmaster_cpus_total 4.5\n"));
        // `master/tasks-running` sorts first and takes the name; the later one is left out.
        assert!(text.contains("master_tasks_running 9\n"));
        assert!(text.contains("allocator_mesos_allocation_run_ms_p50 0.25\n"));
        assert!(text.contains("_1st NaN\n"));
        assert!(text.contains("inf -Inf\n"));
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("master_tasks_running "))
                .count(),
            1,
            "a colliding name appears once"
        );
    }

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
