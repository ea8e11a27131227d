//! Resource arithmetic over `mesos.Resource`, as the master and allocator need it.
//!
//! A [`Resources`] is a normalized collection: entries with the same identity (name,
//! reservation stack, disk info, revocable/shared flags, provider) are merged, and their values
//! added. Protobuf resources in either wire format (pre-refinement `role`/`reservation`, or the
//! post-refinement `reservations[]` stack, PROTOCOL.md §3) are converted on the way in to one
//! internal form (the post format), so arithmetic never has to reason about both. Scalars use
//! Mesos's fixed-point rounding to three decimals.
//!
//! Not modelled: shared-resource copy counting (shared resources add like ordinary ones) and
//! persistent-volume identity rules beyond comparing the whole `DiskInfo`.

mod parse;
pub mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::Arc;

use mesos_proto::mesos::resource::{reservation_info, AllocationInfo, DiskInfo, ReservationInfo};
use mesos_proto::mesos::{value as proto_value, Resource, ResourceProviderId};

pub use value::{Fixed, Kind, Ranges, Value};

/// Largest scalar accepted (1e12: a petabyte of MB). Fixed-point sums of thousands of
/// agents at this size still fit an i64, so totals stay exact.
pub const MAX_SCALAR: f64 = 1e12;

/// Most intervals accepted in one ranges resource: containment checks are quadratic in it,
/// and real port lists hold a handful.
pub const MAX_RANGES: usize = 10_000;

/// Why resources could not be built from protobuf, text or JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourceError {
    #[error("a resource has an empty name")]
    EmptyName,
    #[error("resource '{name}' of type {kind} carries no {kind} value")]
    MissingValue { name: String, kind: Kind },
    #[error("resource '{name}': TEXT resources are not supported")]
    Text { name: String },
    #[error("resource '{name}': unknown value type {value}")]
    UnknownType { name: String, value: i32 },
    #[error("resource '{name}': scalar {value} is not a finite, non-negative number")]
    BadScalar { name: String, value: f64 },
    #[error("resource '{name}': scalar {value} exceeds the maximum of {MAX_SCALAR}")]
    ScalarTooLarge { name: String, value: f64 },
    #[error("resource '{name}': {count} ranges exceed the maximum of {MAX_RANGES}")]
    TooManyRanges { name: String, count: usize },
    #[error("resource '{name}': range {begin}-{end} begins after it ends")]
    BadRange { name: String, begin: u64, end: u64 },
    #[error(
        "resource '{name}' mixes the pre-refinement role '{role}' with a reservations[] stack"
    )]
    MixedFormats { name: String, role: String },
    #[error("resource '{name}' is declared both as {first} and as {second}")]
    TypeConflict {
        name: String,
        first: Kind,
        second: Kind,
    },
    #[error("cannot parse resource '{token}': {reason}")]
    Syntax { token: String, reason: String },
    #[error("invalid JSON resources: {0}")]
    Json(String),
}

/// One normalized resource: identity plus value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: Arc<str>,
    /// The reservation stack, outermost first (post-refinement format); empty if unreserved.
    pub reservations: Vec<ReservationInfo>,
    /// Boxed: rare, and large enough to slow every copy of every entry.
    pub disk: Option<Box<DiskInfo>>,
    pub revocable: bool,
    pub shared: bool,
    pub provider_id: Option<Box<ResourceProviderId>>,
    pub value: Value,
}

impl Entry {
    /// An unreserved resource with no metadata.
    pub fn new(name: &str, value: Value) -> Entry {
        Entry {
            name: Arc::from(name),
            reservations: Vec::new(),
            disk: None,
            revocable: false,
            shared: false,
            provider_id: None,
            value,
        }
    }

    /// The role this resource is reserved to (the innermost reservation), if any.
    pub fn reservation_role(&self) -> Option<&str> {
        self.reservations
            .last()
            .map(|r| r.role.as_deref().unwrap_or("*"))
    }

    pub fn is_unreserved(&self) -> bool {
        self.reservations.is_empty()
    }

    /// True if `other` has the same identity, so the two values may be combined.
    fn same_identity(&self, other: &Entry) -> bool {
        self.name == other.name
            && self.value.kind() == other.value.kind()
            && self.revocable == other.revocable
            && self.shared == other.shared
            && self.reservations == other.reservations
            && self.disk == other.disk
            && self.provider_id == other.provider_id
    }

