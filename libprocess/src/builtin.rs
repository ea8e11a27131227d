//! Processes every runtime has: `metrics` (serving `/metrics/snapshot`).

use crate::http::{Reply, Response};
use crate::process::{Ctx, Process};
use crate::runtime::{Error, Runtime};

/// Serves `/metrics/snapshot`: every metric of the runtime as one flat JSON object.
struct MetricsProcess;

impl Process for MetricsProcess {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.route("/snapshot", |_, ctx, _req| -> Reply {
            Response::json(render_flat_json(&ctx.metrics().snapshot())).into()
        });
    }
}

/// `{"a/b":1.0,...}` with keys escaped as JSON strings.
pub fn render_flat_json(values: &std::collections::BTreeMap<String, f64>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in k.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push_str("\":");
        if v.is_finite() {
            // Mesos renders metrics as doubles: `1.0`, not `1`.
            if v.fract() == 0.0 && v.abs() < 1e15 {
                out.push_str(&format!("{v:.1}"));
            } else {
                out.push_str(&v.to_string());
            }
        } else {
            out.push_str("null");
        }
    }
    out.push('}');
    out
}

pub(crate) fn spawn_builtins(rt: &Runtime) -> Result<(), Error> {
    rt.spawn("metrics", MetricsProcess)?;
    Ok(())
}
