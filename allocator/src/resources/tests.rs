use super::*;
use mesos_proto::mesos::resource::ReservationInfo;

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").expect("valid resources")
}

#[test]
fn text_syntax_parses_scalars_ranges_sets_and_roles() {
    let r = res("cpus:4;mem:8192;disk:1000;ports:[31000-32000];zones:{a,b}; cpus(web):2");
    assert_eq!(r.cpus(), 6.0);
    assert_eq!(r.mem(), 8192.0);
    assert_eq!(r.disk(), 1000.0);
    assert_eq!(r.ranges("ports").intervals(), &[(31000, 32000)]);
    assert_eq!(r.reserved_to("web").cpus(), 2.0);
    assert_eq!(r.unreserved().cpus(), 4.0);
    assert_eq!(
        r.to_string(),
        "cpus:4; mem:8192; disk:1000; ports:[31000-32000]; zones:{a, b}; cpus(web):2"
    );
}

#[test]
fn display_round_trips_through_parse() {
    let r = res("cpus:0.5;mem:32;ports:[1-2,5-9];cpus(a):1");
    assert_eq!(Resources::parse(&r.to_string(), "*").unwrap(), r);
}

#[test]
fn default_role_applies_to_items_without_a_role() {
    let r = Resources::parse("cpus:1;mem(*):10", "ops").unwrap();
    assert_eq!(r.reserved_to("ops").cpus(), 1.0);
    assert_eq!(r.unreserved().mem(), 10.0);
}

#[test]
fn repeated_names_are_added_and_type_conflicts_rejected() {
    assert_eq!(res("cpus:1;cpus:2.5").cpus(), 3.5);
    assert_eq!(
        res("ports:[1-3];ports:[4-6]").ranges("ports").intervals(),
        &[(1, 6)]
    );
    assert!(matches!(
        Resources::parse("cpus:1;cpus:[1-2]", "*"),
        Err(ResourceError::TypeConflict { .. })
    ));
}

#[test]
fn malformed_text_gives_typed_errors() {
    assert!(matches!(
        Resources::parse("cpus", "*"),
        Err(ResourceError::Syntax { .. })
    ));
    assert!(matches!(
        Resources::parse("cpus:abc", "*"),
        Err(ResourceError::Syntax { .. })
    ));
    assert!(matches!(
        Resources::parse("cpus:-1", "*"),
        Err(ResourceError::BadScalar { .. })
    ));
    assert!(matches!(
        Resources::parse("ports:[5-1]", "*"),
        Err(ResourceError::BadRange { .. })
    ));
    assert!(matches!(
        Resources::parse("ports:[1-2", "*"),
        Err(ResourceError::Syntax { .. })
    ));
    assert!(matches!(
        Resources::parse("cpus(:1", "*"),
        Err(ResourceError::Syntax { .. })
    ));
    assert!(matches!(
        Resources::parse("[{\"name\":\"cpus\"}", "*"),
        Err(ResourceError::Json(_))
    ));
}

#[test]
fn json_array_form_parses_with_both_reservation_formats() {
    let text = r#"[
        {"name":"cpus","type":"SCALAR","scalar":{"value":2}},
        {"name":"mem","type":"SCALAR","scalar":{"value":512},"role":"db"},
        {"name":"disk","type":"SCALAR","scalar":{"value":100},
         "reservations":[{"type":"DYNAMIC","role":"db","principal":"p"}]},
        {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":5}]}}
    ]"#;
    let r = Resources::parse(text, "*").unwrap();
    assert_eq!(r.unreserved().cpus(), 2.0);
    assert_eq!(r.reserved_to("db").mem(), 512.0);
    assert_eq!(r.reserved_to("db").disk(), 100.0);
    assert_eq!(r.ranges("ports").len(), 5);
    let defaulted = Resources::parse(
        r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]"#,
        "ops",
    )
    .unwrap();
    assert_eq!(defaulted.reserved_to("ops").cpus(), 1.0);
}