    /// Converts a protobuf resource, accepting both reservation formats.
    #[allow(deprecated)]
    pub fn from_proto(r: &Resource) -> Result<Entry, ResourceError> {
        let name = r.name.trim();
        if name.is_empty() {
            return Err(ResourceError::EmptyName);
        }
        let missing = |kind| ResourceError::MissingValue {
            name: name.to_string(),
            kind,
        };
        let value = match proto_value::Type::try_from(r.r#type) {
            Ok(proto_value::Type::Scalar) => {
                let v = r
                    .scalar
                    .as_ref()
                    .ok_or_else(|| missing(Kind::Scalar))?
                    .value;
                if !v.is_finite() || v < 0.0 {
                    return Err(ResourceError::BadScalar {
                        name: name.to_string(),
                        value: v,
                    });
                }
                if v > MAX_SCALAR {
                    return Err(ResourceError::ScalarTooLarge {
                        name: name.to_string(),
                        value: v,
                    });
                }
                Value::Scalar(Fixed::from_f64(v))
            }
            Ok(proto_value::Type::Ranges) => {
                let ranges = r.ranges.as_ref().ok_or_else(|| missing(Kind::Ranges))?;
                if ranges.range.len() > MAX_RANGES {
                    return Err(ResourceError::TooManyRanges {
                        name: name.to_string(),
                        count: ranges.range.len(),
                    });
                }
                if let Some(bad) = ranges.range.iter().find(|x| x.begin > x.end) {
                    return Err(ResourceError::BadRange {
                        name: name.to_string(),
                        begin: bad.begin,
                        end: bad.end,
                    });
                }
                Value::Ranges(Ranges::new(ranges.range.iter().map(|x| (x.begin, x.end))))
            }
            Ok(proto_value::Type::Set) => {
                let set = r.set.as_ref().ok_or_else(|| missing(Kind::Set))?;
                Value::Set(set.item.iter().cloned().collect())
            }
            Ok(proto_value::Type::Text) => {
                return Err(ResourceError::Text {
                    name: name.to_string(),
                })
            }
            Err(_) => {
                return Err(ResourceError::UnknownType {
                    name: name.to_string(),
                    value: r.r#type,
                })
            }
        };
        let reservations = if !r.reservations.is_empty() {
            if let Some(role) = r.role.as_deref().filter(|role| *role != "*") {
                return Err(ResourceError::MixedFormats {
                    name: name.to_string(),
                    role: role.to_string(),
                });
            }
            r.reservations.clone()
        } else {
            match r.role.as_deref() {
                None | Some("*") => Vec::new(),
                Some(role) => {
                    // Pre format: a role, plus `reservation` only for dynamic reservations.
                    let mut info = r.reservation.clone().unwrap_or_default();
                    info.role = Some(role.to_string());
                    let ty = if r.reservation.is_some() {
                        reservation_info::Type::Dynamic
                    } else {
                        reservation_info::Type::Static
                    };
                    info.set_type(ty);
                    vec![info]
                }
            }
        };
        Ok(Entry {
            name: Arc::from(name),
            reservations,
            disk: r.disk.clone().map(Box::new),
            revocable: r.revocable.is_some(),
            shared: r.shared.is_some(),
            provider_id: r.provider_id.clone().map(Box::new),
            value,
        })
    }

    /// The post-refinement protobuf form (no `role`, a `reservations[]` stack).
    #[allow(deprecated)]
    pub fn to_proto(&self) -> Resource {
        let mut r = Resource {
            name: self.name.to_string(),
            disk: self.disk.as_deref().cloned(),
            revocable: self.revocable.then(Default::default),
            shared: self.shared.then(Default::default),
            provider_id: self.provider_id.as_deref().cloned(),
            reservations: self.reservations.clone(),
            ..Default::default()
        };
        match &self.value {
            Value::Scalar(s) => {
                r.set_type(proto_value::Type::Scalar);
                r.scalar = Some(proto_value::Scalar { value: s.to_f64() });
            }
            Value::Ranges(ranges) => {
                r.set_type(proto_value::Type::Ranges);
                r.ranges = Some(proto_value::Ranges {
                    range: ranges
                        .intervals()
                        .iter()
                        .map(|&(begin, end)| proto_value::Range { begin, end })
                        .collect(),
                });
            }
            Value::Set(set) => {
                r.set_type(proto_value::Type::Set);
                r.set = Some(proto_value::Set {
                    item: set.iter().cloned().collect(),
                });
            }
        }
        r
    }

    /// The pre-refinement form (`role`, optional `reservation`), for peers without
    /// RESERVATION_REFINEMENT; `None` if the stack is deeper than one reservation.
    #[allow(deprecated)]
    pub fn to_proto_pre(&self) -> Option<Resource> {
        let mut r = self.to_proto();
        r.reservations.clear();
        match self.reservations.as_slice() {
            [] => r.role = Some("*".to_string()),
            [only] => {
                r.role = Some(only.role.clone().unwrap_or_else(|| "*".to_string()));
                if only.r#type() == reservation_info::Type::Dynamic {
                    let mut info = only.clone();
                    info.role = None;
                    info.r#type = None;
                    r.reservation = Some(info);
                }
            }
            _ => return None,
        }
        Some(r)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(role) = self.reservation_role() {
            write!(f, "({role})")?;
        }
        if self.revocable {
            f.write_str("{REV}")?;
        }
        write!(f, ":{}", self.value)
    }
}

