//! Resource arithmetic the master needs (containment, subtraction, `/state` maps), on top of
//! the allocator crate's [`Resources`], which accepts both reservation formats.

use mesos_allocator::resources::{Ranges, Resources};
use mesos_proto::mesos::{value, Resource};
use serde_json::Value;

fn of(r: &[Resource]) -> Resources {
    Resources::from_protos_lossy(r)
}

/// True if `have` holds at least everything in `want`.
pub fn contains(have: &[Resource], want: &[Resource]) -> bool {
    of(have).contains(&of(want))
}

/// `have` minus `want`.
pub fn subtract(have: &[Resource], want: &[Resource]) -> Vec<Resource> {
    (&of(have) - &of(want)).to_protos()
}

/// True if the two describe the same resources.
pub fn same(a: &[Resource], b: &[Resource]) -> bool {
    let (a, b) = (of(a), of(b));
    a.contains(&b) && b.contains(&a)
}

/// Checks that every resource is well formed.
pub fn validate(r: &[Resource]) -> Result<(), String> {
    Resources::from_protos(r)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `cpus:1; mem:32`-style text for messages.
pub fn describe(r: &[Resource]) -> String {
    of(r).to_string()
}

/// The `/state` map of resources.
pub fn state_json(r: &[Resource]) -> Value {
    of(r).to_state_json()
}

/// `{role: map}` of the reserved part.
pub fn reserved_state_json(r: &[Resource]) -> Value {
    let all = of(r);
    let map = all
        .reservation_roles()
        .into_iter()
        .map(|role| {
            let part = all.filter(|e| e.reservation_role() == Some(role.as_str()));
            (role, part.to_state_json())
        })
        .collect();
    Value::Object(map)
}

/// The unreserved part.
pub fn unreserved(r: &[Resource]) -> Vec<Resource> {
    of(r).unreserved().to_protos()
}

/// Resources in the pre-refinement format (`role: "*"`), for frameworks without
/// RESERVATION_REFINEMENT.
pub fn downgrade(r: &[Resource]) -> Vec<Resource> {
    of(r).to_protos_pre()
}

/// `[a-b, c-d]` for an attribute's ranges.
pub fn ranges_text(r: &value::Ranges) -> String {
    Ranges::new(r.range.iter().map(|x| (x.begin, x.end))).to_string()
}
