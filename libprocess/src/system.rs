//! `system/*` gauges, as libprocess's `system` process serves them in Mesos: the machine's
//! CPU count, load averages and memory, read from `/proc` when the snapshot is taken.
//! A value that cannot be read is left at 0 rather than failing the snapshot.

use crate::metrics::Metrics;

/// `system/load_1min` ... from `/proc/loadavg`'s first three fields.
pub fn load_averages(loadavg: &str) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (slot, field) in out.iter_mut().zip(loadavg.split_whitespace()) {
        *slot = field.parse().unwrap_or(0.0);
    }
    out
}

/// A `/proc/meminfo` field (`MemTotal`, `MemFree`) in bytes.
pub fn meminfo_bytes(meminfo: &str, field: &str) -> f64 {
    meminfo
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib.saturating_mul(1024) as f64)
        })
        .unwrap_or(0.0)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Registers the `system/*` gauges.
pub fn register(m: &Metrics) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    m.gauge_fn("system/cpus_total", move || cpus as f64);
    for (i, name) in ["load_1min", "load_5min", "load_15min"]
        .into_iter()
        .enumerate()
    {
        m.gauge_fn(&format!("system/{name}"), move || {
            load_averages(&read("/proc/loadavg"))[i]
        });
    }
    m.gauge_fn("system/mem_total_bytes", || {
        meminfo_bytes(&read("/proc/meminfo"), "MemTotal")
    });
    m.gauge_fn("system/mem_free_bytes", || {
        meminfo_bytes(&read("/proc/meminfo"), "MemFree")
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse_into_load_averages_and_memory_bytes() {
        assert_eq!(
            load_averages("0.52 0.58 0.59 1/467 12345\n"),
            [0.52, 0.58, 0.59]
        );
        assert_eq!(load_averages(""), [0.0; 3]);
        let meminfo = "MemTotal:       24576000 kB\nMemFree:         1024 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemTotal"), 24_576_000.0 * 1024.0);
        assert_eq!(meminfo_bytes(meminfo, "MemFree"), 1024.0 * 1024.0);
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable"), 0.0);
    }

    #[test]
    fn system_gauges_are_in_the_snapshot() {
        let m = Metrics::default();
        register(&m);
        let s = m.snapshot();
        assert!(s["system/cpus_total"] >= 1.0);
        assert!(s["system/mem_total_bytes"] > 0.0);
        for k in [
            "system/load_1min",
            "system/load_5min",
            "system/load_15min",
            "system/mem_free_bytes",
        ] {
            assert!(s.contains_key(k), "{k}");
        }
    }
}