/// A normalized collection of resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    entries: Vec<Entry>,
}

/// Scalar totals by resource name (fixed point), ignoring reservations: what DRF compares.
pub type Quantities = Vec<(Arc<str>, Fixed)>;

impl Resources {
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Builds from protobuf resources; any invalid one fails the whole conversion.
    pub fn from_protos(resources: &[Resource]) -> Result<Resources, ResourceError> {
        let mut out = Resources::new();
        for r in resources {
            out.add_entry(Entry::from_proto(r)?);
        }
        Ok(out)
    }

    /// Builds from protobuf resources, skipping (and logging) invalid ones.
    pub fn from_protos_lossy(resources: &[Resource]) -> Resources {
        let mut out = Resources::new();
        for r in resources {
            match Entry::from_proto(r) {
                Ok(e) => out.add_entry(e),
                Err(error) => tracing::warn!(%error, "ignoring invalid resource"),
            }
        }
        out
    }

    /// Parses Mesos's text syntax (`cpus:4;mem:8192;ports:[31000-32000];zones:{a,b}`,
    /// `cpus(role):2`) or a JSON array of `Resource` objects. Resources without a role get
    /// `default_role` (`"*"` means unreserved).
    pub fn parse(text: &str, default_role: &str) -> Result<Resources, ResourceError> {
        parse::parse(text, default_role)
    }

    /// Post-refinement protobuf resources.
    pub fn to_protos(&self) -> Vec<Resource> {
        self.entries.iter().map(Entry::to_proto).collect()
    }

    /// Post-refinement protobuf resources with `allocation_info.role` set (for offers).
    pub fn to_protos_allocated(&self, role: &str) -> Vec<Resource> {
        self.entries
            .iter()
            .map(|e| {
                let mut r = e.to_proto();
                r.allocation_info = Some(AllocationInfo {
                    role: Some(role.to_string()),
                });
                r
            })
            .collect()
    }

    /// Pre-refinement protobuf resources; entries with refined reservations are skipped.
    pub fn to_protos_pre(&self) -> Vec<Resource> {
        self.entries
            .iter()
            .filter_map(Entry::to_proto_pre)
            .collect()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds one entry, merging it with an entry of the same identity.
    pub fn add_entry(&mut self, entry: Entry) {
        if entry.value.is_empty() {
            return;
        }
        match self.entries.iter_mut().find(|e| e.same_identity(&entry)) {
            Some(existing) => existing.value.add(&entry.value),
            None => self.entries.push(entry),
        }
    }

    fn add_entry_ref(&mut self, entry: &Entry) {
        if entry.value.is_empty() {
            return;
        }
        match self.entries.iter_mut().find(|e| e.same_identity(entry)) {
            Some(existing) => existing.value.add(&entry.value),
            None => self.entries.push(entry.clone()),
        }
    }

    pub fn add(&mut self, other: &Resources) {
        if self.entries.is_empty() {
            self.entries = other.entries.clone();
            return;
        }
        for e in &other.entries {
            self.add_entry_ref(e);
        }
    }

    /// Takes everything out, leaving `self` empty.
    pub fn take(&mut self) -> Resources {
        std::mem::take(self)
    }

    /// Removes `other`; what `self` lacks is ignored, and scalars stop at zero.
    pub fn subtract(&mut self, other: &Resources) {
        for o in &other.entries {
            if let Some(i) = self.entries.iter().position(|e| e.same_identity(o)) {
                self.entries[i].value.subtract(&o.value);
                if self.entries[i].value.is_empty() {
                    self.entries.remove(i);
                }
            }
        }
    }

    /// The resources present in both `self` and `other`.
    pub fn intersection(&self, other: &Resources) -> Resources {
        let mut out = Resources::new();
        for e in &self.entries {
            if let Some(o) = other.entries.iter().find(|o| o.same_identity(e)) {
                let mut common = e.clone();
                common.value = e.value.intersection(&o.value);
                out.add_entry(common);
            }
        }
        out
    }

    /// True if `self` holds at least everything in `other`.
    pub fn contains(&self, other: &Resources) -> bool {
        other.entries.iter().all(|o| {
            self.entries
                .iter()
                .any(|e| e.same_identity(o) && e.value.contains(&o.value))
        })
    }

    /// The sum of every scalar resource called `name`, whatever its reservation.
    pub fn scalar(&self, name: &str) -> f64 {
        self.scalar_fixed(name).to_f64()
    }

    fn scalar_fixed(&self, name: &str) -> Fixed {
        Fixed(
            self.entries
                .iter()
                .filter(|e| &*e.name == name)
                .map(|e| match e.value {
                    Value::Scalar(s) => s.0,
                    _ => 0,
                })
                .sum(),
        )
    }

    pub fn cpus(&self) -> f64 {
        self.scalar("cpus")
    }

    pub fn mem(&self) -> f64 {
        self.scalar("mem")
    }

    pub fn disk(&self) -> f64 {
        self.scalar("disk")
    }

    /// The union of every range resource called `name`.
    pub fn ranges(&self, name: &str) -> Ranges {
        let mut out = Ranges::default();
        for e in self.entries.iter().filter(|e| &*e.name == name) {
            if let Value::Ranges(r) = &e.value {
                out.add(r);
            }
        }
        out
    }

    /// Scalar totals by name, ignoring reservations and metadata.
    pub fn quantities(&self) -> Quantities {
        let mut out: Quantities = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            if let Value::Scalar(s) = e.value {
                match out.iter_mut().find(|(n, _)| *n == e.name) {
                    Some((_, v)) => v.0 = v.0.saturating_add(s.0),
                    None => out.push((e.name.clone(), s)),
                }
            }
        }
        out
    }

