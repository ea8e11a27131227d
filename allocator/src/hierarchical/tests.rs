use super::*;

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").expect("valid resources")
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const AGENT: &str = "cpus:2;mem:1024;disk:4096;ports:[31000-32000]";

fn allocator() -> HierarchicalAllocator {
    HierarchicalAllocator::new(AllocatorConfig::default())
}

fn ids(allocs: &[Allocation]) -> Vec<(String, String, String)> {
    allocs
        .iter()
        .map(|a| (a.framework_id.clone(), a.agent_id.clone(), a.role.clone()))
        .collect()
}

#[test]
fn a_single_framework_is_offered_every_agent_whole() {
    let mut al = allocator();
    let now = Instant::now();
    al.add_framework("f1", &roles(&["web"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    al.add_agent("a2", res(AGENT), &[]);
    let out = al.allocate(now, None);
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|a| a.framework_id == "f1" && a.role == "web" && a.resources == res(AGENT)));
    // Nothing left: the next run offers nothing.
    assert!(al.allocate(now, None).is_empty());
    assert!(al.available("a1").unwrap().is_empty());
}

#[test]
fn frameworks_alternate_in_drf_order() {
    let mut al = allocator();
    let now = Instant::now();
    for f in ["f1", "f2"] {
        al.add_framework(f, &roles(&["r"]), &[], true);
    }
    for a in ["a1", "a2", "a3", "a4"] {
        al.add_agent(a, res(AGENT), &[]);
    }
    let out = al.allocate(now, None);
    assert_eq!(
        ids(&out)
            .into_iter()
            .map(|(f, a, _)| (f, a))
            .collect::<Vec<_>>(),
        vec![
            ("f1".into(), "a1".into()),
            ("f2".into(), "a2".into()),
            ("f1".into(), "a3".into()),
            ("f2".into(), "a4".into())
        ]
    );
}

#[test]
fn roles_share_by_weight_before_frameworks_within_a_role() {
    let mut config = AllocatorConfig::default();
    config.role_weights.insert("heavy".into(), 2.0);
    let mut al = HierarchicalAllocator::new(config);
    let now = Instant::now();
    al.add_framework("h", &roles(&["heavy"]), &[], true);
    al.add_framework("l", &roles(&["light"]), &[], true);
    for i in 0..6 {
        al.add_agent(&format!("a{i}"), res(AGENT), &[]);
    }
    let out = al.allocate(now, None);
    let heavy = out.iter().filter(|a| a.role == "heavy").count();
    let light = out.iter().filter(|a| a.role == "light").count();
    assert_eq!((heavy, light), (4, 2));
    assert!((al.role_share("heavy") - 4.0 / 6.0).abs() < 1e-9);
}

#[test]
fn declined_resources_with_a_filter_are_not_reoffered_until_it_expires() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    assert_eq!(out.len(), 1);
    al.recover(
        "f1",
        "a1",
        &out[0].resources,
        Some(Duration::from_secs(5)),
        t0,
    );
    assert!(al.allocate(t0 + Duration::from_secs(1), None).is_empty());
    assert_eq!(
        al.explain("f1"),
        Explanation::Filtered {
            agents: vec!["a1".into()],
            count: 1
        }
    );
    assert!(al
        .allocate(t0 + Duration::from_millis(4999), None)
        .is_empty());
    let again = al.allocate(t0 + Duration::from_secs(5), None);
    assert_eq!(ids(&again), vec![("f1".into(), "a1".into(), "r".into())]);
}

#[test]
fn a_filtered_framework_lets_the_next_one_have_the_agent() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_framework("f2", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    assert_eq!(out[0].framework_id, "f1");
    al.recover(
        "f1",
        "a1",
        &out[0].resources,
        Some(Duration::from_secs(5)),
        t0,
    );
    let out = al.allocate(t0, None);
    assert_eq!(ids(&out), vec![("f2".into(), "a1".into(), "r".into())]);
}

#[test]
fn a_filter_does_not_cover_more_resources_than_were_refused() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[("f1".into(), res("cpus:1;mem:512"))]);
    let out = al.allocate(t0, None);
    assert_eq!(
        out[0].resources,
        res("cpus:1;mem:512;disk:4096;ports:[31000-32000]")
    );
    al.recover(
        "f1",
        "a1",
        &out[0].resources,
        Some(Duration::from_secs(5)),
        t0,
    );
    assert!(al.allocate(t0, None).is_empty());
    // A task finishes: the agent now has more than what was refused, so it is offered.
    al.recover("f1", "a1", &res("cpus:1;mem:512"), None, t0);
    assert_eq!(al.allocate(t0, None)[0].resources, res(AGENT));
}