#[test]
#[allow(deprecated)]
fn pre_and_post_formats_of_the_same_reservation_are_one_resource() {
    let mut pre = res("cpus:1").to_protos().remove(0);
    pre.role = Some("db".into());
    pre.reservation = Some(ReservationInfo {
        principal: Some("p".into()),
        ..Default::default()
    });
    let mut post = res("cpus:2").to_protos().remove(0);
    let mut info = ReservationInfo {
        principal: Some("p".into()),
        role: Some("db".into()),
        ..Default::default()
    };
    info.set_type(reservation_info::Type::Dynamic);
    post.reservations = vec![info];
    let sum = Resources::from_protos(&[pre.clone(), post]).unwrap();
    assert_eq!(sum.entries().len(), 1);
    assert_eq!(sum.reserved_to("db").cpus(), 3.0);
    // And back to pre format for old frameworks.
    let back = sum.to_protos_pre();
    assert_eq!(back[0].role.as_deref(), Some("db"));
    assert_eq!(
        back[0]
            .reservation
            .as_ref()
            .and_then(|r| r.principal.as_deref()),
        Some("p")
    );
    let unreserved = res("cpus:1").to_protos_pre();
    assert_eq!(unreserved[0].role.as_deref(), Some("*"));
}

#[test]
#[allow(deprecated)]
fn invalid_protobuf_resources_are_rejected() {
    let mut r = res("cpus:1").to_protos().remove(0);
    r.scalar = None;
    assert!(matches!(
        Resources::from_protos(&[r.clone()]),
        Err(ResourceError::MissingValue { .. })
    ));
    assert!(Resources::from_protos_lossy(&[r]).is_empty());
    let mut mixed = res("cpus(a):1").to_protos().remove(0);
    mixed.role = Some("b".into());
    assert!(matches!(
        Resources::from_protos(&[mixed]),
        Err(ResourceError::MixedFormats { .. })
    ));
}

#[test]
fn subtracting_an_offered_port_leaves_the_rest_of_the_range() {
    let mut r = res("cpus:2;mem:1024;ports:[31000-32000]");
    r -= &res("cpus:0.5;mem:1024;ports:[31000-31000]");
    assert_eq!(r.to_string(), "cpus:1.5; ports:[31001-32000]");
    assert!(r.contains(&res("cpus:1.5;ports:[31001-31002]")));
    assert!(!r.contains(&res("ports:[31000-31000]")));
    assert!(!r.contains(&res("mem:1")));
}

#[test]
fn reserved_and_unreserved_are_distinct_for_containment() {
    let r = res("cpus:2;cpus(web):1");
    assert!(r.contains(&res("cpus:2")));
    assert!(!r.contains(&res("cpus:3")));
    assert!(r.contains(&res("cpus(web):1")));
    assert_eq!(r.allocatable_to("web").cpus(), 3.0);
    assert_eq!(r.allocatable_to("web/child").cpus(), 3.0);
    assert_eq!(r.allocatable_to("other").cpus(), 2.0);
    assert_eq!(r.reservation_roles(), vec!["web".to_string()]);
}

#[test]
fn addition_and_subtraction_are_inverse_with_fixed_point() {
    let base = res("cpus:1;mem:100");
    let tenth = res("cpus:0.1");
    let mut r = base.clone();
    for _ in 0..30 {
        r += &tenth;
    }
    for _ in 0..30 {
        r -= &tenth;
    }
    assert_eq!(r, base);
    assert_eq!(&(&base + &tenth) - &tenth, base);
}

#[test]
fn allocatable_needs_a_hundredth_of_a_cpu_or_32_mb() {
    assert!(res("cpus:0.01").allocatable(0.01, 32.0));
    assert!(res("mem:32").allocatable(0.01, 32.0));
    assert!(!res("cpus:0.009;mem:31;disk:1000").allocatable(0.01, 32.0));
    assert!(!Resources::new().allocatable(0.01, 32.0));
}

