//! The simulator against real masters over loopback: 200 simulated agents and 2 frameworks
//! against our master (in this process), a failover to a second master of ours, and the same
//! cluster against the genuine Mesos 1.11 master (SKIPPED without `../shared`).

use std::sync::Arc;
use std::time::Duration;

use libprocess::{Config, Upid};
use mesos_simulator::{SimConfig, Simulation};
use mesos_tests::native::{free_port, genuine, http_get, start_genuine_master, wait_http_ok};
use mesos_tests::poll_until;

const AGENTS: usize = 200;
const FRAMEWORKS: usize = 2;
const TASKS_PER_FRAMEWORK: usize = 500;
const WAIT: Duration = Duration::from_secs(120);

fn sim_config() -> SimConfig {
    SimConfig {
        agents: AGENTS,
        frameworks: FRAMEWORKS,
        tasks_per_framework: TASKS_PER_FRAMEWORK,
        tasks_per_agent: 5,
        registration_rate: 1000.0,
        // Four runtimes (ports): masters see four agent addresses.
        agents_per_runtime: 50,
        ..SimConfig::default()
    }
}

/// What `/master/state` reports: (agents, active frameworks, RUNNING tasks).
fn state_counts(port: u16) -> Option<(usize, usize, usize)> {
    let (status, body) = http_get(port, "/master/state").ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let agents = v.get("slaves")?.as_array()?.len();
    let frameworks = v.get("frameworks")?.as_array()?;
    let running = frameworks
        .iter()
        .filter_map(|f| f.get("tasks")?.as_array())
        .flatten()
        .filter(|t| t.get("state").and_then(|s| s.as_str()) == Some("TASK_RUNNING"))
        .count();
    Some((agents, frameworks.len(), running))
}

fn our_master() -> mesos_master::MasterHandle {
    let flags = mesos_master::Flags::parse_from_args([
        "mesos-master",
        "--port=0",
        "--allocation_interval=100ms",
    ])
    .expect("flags");
    mesos_master::start(flags).expect("master")
}

/// Waits until the master's state shows every agent, framework and task, and the
/// simulator saw every task running; panics with both views otherwise.
fn wait_for_cluster(sim: &Simulation, port: u16, who: &str) {
    let target = AGENTS;
    let tasks = FRAMEWORKS * TASKS_PER_FRAMEWORK;
    let ok = poll_until(WAIT, || {
        state_counts(port) == Some((target, FRAMEWORKS, tasks))
            && sim
                .stats
                .tasks_running
                .load(std::sync::atomic::Ordering::Relaxed)
                == tasks as u64
    });
    assert!(
        ok,
        "{who}: /master/state shows {:?} (agents, frameworks, running tasks), expected {:?}; simulator: {}",
        state_counts(port),
        (target, FRAMEWORKS, tasks),
        sim.stats.progress_line()
    );
}

#[test]
fn simulated_agents_and_frameworks_fill_our_master_and_reregister_with_their_tasks_on_a_new_master()
{
    let first = our_master();
    let port = first.address().port();
    let sim = Arc::new(Simulation::start(Config::local(), sim_config()).expect("simulation"));
    sim.master_detected(first.upid().clone());
    wait_for_cluster(&sim, port, "our master");

    // A new master takes over (as after a leader change): every agent re-registers with its
    // tasks, every framework re-subscribes with its id, and nothing is lost.
    let second = our_master();
    let second_port = second.address().port();
    sim.master_detected(second.upid().clone());
    assert!(
        poll_until(WAIT, || sim.stats.failover_done().is_some()),
        "failover never completed: {}",
        sim.stats.progress_line()
    );
    let report = sim.stats.failover_done().expect("report");
    assert_eq!(report.agents_reregistered, AGENTS);
    assert_eq!(report.frameworks_resubscribed, FRAMEWORKS);
    wait_for_cluster(&sim, second_port, "our second master");
    println!(
        "failover to a second master: agents re-registered in {:?}, frameworks in {:?}",
        report.agents_done, report.frameworks_done
    );
    sim.shutdown();
    first.shutdown();
    second.shutdown();
}

#[test]
fn simulated_agents_and_frameworks_fill_the_genuine_master() {
    let test = "simulated_agents_and_frameworks_fill_the_genuine_master";
    let Some(native) = genuine(test) else {
        return;
    };
    let port = free_port();
    let mut master = start_genuine_master(&native, port, 600);
    if let Err(e) = wait_http_ok(port, "/master/health", Duration::from_secs(60)) {
        panic!("genuine master not up: {e}\n{}", master.stderr_tail(30));
    }
    let sim = Arc::new(Simulation::start(Config::local(), sim_config()).expect("simulation"));
    let upid = Upid::parse(&format!("master@127.0.0.1:{port}")).expect("upid");
    sim.master_detected(upid);
    let target = AGENTS;
    let tasks = FRAMEWORKS * TASKS_PER_FRAMEWORK;
    let ok = poll_until(WAIT, || {
        state_counts(port) == Some((target, FRAMEWORKS, tasks))
            && sim
                .stats
                .tasks_running
                .load(std::sync::atomic::Ordering::Relaxed)
                == tasks as u64
    });
    let seen = state_counts(port);
    let tail = master.stderr_tail(30);
    sim.shutdown();
    master.kill();
    assert!(
        ok,
        "genuine master: /master/state shows {seen:?}, expected {:?}; simulator: {}\n{tail}",
        (target, FRAMEWORKS, tasks),
        sim.stats.progress_line()
    );
}