#[test]
fn recovered_resources_without_filter_are_offered_again_at_once() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    al.recover("f1", "a1", &out[0].resources, None, t0);
    assert_eq!(al.allocate(t0, None).len(), 1);
}

#[test]
fn suppress_and_revive_per_framework_and_per_role() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["a", "b"]), &roles(&["a"]), true);
    al.add_agent("x1", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    assert_eq!(ids(&out), vec![("f1".into(), "x1".into(), "b".into())]);
    al.recover("f1", "x1", &out[0].resources, None, t0);
    al.suppress("f1", &[]);
    assert!(al.allocate(t0, None).is_empty());
    assert_eq!(
        al.explain("f1"),
        Explanation::Suppressed {
            roles: roles(&["a", "b"])
        }
    );
    al.revive("f1", &roles(&["a"]));
    let out = al.allocate(t0, None);
    assert_eq!(ids(&out), vec![("f1".into(), "x1".into(), "a".into())]);
}

#[test]
fn revive_clears_refuse_filters() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    al.recover(
        "f1",
        "a1",
        &out[0].resources,
        Some(Duration::from_secs(3600)),
        t0,
    );
    assert!(al.allocate(t0, None).is_empty());
    al.revive("f1", &[]);
    assert_eq!(al.allocate(t0, None).len(), 1);
}

#[test]
fn multi_role_framework_gets_allocations_in_each_role() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["a", "b"]), &[], true);
    al.add_agent("x1", res(AGENT), &[]);
    al.add_agent("x2", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    let mut got: Vec<String> = out.iter().map(|a| a.role.clone()).collect();
    got.sort();
    assert_eq!(got, roles(&["a", "b"]));
    assert_eq!(al.allocations_of("f1").len(), 2);
}

#[test]
fn reserved_resources_go_only_to_their_role() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("other", &roles(&["other"]), &[], true);
    al.add_framework("db", &roles(&["db"]), &[], true);
    al.add_agent("x1", res("cpus:1;mem:256;cpus(db):2;mem(db):512"), &[]);
    let out = al.allocate(t0, None);
    // "db" sorts first (name tie-break) and takes unreserved plus its reservation.
    assert_eq!(ids(&out), vec![("db".into(), "x1".into(), "db".into())]);
    assert_eq!(out[0].resources.cpus(), 3.0);

    let mut al = allocator();
    al.add_framework("other", &roles(&["other"]), &[], true);
    al.add_framework("zdb", &roles(&["zdb"]), &[], true);
    al.add_agent("x1", res("cpus:1;mem:256;cpus(zdb):2;mem(zdb):512"), &[]);
    let out = al.allocate(t0, None);
    // "other" goes first and gets only the unreserved part; zdb still gets its reservation.
    assert_eq!(
        ids(&out),
        vec![
            ("other".into(), "x1".into(), "other".into()),
            ("zdb".into(), "x1".into(), "zdb".into())
        ]
    );
    assert_eq!(out[0].resources, res("cpus:1;mem:256"));
    assert_eq!(out[1].resources, res("cpus(zdb):2;mem(zdb):512"));
}

#[test]
fn inactive_frameworks_and_agents_get_nothing() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], false);
    al.add_agent("a1", res(AGENT), &[]);
    assert!(al.allocate(t0, None).is_empty());
    assert_eq!(al.explain("f1"), Explanation::Inactive);
    al.activate_framework("f1");
    al.deactivate_agent("a1");
    assert!(al.allocate(t0, None).is_empty());
    assert_eq!(al.explain("f1"), Explanation::NoAllocatableResources);
    al.activate_agent("a1");
    assert_eq!(al.allocate(t0, None).len(), 1);
    al.deactivate_framework("f1");
    al.add_agent("a2", res(AGENT), &[]);
    assert!(al.allocate(t0, None).is_empty());
}

