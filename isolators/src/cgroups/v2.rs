//! cgroup2 interface files, as formatting and parsing that can be tested on any tree
//! (a temp dir laid out like a cgroup), plus the few writes the v2 isolators do.
//!
//! Conversions follow what runc and systemd do for the v1 → v2 mapping:
//! `cpu.weight = 1 + (shares - 2) * 9999 / 262142`; `cpu.max = "<quota|max> <period>"` in
//! microseconds; `memory.max` is the hard limit and `memory.high` the soft one.

use std::path::Path;
use std::time::Duration;

use super::{parse_flat_keyed, read_file, write_file, CgroupsError};

/// v1 `cpu.shares` (2..=262144) to v2 `cpu.weight` (1..=10000).
pub fn cpu_weight_from_shares(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + (shares - 2) * 9999 / 262_142
}

/// The `cpu.max` line for a quota (None: unlimited) per period.
pub fn cpu_max(quota: Option<Duration>, period: Duration) -> String {
    let period_us = period.as_micros();
    match quota {
        Some(q) => format!("{} {period_us}", q.as_micros()),
        None => format!("max {period_us}"),
    }
}

/// Parses `cpu.max` into (quota, period) in microseconds; quota None means `max`.
pub fn parse_cpu_max(text: &str) -> Option<(Option<u64>, u64)> {
    let mut it = text.split_whitespace();
    let quota = match it.next()? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    let period = it.next()?.parse().ok()?;
    Some((quota, period))
}

/// A `memory.max`/`memory.high` value: bytes or `max`.
pub fn memory_limit(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "max".to_string(), |b| b.to_string())
}

/// Counters from `memory.events`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    pub high: u64,
    pub max: u64,
    pub oom: u64,
    pub oom_kill: u64,
}

pub fn parse_memory_events(text: &str) -> MemoryEvents {
    let m = parse_flat_keyed(text);
    let get = |k: &str| m.get(k).copied().unwrap_or(0);
    MemoryEvents {
        high: get("high"),
        max: get("max"),
        oom: get("oom"),
        oom_kill: get("oom_kill"),
    }
}

/// Counters from v2 `cpu.stat` (microseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStat {
    pub usage_usec: u64,
    pub user_usec: u64,
    pub system_usec: u64,
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_usec: u64,
}

pub fn parse_cpu_stat(text: &str) -> CpuStat {
    let m = parse_flat_keyed(text);
    let get = |k: &str| m.get(k).copied().unwrap_or(0);
    CpuStat {
        usage_usec: get("usage_usec"),
        user_usec: get("user_usec"),
        system_usec: get("system_usec"),
        nr_periods: get("nr_periods"),
        nr_throttled: get("nr_throttled"),
        throttled_usec: get("throttled_usec"),
    }
}

/// Sets a container's cpu weight and (optionally) bandwidth.
pub fn set_cpu(
    dir: &Path,
    shares: u64,
    quota: Option<Duration>,
    period: Duration,
) -> Result<(), CgroupsError> {
    write_file(
        dir,
        "cpu.weight",
        &cpu_weight_from_shares(shares).to_string(),
    )?;
    write_file(dir, "cpu.max", &cpu_max(quota, period))
}

/// Sets a container's hard (`memory.max`) and soft (`memory.high`) limits.
pub fn set_memory(dir: &Path, hard: Option<u64>, soft: Option<u64>) -> Result<(), CgroupsError> {
    write_file(dir, "memory.high", &memory_limit(soft))?;
    write_file(dir, "memory.max", &memory_limit(hard))
}

pub fn memory_events(dir: &Path) -> Result<MemoryEvents, CgroupsError> {
    read_file(dir, "memory.events").map(|t| parse_memory_events(&t))
}

pub fn cpu_stat(dir: &Path) -> Result<CpuStat, CgroupsError> {
    read_file(dir, "cpu.stat").map(|t| parse_cpu_stat(&t))
}

