//! The agent's total resources: detected from the machine (cpus, mem, disk, ports) and
//! overridden by `--resources` in Mesos's text form (`cpus:4;mem:8192;ports:[31000-32000]`),
//! plus `--attributes` (`rack:r1;zone:east`).

use std::path::Path;

use mesos_proto::mesos::{value, Attribute, Resource};
use serde_json::{Map, Value as Json};

/// A `--resources` or `--attributes` entry that does not parse.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResourceError {
    #[error("bad resource '{0}': expected name:value or name(role):value")]
    Syntax(String),
    #[error("bad value for resource '{name}': '{value}'")]
    Value { name: String, value: String },
}

/// `Value.Type`: SCALAR=0, RANGES=1, SET=2, TEXT=3.
const SCALAR: i32 = 0;
const RANGES: i32 = 1;
const SET: i32 = 2;
const TEXT: i32 = 3;

fn scalar(name: &str, v: f64) -> Resource {
    #[allow(deprecated)]
    Resource {
        name: name.to_string(),
        r#type: SCALAR,
        scalar: Some(value::Scalar { value: v }),
        role: Some("*".into()),
        ..Default::default()
    }
}

fn parse_ranges(text: &str) -> Option<value::Ranges> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut range = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (b, e) = part.split_once('-').unwrap_or((part, part));
        let (begin, end) = (b.trim().parse::<u64>().ok()?, e.trim().parse::<u64>().ok()?);
        if begin > end {
            return None;
        }
        range.push(value::Range { begin, end });
    }
    Some(value::Ranges { range })
}

fn parse_set(text: &str) -> Option<value::Set> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    Some(value::Set {
        item: inner
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

/// Parses Mesos's resource text. Each entry is `name:value` or `name(role):value` where the
/// value is a number, `[a-b,c-d]` ranges or a `{x,y}` set. Role defaults to `*`.
pub fn parse(text: &str) -> Result<Vec<Resource>, ResourceError> {
    let mut out = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, val) = entry
            .split_once(':')
            .ok_or_else(|| ResourceError::Syntax(entry.to_string()))?;
        let (name, role) = match key.split_once('(') {
            Some((n, r)) => (
                n.trim(),
                r.strip_suffix(')')
                    .ok_or_else(|| ResourceError::Syntax(entry.to_string()))?
                    .trim(),
            ),
            None => (key.trim(), "*"),
        };
        if name.is_empty() {
            return Err(ResourceError::Syntax(entry.to_string()));
        }
        let bad = || ResourceError::Value {
            name: name.to_string(),
            value: val.to_string(),
        };
        let mut r = scalar(name, 0.0);
        #[allow(deprecated)]
        {
            r.role = Some(role.to_string());
        }
        let v = val.trim();
        if v.starts_with('[') {
            r.r#type = RANGES;
            r.scalar = None;
            r.ranges = Some(parse_ranges(v).ok_or_else(bad)?);
        } else if v.starts_with('{') {
            r.r#type = SET;
            r.scalar = None;
            r.set = Some(parse_set(v).ok_or_else(bad)?);
        } else {
            let x: f64 = v.parse().map_err(|_| bad())?;
            if !x.is_finite() || x < 0.0 {
                return Err(bad());
            }
            r.scalar = Some(value::Scalar { value: x });
        }
        out.push(r);
    }
    Ok(out)
}

/// Parses `--attributes` (`name:value;...`): numbers become scalars, `[..]` ranges, `{..}`
/// sets, anything else text.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, ResourceError> {
    let mut out = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, v) = entry
            .split_once(':')
            .ok_or_else(|| ResourceError::Syntax(entry.to_string()))?;
        let mut a = Attribute {
            name: name.trim().to_string(),
            ..Default::default()
        };
        let v = v.trim();
        if let Ok(x) = v.parse::<f64>() {
            a.r#type = SCALAR;
            a.scalar = Some(value::Scalar { value: x });
        } else if let Some(r) = v.starts_with('[').then(|| parse_ranges(v)).flatten() {
            a.r#type = RANGES;
            a.ranges = Some(r);
        } else if let Some(s) = v.starts_with('{').then(|| parse_set(v)).flatten() {
            a.r#type = SET;
            a.set = Some(s);
        } else {
            a.r#type = TEXT;
            a.text = Some(value::Text {
                value: v.to_string(),
            });
        }
        out.push(a);
    }
    Ok(out)
}