    /// Mesos's minimum offerable size: at least `min_cpus` cpus or `min_mem` MB of memory.
    pub fn allocatable(&self, min_cpus: f64, min_mem: f64) -> bool {
        self.scalar_fixed("cpus") >= Fixed::from_f64(min_cpus).max(Fixed(1))
            || self.scalar_fixed("mem") >= Fixed::from_f64(min_mem).max(Fixed(1))
    }

    /// The unreserved part.
    pub fn unreserved(&self) -> Resources {
        self.filter(|e| e.is_unreserved())
    }

    /// The part reserved to `role` or to one of its ancestors (`a` for `a/b`).
    pub fn reserved_to(&self, role: &str) -> Resources {
        self.filter(|e| {
            e.reservation_role()
                .is_some_and(|r| role_is_within(role, r))
        })
    }

    /// What a framework in `role` may be offered: unreserved plus reserved to `role`.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|e| e.reservation_role().is_none_or(|r| role_is_within(role, r)))
    }

    /// The roles that hold reservations here.
    pub fn reservation_roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| e.reservation_role().map(str::to_string))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    pub fn filter(&self, keep: impl Fn(&Entry) -> bool) -> Resources {
        Resources {
            entries: self.entries.iter().filter(|e| keep(e)).cloned().collect(),
        }
    }

    /// The `/state` resource map (PROTOCOL.md §4): `cpus`, `gpus`, `mem`, `disk` always
    /// present, other scalars summed, ranges as `"[a-b, c-d]"`, sets as `"{a, b}"`,
    /// revocable resources keyed `name_revocable`.
    pub fn to_state_json(&self) -> serde_json::Value {
        let mut scalars: BTreeMap<String, i64> = ["cpus", "gpus", "mem", "disk"]
            .iter()
            .map(|n| (n.to_string(), 0))
            .collect();
        let mut ranges: BTreeMap<String, Ranges> = BTreeMap::new();
        let mut sets: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for e in &self.entries {
            let key = if e.revocable {
                format!("{}_revocable", e.name)
            } else {
                e.name.to_string()
            };
            match &e.value {
                Value::Scalar(s) => *scalars.entry(key).or_default() += s.0,
                Value::Ranges(r) => ranges.entry(key).or_default().add(r),
                Value::Set(s) => sets.entry(key).or_default().extend(s.iter().cloned()),
            }
        }
        let mut map = serde_json::Map::new();
        for (k, v) in scalars {
            map.insert(k, serde_json::json!(Fixed(v).to_f64()));
        }
        for (k, r) in ranges {
            map.insert(k, serde_json::Value::String(r.to_string()));
        }
        for (k, s) in sets {
            map.insert(k, serde_json::Value::String(Value::Set(s).to_string()));
        }
        serde_json::Value::Object(map)
    }
}

/// True if `role` is `ancestor` or nested below it (`a/b` is within `a`).
fn role_is_within(role: &str, ancestor: &str) -> bool {
    role == ancestor
        || (role.starts_with(ancestor) && role.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl FromIterator<Entry> for Resources {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        let mut out = Resources::new();
        for e in iter {
            out.add_entry(e);
        }
        out
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, rhs: &Resources) {
        self.add(rhs);
    }
}

impl SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, rhs: &Resources) {
        self.subtract(rhs);
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;
    fn add(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        Resources::add(&mut out, rhs);
        out
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;
    fn sub(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out.subtract(rhs);
        out
    }
}

#[cfg(test)]
mod tests;
