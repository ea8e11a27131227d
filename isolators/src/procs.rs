//! The processes of a container, from procfs: the tree rooted at the isolated pid.
//!
//! A process that calls `setsid` or changes its process group is still a descendant, so
//! walking parent links finds it. A process that double-forks is re-parented away from the
//! tree; [`ProcessTracker`] remembers every process it has seen in the container (by pid
//! and start time, so a recycled pid is not mistaken for it) and keeps counting it and its
//! descendants while it lives.

use std::collections::{HashMap, HashSet};

use mesos_proto::mesos::ResourceStatistics;

/// One process's counters, as read from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcSample {
    pub pid: i32,
    pub ppid: i32,
    pub starttime: u64,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub rss_pages: u64,
    pub threads: i64,
    pub zombie: bool,
}

/// Every process on the machine now (processes that vanish while reading are skipped).
pub fn snapshot() -> Vec<ProcSample> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.filter_map(Result::ok)
        .filter_map(|p| p.stat().ok())
        .map(|s| ProcSample {
            pid: s.pid,
            ppid: s.ppid,
            starttime: s.starttime,
            utime_ticks: s.utime,
            stime_ticks: s.stime,
            rss_pages: s.rss,
            threads: s.num_threads,
            zombie: s.state == 'Z',
        })
        .collect()
}

/// Follows one container's processes across polls.
#[derive(Clone, Debug)]
pub struct ProcessTracker {
    root: i32,
    /// pid → start time of every process seen in the container.
    known: HashMap<i32, u64>,
}

impl ProcessTracker {
    pub fn new(root: u32) -> Self {
        ProcessTracker {
            root: i32::try_from(root).unwrap_or(i32::MAX),
            known: HashMap::new(),
        }
    }

    pub fn root(&self) -> i32 {
        self.root
    }

    /// The container's live processes in `all`: descendants of the root and of every
    /// previously seen process that still runs (same pid, same start time).
    pub fn members(&mut self, all: &[ProcSample]) -> Vec<ProcSample> {
        let by_pid: HashMap<i32, &ProcSample> = all.iter().map(|p| (p.pid, p)).collect();
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for p in all {
            children.entry(p.ppid).or_default().push(p.pid);
        }
        let mut seeds = vec![self.root];
        seeds.extend(
            self.known
                .iter()
                .filter(|(pid, start)| by_pid.get(pid).is_some_and(|p| p.starttime == **start))
                .map(|(pid, _)| *pid),
        );
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while let Some(pid) = seeds.pop() {
            if !seen.insert(pid) {
                continue;
            }
            let Some(p) = by_pid.get(&pid) else { continue };
            out.push(**p);
            if let Some(kids) = children.get(&pid) {
                seeds.extend(kids.iter().copied());
            }
        }
        self.known = out.iter().map(|p| (p.pid, p.starttime)).collect();
        out
    }
}

/// Totals over a set of processes, in `ResourceStatistics` fields (cpu and memory).
pub fn statistics(members: &[ProcSample]) -> ResourceStatistics {
    let ticks = procfs::ticks_per_second().max(1) as f64;
    let page = procfs::page_size();
    let live: Vec<&ProcSample> = members.iter().filter(|p| !p.zombie).collect();
    let utime: u64 = members
        .iter()
        .map(|p| p.utime_ticks)
        .fold(0, u64::saturating_add);
    let stime: u64 = members
        .iter()
        .map(|p| p.stime_ticks)
        .fold(0, u64::saturating_add);
    let rss: u64 = live
        .iter()
        .map(|p| p.rss_pages.saturating_mul(page))
        .fold(0, u64::saturating_add);
    let threads: i64 = live.iter().map(|p| p.threads.max(0)).sum();
    ResourceStatistics {
        timestamp: crate::isolator::now_secs(),
        cpus_user_time_secs: Some(utime as f64 / ticks),
        cpus_system_time_secs: Some(stime as f64 / ticks),
        mem_rss_bytes: Some(rss),
        processes: Some(u32::try_from(live.len()).unwrap_or(u32::MAX)),
        threads: Some(u32::try_from(threads).unwrap_or(u32::MAX)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, start: u64) -> ProcSample {
        ProcSample {
            pid,
            ppid,
            starttime: start,
            utime_ticks: 1,
            stime_ticks: 1,
            rss_pages: 1,
            threads: 1,
            zombie: false,
        }
    }

    #[test]
    fn members_include_descendants_and_a_double_forked_process_seen_before() {
        let mut t = ProcessTracker::new(10);
        // 10 → 11 → 12; 99 is unrelated.
        let first = vec![
            p(1, 0, 0),
            p(10, 1, 5),
            p(11, 10, 6),
            p(12, 11, 7),
            p(99, 1, 8),
        ];
        let mut pids: Vec<i32> = t.members(&first).iter().map(|p| p.pid).collect();
        pids.sort();
        assert_eq!(pids, vec![10, 11, 12]);
        // 11 exits; 12 is re-parented to init (a double fork) and forks 13.
        let second = vec![
            p(1, 0, 0),
            p(10, 1, 5),
            p(12, 1, 7),
            p(13, 12, 9),
            p(99, 1, 8),
        ];
        let mut pids: Vec<i32> = t.members(&second).iter().map(|p| p.pid).collect();
        pids.sort();
        assert_eq!(pids, vec![10, 12, 13]);
    }

    #[test]
    fn a_recycled_pid_is_not_counted_as_the_old_member() {
        let mut t = ProcessTracker::new(10);
        t.members(&[p(10, 1, 5), p(12, 10, 7)]);
        // 12 died and its pid now belongs to an unrelated process started later.
        let pids: Vec<i32> = t
            .members(&[p(10, 1, 5), p(12, 1, 70)])
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(pids, vec![10]);
    }

    #[test]
    fn the_tree_of_a_real_child_is_found_in_procfs() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .expect("spawn sh");
        let mut tracker = ProcessTracker::new(child.id());
        let mut found = 0;
        for _ in 0..200 {
            found = tracker.members(&snapshot()).len();
            if found == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        for pid in tracker.known.keys() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        assert_eq!(found, 3, "sh and its two sleeps");
    }
}
