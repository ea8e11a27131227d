//! Times one full allocation cycle of the hierarchical allocator core, like Mesos's
//! allocator benchmark: uniform agents, frameworks that each want small tasks, every agent
//! free at the start of the cycle; then half the offers are declined and the next cycle timed.
//! Each figure is the median of three fresh runs. Prints a markdown table.
//!
//! `cargo run --release -p mesos-allocator --bin allocator-bench [-- --quick]`

use std::time::{Duration, Instant};

use mesos_allocator::{AllocatorConfig, HierarchicalAllocator, Resources};

const AGENT: &str = "cpus:2;mem:1024;disk:4096;ports:[31000-32000]";

fn run(agents: usize, frameworks: usize, agent: &Resources) -> (Duration, Duration, usize) {
    let mut al = HierarchicalAllocator::new(AllocatorConfig::default());
    for f in 0..frameworks {
        // A handful of roles, several frameworks in each, as Mesos's benchmark sets up.
        let role = format!("role{}", f % 10);
        al.add_framework(&format!("framework-{f}"), &[role], &[], true);
    }
    for a in 0..agents {
        al.add_agent(&format!("agent-{a}"), agent.clone(), &[]);
    }
    let now = Instant::now();
    let start = Instant::now();
    let first = al.allocate(now, None);
    let full = start.elapsed();
    // Every framework declines half of what it got: the next cycle re-offers those.
    for (i, alloc) in first.iter().enumerate() {
        if i % 2 == 0 {
            al.recover(
                &alloc.framework_id,
                &alloc.agent_id,
                &alloc.resources,
                None,
                now,
            );
        }
    }
    let start = Instant::now();
    let second = al.allocate(now, None);
    let partial = start.elapsed();
    assert_eq!(first.len(), agents);
    assert_eq!(second.len(), agents.div_ceil(2));
    (full, partial, first.len())
}

fn main() -> Result<(), mesos_allocator::ResourceError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let agent = Resources::parse(AGENT, "*")?;
    let agent_counts: &[usize] = if quick {
        &[1_000]
    } else {
        &[1_000, 10_000, 50_000]
    };
    println!(
        "| agents | frameworks | full cycle ms | cycle after half declined ms | allocations |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for &agents in agent_counts {
        for frameworks in [100, 1_000] {
            // Median of three fresh runs: the machine is shared and noisy.
            let mut runs: Vec<(Duration, Duration, usize)> =
                (0..3).map(|_| run(agents, frameworks, &agent)).collect();
            runs.sort();
            let (full, partial, n) = runs[1];
            println!(
                "| {agents} | {frameworks} | {:.1} | {:.1} | {n} |",
                full.as_secs_f64() * 1e3,
                partial.as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}