const MB: u64 = 1024 * 1024;
const GB: u64 = 1024 * MB;

/// Memory to offer given the machine's total, in MB: total − 1 GB if total ≥ 2 GB, else half.
pub fn default_mem_mb(total_bytes: u64) -> f64 {
    let offered = if total_bytes >= 2 * GB {
        total_bytes - GB
    } else {
        total_bytes / 2
    };
    (offered / MB) as f64
}

/// Disk to offer given the work dir filesystem's size, in MB: size − 5 GB if ≥ 10 GB, else half.
pub fn default_disk_mb(total_bytes: u64) -> f64 {
    let offered = if total_bytes >= 10 * GB {
        total_bytes - 5 * GB
    } else {
        total_bytes / 2
    };
    (offered / MB) as f64
}

fn total_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn filesystem_bytes(path: &Path) -> Option<u64> {
    // `df` avoids unsafe statvfs; -P gives one line per filesystem, -k 1K blocks.
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// What this machine has, in Mesos's defaults.
pub fn detect(work_dir: &Path) -> Vec<Resource> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let mem = total_memory_bytes().map(default_mem_mb).unwrap_or(1024.0);
    let disk = filesystem_bytes(work_dir)
        .map(default_disk_mb)
        .unwrap_or(10240.0);
    let mut ports = scalar("ports", 0.0);
    ports.r#type = RANGES;
    ports.scalar = None;
    ports.ranges = Some(value::Ranges {
        range: vec![value::Range {
            begin: 31000,
            end: 32000,
        }],
    });
    vec![
        scalar("cpus", cpus),
        scalar("mem", mem),
        scalar("disk", disk),
        ports,
    ]
}

/// The agent's total: `--resources` entries, plus detected cpus/mem/disk/ports for any of
/// those four not given.
pub fn total(flag: Option<&str>, work_dir: &Path) -> Result<Vec<Resource>, ResourceError> {
    let mut given = match flag {
        Some(text) => parse(text)?,
        None => Vec::new(),
    };
    for d in detect(work_dir) {
        if !given.iter().any(|r| r.name == d.name) {
            given.push(d);
        }
    }
    Ok(given)
}

/// Sum of a scalar resource.
pub fn scalar_sum(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .sum()
}

/// Adds `cpus` and `mem` (MB) to a resource list, merging into the `*` entries.
pub fn add_scalars(resources: &mut Vec<Resource>, cpus: f64, mem: f64) {
    for (name, v) in [("cpus", cpus), ("mem", mem)] {
        #[allow(deprecated)]
        let existing = resources.iter_mut().find(|r| {
            r.name == name
                && r.scalar.is_some()
                && r.reservations.is_empty()
                && r.role.as_deref().unwrap_or("*") == "*"
        });
        match existing {
            Some(r) => {
                if let Some(s) = r.scalar.as_mut() {
                    s.value += v;
                }
            }
            None => resources.push(scalar(name, v)),
        }
    }
}