#[test]
fn explain_tells_drf_losers_and_winners_apart() {
    let mut al = allocator();
    let t0 = Instant::now();
    assert_eq!(al.explain("nope"), Explanation::UnknownFramework);
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_framework("f2", &roles(&["r"]), &[], true);
    assert_eq!(al.explain("f1"), Explanation::NotYetAllocated);
    al.add_agent("a1", res(AGENT), &[]);
    al.allocate(t0, None);
    assert_eq!(
        al.explain("f1"),
        Explanation::Allocated {
            agents: vec!["a1".into()],
            count: 1
        }
    );
    assert_eq!(
        al.explain("f2"),
        Explanation::BelowOthersInDrfOrder {
            granted_to_others: 1
        }
    );
    al.add_framework("f3", &roles(&[]), &[], true);
    al.allocate(t0, None);
    assert_eq!(al.explain("f3"), Explanation::NoRoles);
    assert!(al.explain("f2").to_string().contains("no agent"));
}

#[test]
fn only_given_agents_are_considered_in_event_driven_runs() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    al.add_agent("a2", res(AGENT), &[]);
    let out = al.allocate(t0, Some(&["a2".to_string(), "missing".to_string()]));
    assert_eq!(ids(&out), vec![("f1".into(), "a2".into(), "r".into())]);
}

#[test]
fn removing_an_agent_releases_its_allocations_from_the_shares() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    al.add_agent("a2", res(AGENT), &[]);
    al.allocate(t0, Some(&["a1".to_string()]));
    assert!((al.role_share("r") - 0.5).abs() < 1e-9);
    al.remove_agent("a1");
    assert_eq!(al.role_share("r"), 0.0);
    assert!(al.allocations_of("f1").is_empty());
    assert_eq!(al.agent_count(), 1);
    assert_eq!(al.allocate(t0, None)[0].agent_id, "a2");
}

#[test]
fn removing_a_framework_returns_what_it_held() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_framework("f2", &roles(&["s"]), &[], true);
    al.add_agent("a1", res(AGENT), &[]);
    assert_eq!(al.allocate(t0, None)[0].framework_id, "f1");
    al.remove_framework("f1");
    assert_eq!(al.explain("f1"), Explanation::UnknownFramework);
    assert_eq!(al.allocate(t0, None)[0].framework_id, "f2");
    // Recovering for a removed framework is a no-op, never a double credit.
    al.recover("f1", "a1", &res(AGENT), None, t0);
    assert!(al.allocate(t0, None).is_empty());
}

#[test]
fn used_resources_of_an_unknown_framework_are_charged_until_recovered() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_agent("a1", res(AGENT), &[("old".into(), res("cpus:1;mem:512"))]);
    assert!((al.role_share("*") - 0.5).abs() < 1e-9);
    al.add_framework("f1", &roles(&["r"]), &[], true);
    let out = al.allocate(t0, None);
    assert_eq!(ids(&out), vec![("f1".into(), "a1".into(), "r".into())]);
    assert_eq!(
        out[0].resources,
        res("cpus:1;mem:512;disk:4096;ports:[31000-32000]")
    );
    assert_eq!(al.explain("old"), Explanation::UnknownFramework);
    // The framework re-registers and its task ends: the resources come back.
    al.add_framework("old", &roles(&["r"]), &[], true);
    al.recover("old", "a1", &res("cpus:1;mem:512"), None, t0);
    assert_eq!(al.available("a1").unwrap(), &res("cpus:1;mem:512"));
    assert_eq!(al.role_share("*"), 0.0);
}

#[test]
fn updating_an_agent_keeps_allocations_and_changes_availability() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["r"]), &[], true);
    al.add_agent(
        "a1",
        res("cpus:2;mem:1024"),
        &[("f1".into(), res("cpus:1"))],
    );
    al.update_agent("a1", res("cpus:4;mem:1024"));
    assert_eq!(al.available("a1").unwrap(), &res("cpus:3;mem:1024"));
    assert_eq!(al.allocate(t0, None)[0].resources, res("cpus:3;mem:1024"));
}

#[test]
fn update_framework_moves_offers_to_the_new_role() {
    let mut al = allocator();
    let t0 = Instant::now();
    al.add_framework("f1", &roles(&["a"]), &[], true);
    al.update_framework("f1", &roles(&["b"]), &[]);
    al.add_agent("x", res(AGENT), &[]);
    let out = al.allocate(t0, None);
    assert_eq!(ids(&out), vec![("f1".into(), "x".into(), "b".into())]);
}
