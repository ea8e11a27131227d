//! Metrics registry: counters, gauges and timers, rendered flat as `/metrics/snapshot` is.
//!
//! Names follow Mesos (`master/tasks_running`, `libprocess/...`). Timers keep a window of
//! recent samples and report `<name>_ms/count`, `/min`, `/max`, `/p50`, `/p90`, `/p99`, `/p9999`
//! and so on, like libprocess's `Timer` statistics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that is set, not accumulated.
#[derive(Clone, Default, Debug)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

const TIMER_WINDOW: usize = 1000;

/// Durations with percentile statistics over the last samples.
#[derive(Clone, Default)]
pub struct Timer(Arc<Mutex<TimerState>>);

#[derive(Default)]
struct TimerState {
    count: u64,
    window: VecDeque<f64>,
}

impl Timer {
    pub fn record(&self, d: Duration) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.count += 1;
        if s.window.len() == TIMER_WINDOW {
            s.window.pop_front();
        }
        s.window.push_back(d.as_secs_f64() * 1000.0);
    }

    fn render(&self, name: &str, out: &mut BTreeMap<String, f64>) {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        out.insert(format!("{name}_ms/count"), s.count as f64);
        let mut v: Vec<f64> = s.window.iter().copied().collect();
        if v.is_empty() {
            return;
        }
        v.sort_by(f64::total_cmp);
        out.insert(format!("{name}_ms"), *v.last().unwrap_or(&0.0));
        out.insert(format!("{name}_ms/min"), v[0]);
        out.insert(format!("{name}_ms/max"), v[v.len() - 1]);
        for (label, q) in [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p95", 0.95),
            ("p99", 0.99),
            ("p999", 0.999),
            ("p9999", 0.9999),
        ] {
            out.insert(format!("{name}_ms/{label}"), percentile(&v, q));
        }
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

/// All metrics of one runtime.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Registry>>);

#[derive(Default)]
struct Registry {
    counters: BTreeMap<String, Counter>,
    gauges: BTreeMap<String, Gauge>,
    gauge_fns: BTreeMap<String, GaugeFn>,
    timers: BTreeMap<String, Timer>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The counter with this name, created at zero on first use.
    pub fn counter(&self, name: &str) -> Counter {
        self.with(|r| r.counters.entry(name.to_string()).or_default().clone())
    }

    pub fn gauge(&self, name: &str) -> Gauge {
        self.with(|r| r.gauges.entry(name.to_string()).or_default().clone())
    }

    /// A gauge computed when the snapshot is taken.
    pub fn gauge_fn(&self, name: &str, f: impl Fn() -> f64 + Send + Sync + 'static) {
        self.with(|r| r.gauge_fns.insert(name.to_string(), Arc::new(f)));
    }

    pub fn timer(&self, name: &str) -> Timer {
        self.with(|r| r.timers.entry(name.to_string()).or_default().clone())
    }

    /// Every metric, flat, as `/metrics/snapshot` renders them.
    pub fn snapshot(&self) -> BTreeMap<String, f64> {
        let (counters, gauges, fns, timers) = self.with(|r| {
            (
                r.counters.clone(),
                r.gauges.clone(),
                r.gauge_fns.clone(),
                r.timers.clone(),
            )
        });
        let mut out = BTreeMap::new();
        for (k, c) in counters {
            out.insert(k, c.get() as f64);
        }
        for (k, g) in gauges {
            out.insert(k, g.get());
        }
        // Gauge functions run outside the registry lock: they may read other metrics.
        for (k, f) in fns {
            out.insert(k, f());
        }
        for (k, t) in timers {
            t.render(&k, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_timers_appear_in_the_snapshot() {
        let m = Metrics::default();
        m.counter("a/b").inc();
        m.counter("a/b").add(2);
        m.gauge("g").set(1.5);
        m.gauge_fn("f", || 7.0);
        let t = m.timer("t");
        for ms in 1..=100 {
            t.record(Duration::from_millis(ms));
        }
        let s = m.snapshot();
        assert_eq!(s["a/b"], 3.0);
        assert_eq!(s["g"], 1.5);
        assert_eq!(s["f"], 7.0);
        assert_eq!(s["t_ms/count"], 100.0);
        assert!((s["t_ms/p50"] - 50.0).abs() < 1e-6);
        assert!((s["t_ms/p99"] - 99.0).abs() < 1e-6);
        assert!((s["t_ms/max"] - 100.0).abs() < 1e-6);
        assert!((s["t_ms/min"] - 1.0).abs() < 1e-6);
        assert!((s["t_ms/p9999"] - 100.0).abs() < 1e-6);
    }
}