fn render_ranges(r: &value::Ranges) -> String {
    let parts: Vec<String> = r
        .range
        .iter()
        .map(|x| format!("{}-{}", x.begin, x.end))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The `/state` map form: cpus/gpus/mem/disk always present, ranges as `"[a-b, c-d]"`,
/// sets as `"{a, b}"`, revocable keyed `name_revocable`, text omitted.
pub fn to_json_map(resources: &[Resource]) -> Json {
    let mut m = Map::new();
    for k in ["cpus", "gpus", "mem", "disk"] {
        m.insert(k.to_string(), Json::from(0.0));
    }
    for r in resources {
        let key = if r.revocable.is_some() {
            format!("{}_revocable", r.name)
        } else {
            r.name.clone()
        };
        match r.r#type {
            SCALAR => {
                let prev = m.get(&key).and_then(Json::as_f64).unwrap_or(0.0);
                let v = prev + r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0);
                m.insert(key, Json::from(v));
            }
            RANGES => {
                if let Some(rs) = &r.ranges {
                    m.insert(key, Json::from(render_ranges(rs)));
                }
            }
            SET => {
                if let Some(s) = &r.set {
                    m.insert(key, Json::from(format!("{{{}}}", s.item.join(", "))));
                }
            }
            _ => {}
        }
    }
    Json::Object(m)
}

/// Attributes as `/state` shows them: `{name: value}`.
pub fn attributes_json(attrs: &[Attribute]) -> Json {
    let mut m = Map::new();
    for a in attrs {
        let v = match a.r#type {
            SCALAR => a.scalar.as_ref().map(|s| Json::from(s.value)),
            RANGES => a.ranges.as_ref().map(|r| Json::from(render_ranges(r))),
            SET => a
                .set
                .as_ref()
                .map(|s| Json::from(format!("{{{}}}", s.item.join(", ")))),
            _ => a.text.as_ref().map(|t| Json::from(t.value.clone())),
        };
        if let Some(v) = v {
            m.insert(a.name.clone(), v);
        }
    }
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_text_parses_scalars_ranges_sets_and_roles() {
        let rs = parse("cpus:4;mem:8192;ports:[31000-32000, 40000-40010];disks:{a,b};gpus(ml):2")
            .unwrap();
        assert_eq!(rs.len(), 5);
        assert_eq!(scalar_sum(&rs, "cpus"), 4.0);
        assert_eq!(rs[2].ranges.as_ref().unwrap().range.len(), 2);
        assert_eq!(rs[3].set.as_ref().unwrap().item, vec!["a", "b"]);
        #[allow(deprecated)]
        let role = rs[4].role.clone();
        assert_eq!(role.as_deref(), Some("ml"));
        let j = to_json_map(&rs);
        assert_eq!(j["ports"], "[31000-32000, 40000-40010]");
        assert_eq!(j["disks"], "{a, b}");
        assert_eq!(j["disk"], 0.0);
    }

    #[test]
    fn bad_resource_text_is_rejected() {
        assert!(parse("cpus").is_err());
        assert!(parse("cpus:lots").is_err());
        assert!(parse("ports:[5-1]").is_err());
        assert!(parse("cpus:-1").is_err());
    }

    #[test]
    fn detected_memory_and_disk_follow_mesos_defaults() {
        assert_eq!(default_mem_mb(8 * GB), 7168.0);
        assert_eq!(default_mem_mb(GB), 512.0);
        assert_eq!(default_disk_mb(100 * GB), 95.0 * 1024.0);
        assert_eq!(default_disk_mb(8 * GB), 4096.0);
    }

    #[test]
    fn flag_overrides_detection_per_name() {
        let rs = total(Some("cpus:2;mem:1000"), Path::new("/tmp")).unwrap();
        assert_eq!(scalar_sum(&rs, "cpus"), 2.0);
        assert_eq!(scalar_sum(&rs, "mem"), 1000.0);
        assert!(rs.iter().any(|r| r.name == "disk"));
        assert_eq!(to_json_map(&rs)["ports"], "[31000-32000]");
    }

    #[test]
    fn attributes_parse_by_shape() {
        let a = parse_attributes("rack:r1;level:3").unwrap();
        assert_eq!(a[0].r#type, TEXT);
        assert_eq!(a[1].r#type, SCALAR);
        assert_eq!(attributes_json(&a)["rack"], "r1");
    }
}