#[test]
fn state_json_always_has_the_four_scalars_and_renders_ranges_and_sets() {
    let r = res("cpus:4;mem:14873;ports:[31000-32000,1-2];zones:{b,a}");
    let mut rev = Entry::new("cpus", Value::Scalar(Fixed::from_f64(1.0)));
    rev.revocable = true;
    let mut r2 = r.clone();
    r2.add_entry(rev);
    let json = r2.to_state_json();
    assert_eq!(
        json,
        serde_json::json!({"cpus":4.0,"gpus":0.0,"mem":14873.0,"disk":0.0,
            "ports":"[1-2, 31000-32000]","zones":"{a, b}","cpus_revocable":1.0})
    );
    assert_eq!(
        Resources::new().to_state_json(),
        serde_json::json!({"cpus":0.0,"gpus":0.0,"mem":0.0,"disk":0.0})
    );
}

#[test]
fn offers_carry_the_allocation_role() {
    let protos = res("cpus:1").to_protos_allocated("web");
    assert_eq!(
        protos[0]
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref()),
        Some("web")
    );
    assert_eq!(protos[0].scalar.map(|s| s.value), Some(1.0));
}

#[test]
fn intersection_keeps_only_what_both_hold() {
    let a = res("cpus:2;mem:100;ports:[1-10];zones:{a,b}");
    let b = res("cpus:1;disk:5;ports:[5-20];zones:{b,c}");
    assert_eq!(
        a.intersection(&b).to_string(),
        "cpus:1; ports:[5-10]; zones:{b}"
    );
}

fn scalar_proto(name: &str, value: f64) -> Resource {
    let mut r = res(&format!("{name}:1")).to_protos().remove(0);
    r.scalar = Some(proto_value::Scalar { value });
    r
}

#[test]
fn scalars_that_are_nan_infinite_negative_or_beyond_the_maximum_are_rejected() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        assert!(matches!(
            Resources::from_protos(&[scalar_proto("cpus", bad)]),
            Err(ResourceError::BadScalar { .. })
        ));
    }
    let huge = Resources::from_protos(&[scalar_proto("cpus", 1e16)]);
    assert!(matches!(huge, Err(ResourceError::ScalarTooLarge { .. })));
    assert!(huge
        .unwrap_err()
        .to_string()
        .contains("exceeds the maximum"));
    assert!(Resources::from_protos(&[scalar_proto("mem", MAX_SCALAR)]).is_ok());
}

#[test]
fn sums_of_maximal_scalars_saturate_instead_of_overflowing() {
    let one = Resources::from_protos(&[scalar_proto("cpus", MAX_SCALAR)]).unwrap();
    let mut total = Resources::new();
    for _ in 0..20_000 {
        total += &one;
    }
    assert_eq!(total.quantities()[0].1, Fixed(i64::MAX));
}

#[test]
fn ranges_beginning_after_their_end_or_too_many_are_rejected() {
    let mut r = res("ports:[1-2]").to_protos().remove(0);
    r.ranges = Some(proto_value::Ranges {
        range: vec![proto_value::Range { begin: 9, end: 3 }],
    });
    assert!(matches!(
        Resources::from_protos(&[r.clone()]),
        Err(ResourceError::BadRange { .. })
    ));
    r.ranges = Some(proto_value::Ranges {
        range: (0..=MAX_RANGES as u64)
            .map(|i| proto_value::Range {
                begin: i * 2,
                end: i * 2,
            })
            .collect(),
    });
    assert!(matches!(
        Resources::from_protos(&[r]),
        Err(ResourceError::TooManyRanges { .. })
    ));
}

#[test]
fn the_length_of_a_full_u64_range_saturates() {
    let all = Ranges::new([(0, u64::MAX), (5, 9)]);
    assert_eq!(all.len(), u64::MAX);
    let two = Ranges::new([(0, u64::MAX - 1), (u64::MAX, u64::MAX)]);
    assert_eq!(two.len(), u64::MAX);
}