/// Enables `controller` for the children of the mount and of `<mount>/<root>` (v2 only
/// hands a controller to a cgroup whose parent lists it in `cgroup.subtree_control`).
pub fn enable_controller(mount: &Path, root: &str, controller: &str) -> Result<(), CgroupsError> {
    let mut dir = mount.to_path_buf();
    let enable = format!("+{controller}");
    write_file(&dir, "cgroup.subtree_control", &enable)?;
    for part in root.split('/') {
        dir.push(part);
        write_file(&dir, "cgroup.subtree_control", &enable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory laid out like a v2 container cgroup, with the kernel's default contents.
    fn fake_cgroup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (file, content) in [
            ("cpu.weight", "100\n"),
            ("cpu.max", "max 100000\n"),
            ("memory.max", "max\n"),
            ("memory.high", "max\n"),
            (
                "memory.events",
                "low 0\nhigh 4\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n",
            ),
            (
                "cpu.stat",
                "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 12\nthrottled_usec 250000\n",
            ),
        ] {
            std::fs::write(dir.path().join(file), content).expect("write");
        }
        dir
    }

    #[test]
    fn cpu_weight_maps_v1_shares_onto_the_v2_range() {
        assert_eq!(cpu_weight_from_shares(2), 1);
        assert_eq!(cpu_weight_from_shares(1024), 39);
        assert_eq!(cpu_weight_from_shares(262_144), 10_000);
        assert_eq!(cpu_weight_from_shares(0), 1);
        assert_eq!(cpu_weight_from_shares(u64::MAX), 10_000);
    }

    #[test]
    fn cpu_max_is_written_as_quota_and_period_in_microseconds() {
        let dir = fake_cgroup();
        let period = Duration::from_millis(100);
        set_cpu(dir.path(), 1536, Some(Duration::from_millis(150)), period).expect("set");
        let max = std::fs::read_to_string(dir.path().join("cpu.max")).expect("read");
        assert_eq!(max, "150000 100000");
        assert_eq!(parse_cpu_max(&max), Some((Some(150_000), 100_000)));
        let weight = std::fs::read_to_string(dir.path().join("cpu.weight")).expect("read");
        assert_eq!(weight, cpu_weight_from_shares(1536).to_string());
        set_cpu(dir.path(), 1024, None, period).expect("set");
        let max = std::fs::read_to_string(dir.path().join("cpu.max")).expect("read");
        assert_eq!(parse_cpu_max(&max), Some((None, 100_000)));
        assert_eq!(parse_cpu_max("garbage"), None);
    }

    #[test]
    fn memory_max_and_high_hold_the_hard_and_soft_limits() {
        let dir = fake_cgroup();
        set_memory(dir.path(), Some(64 << 20), Some(32 << 20)).expect("set");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("read");
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.high"), (32u64 << 20).to_string());
        set_memory(dir.path(), None, None).expect("set");
        assert_eq!(read("memory.max"), "max");
    }

    #[test]
    fn memory_events_and_cpu_stat_are_parsed_from_their_files() {
        let dir = fake_cgroup();
        let events = memory_events(dir.path()).expect("events");
        assert_eq!(
            events,
            MemoryEvents {
                high: 4,
                max: 9,
                oom: 2,
                oom_kill: 1
            }
        );
        let stat = cpu_stat(dir.path()).expect("stat");
        assert_eq!(stat.user_usec, 1_000_000);
        assert_eq!(stat.nr_periods, 40);
        assert_eq!(stat.nr_throttled, 12);
        assert_eq!(stat.throttled_usec, 250_000);
    }

    #[test]
    fn enabling_a_controller_writes_every_level_down_to_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("mesos/test")).expect("mkdir");
        enable_controller(dir.path(), "mesos/test", "memory").expect("enable");
        for level in ["", "mesos", "mesos/test"] {
            let f = dir.path().join(level).join("cgroup.subtree_control");
            assert_eq!(std::fs::read_to_string(f).expect("read"), "+memory");
        }
    }
}
