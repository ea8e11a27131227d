//! Reading and building the resources frameworks deal with.

use mesos_proto::mesos::{value, Resource};

/// The total of a scalar resource (e.g. `cpus`) in a list.
pub fn scalar(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

/// A copy of the first offered `name` resource with its scalar set to `amount`, so role,
/// reservations and allocation info are kept (as the genuine C++ examples do).
pub fn take_scalar(offered: &[Resource], name: &str, amount: f64) -> Option<Resource> {
    let mut r = offered
        .iter()
        .find(|r| r.name == name && r.scalar.is_some())?
        .clone();
    r.scalar = Some(value::Scalar { value: amount });
    Some(r)
}
