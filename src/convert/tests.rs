//! Mapping details of `convert`, one upstream snippet at a time.

use super::*;
use crate::api::{Namespaces, WhenUnsatisfiable};

fn ok(yaml: &str) -> Conversion {
    convert(yaml, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(yaml: &str) -> String {
    match convert(yaml, &ConvertOptions::default()) {
        Ok(c) => panic!("converted: {:?}", c.policies),
        Err(e) => e.to_string(),
    }
}

/// A v1alpha2 policy with one profile `p` and the given pluginConfig and plugins blocks.
fn v2(plugin_config: &str, plugins: &str) -> String {
    format!(
        "apiVersion: descheduler/v1alpha2\nkind: DeschedulerPolicy\nprofiles:\n- name: p\n  pluginConfig: {plugin_config}\n  plugins: {plugins}\n"
    )
}

fn only(c: &Conversion) -> &DeschedulerPolicySpec {
    assert_eq!(c.policies.len(), 1);
    &c.policies[0].spec
}

#[test]
fn profile_names_become_object_names() {
    assert_eq!(object_name("Spreading"), "spreading");
    assert_eq!(object_name("batch_nodes"), "batch-nodes");
    assert_eq!(object_name("--Edge.Case x--"), "edge-case-x");
    assert_eq!(object_name("日本"), "");
    assert_eq!(object_name(&"a".repeat(300)).len(), 253);
}

#[test]
fn a_profile_name_without_letters_or_digits_is_an_error() {
    let y = v2("[]", "{}").replace("name: p", "name: '__'");
    assert!(err(&y).starts_with("profiles[0].name: "), "{}", err(&y));
}

#[test]
fn an_enabled_plugin_without_config_takes_upstream_defaults() {
    let c = ok(&v2("[]", "{balance: {enabled: [RemoveDuplicates]}}"));
    let rd = only(&c).strategies.remove_duplicates.as_ref().unwrap();
    assert_eq!(rd.enabled, None);
    assert_eq!(rd.params, None);
    // ...and a plugin whose args upstream requires says where they belong.
    let e = err(&v2(
        "[]",
        "{deschedule: {enabled: [RemovePodsViolatingNodeAffinity]}}",
    ));
    assert!(
        e.starts_with("profiles[0].pluginConfig.RemovePodsViolatingNodeAffinity.args.nodeAffinityType: must be set"),
        "{e}"
    );
}

#[test]
fn remove_failed_pods_gets_upstreams_hour_written_out() {
    let c = ok(&v2(
        "[{name: RemoveFailedPods}]",
        "{deschedule: {enabled: [RemoveFailedPods]}}",
    ));
    let p = only(&c).strategies.remove_failed_pods.as_ref().unwrap();
    let fp = p.params.as_ref().unwrap().failed_pods.as_ref().unwrap();
    assert_eq!(fp.min_pod_lifetime_seconds, Some(3600));
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("minPodLifetimeSeconds set to 3600")),
        "{:?}",
        c.notes
    );
}

#[test]
fn evictor_label_selector_is_anded_with_the_plugins_own() {
    let c = ok(&v2(
        "[{name: DefaultEvictor, args: {labelSelector: {matchLabels: {team: a}}, nodeFit: true, priorityThreshold: {value: 7}}}, {name: PodLifeTime, args: {maxPodLifeTimeSeconds: 60, labelSelector: {matchLabels: {app: x}}}}]",
        "{deschedule: {enabled: [PodLifeTime]}}",
    ));
    let p = only(&c)
        .strategies
        .pod_life_time
        .as_ref()
        .unwrap()
        .params
        .as_ref()
        .unwrap();
    let labels = p
        .label_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(p.node_fit, Some(true));
    assert_eq!(p.threshold_priority, Some(7));
}

#[test]
fn topology_constraints_use_include_soft_constraints_where_it_can_say_it() {
    let spec = |constraints: &str| {
        let c = ok(&v2(
            &format!(
                "[{{name: RemovePodsViolatingTopologySpreadConstraint, args: {{constraints: {constraints}}}}}]"
            ),
            "{balance: {enabled: [RemovePodsViolatingTopologySpreadConstraint]}}",
        ));
        let s = only(&c)
            .strategies
            .remove_pods_violating_topology_spread_constraint
            .clone()
            .unwrap();
        s.params.unwrap_or_default()
    };
    let both = spec("[ScheduleAnyway, DoNotSchedule]");
    assert_eq!(
        (both.include_soft_constraints, both.constraints),
        (Some(true), None)
    );
    let hard = spec("[DoNotSchedule]");
    assert_eq!(
        (hard.include_soft_constraints, hard.constraints),
        (Some(false), None)
    );
    let soft = spec("[ScheduleAnyway]");
    assert_eq!(
        soft.constraints,
        Some(vec![WhenUnsatisfiable::ScheduleAnyway])
    );
    let none = spec("[]");
    assert_eq!(
        (none.include_soft_constraints, none.constraints),
        (None, None)
    );
    let e = err(&v2(
        "[{name: RemovePodsViolatingTopologySpreadConstraint, args: {constraints: [Sometimes]}}]",
        "{balance: {enabled: [RemovePodsViolatingTopologySpreadConstraint]}}",
    ));
    assert!(
        e.starts_with("profiles[0].pluginConfig[0].args.constraints[0]: unknown variant"),
        "{e}"
    );
}

#[test]
fn low_node_utilization_rules_name_the_upstream_field() {
    let lnu = |args: &str| {
        v2(
            &format!("[{{name: LowNodeUtilization, args: {args}}}]"),
            "{balance: {enabled: [LowNodeUtilization]}}",
        )
    };
    let c = ok(&lnu(
        "{thresholds: {cpu: 10}, targetThresholds: {cpu: 50}, evictableNamespaces: {exclude: [kube-system]}}",
    ));
    let p = only(&c)
        .strategies
        .low_node_utilization
        .as_ref()
        .unwrap()
        .params
        .as_ref()
        .unwrap();
    assert_eq!(
        p.namespaces,
        Some(Namespaces {
            include: None,
            exclude: Some(vec!["kube-system".into()])
        })
    );
    let e = err(&lnu("{thresholds: {cpu: 60}, targetThresholds: {cpu: 50}}"));
    assert!(
        e.starts_with("profiles[0].pluginConfig[0].args.thresholds.cpu: 60 is greater"),
        "{e}"
    );
    let e = err(&lnu(
        "{thresholds: {cpu: 10, memory: 10}, targetThresholds: {cpu: 50}}",
    ));
    assert!(e.contains("profiles[0].pluginConfig[0].args.targetThresholds: thresholds and targetThresholds must name the same resources"), "{e}");
    let e = err(&lnu("{targetThresholds: {cpu: 50}}"));
    assert!(
        e.contains("args.thresholds: no resource threshold is configured"),
        "{e}"
    );
    // Deviation thresholds may be above their targets.
    ok(&lnu(
        "{useDeviationThresholds: true, thresholds: {cpu: 60}, targetThresholds: {cpu: 50}}",
    ));
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = err(&v2(
        "[{name: PodLifeTime, args: {maxPodLifeTimeSeconds: 10, bogus: 1}}, {name: RemovePodsHavingTooManyRestarts}]",
        "{deschedule: {enabled: [PodLifeTime, RemovePodsHavingTooManyRestarts, Nope]}}",
    ));
    assert!(e.starts_with("3 problems:"), "{e}");
    assert!(
        e.contains("profiles[0].pluginConfig[0].args.bogus: unknown field"),
        "{e}"
    );
    assert!(
        e.contains("profiles[0].pluginConfig[1].args.podRestartThreshold"),
        "{e}"
    );
    assert!(
        e.contains("profiles[0].plugins.deschedule.enabled[2]: plugin \"Nope\""),
        "{e}"
    );
}

#[test]
fn unknown_top_level_and_profile_fields_are_errors() {
    let y = v2("[]", "{}")
        .replace("profiles:", "dryRun: true\nprofiles:")
        .replace("  plugins: {}", "  plugins: {}\n  weight: 2");
    let e = err(&y);
    assert!(e.contains("dryRun: unknown field"), "{e}");
    assert!(e.contains("profiles[0].weight: unknown field"), "{e}");
}

#[test]
fn our_validation_errors_name_the_upstream_field() {
    let y = v2(
        "[{name: RemoveDuplicates}]",
        "{balance: {enabled: [RemoveDuplicates]}}",
    )
    .replace("profiles:", "nodeSelector: 'a in ('\nprofiles:");
    let e = err(&y);
    assert!(e.contains("\"p\" is not valid here"), "{e}");
    assert!(e.contains("\n  - nodeSelector: "), "{e}");
    let v1 = "apiVersion: descheduler/v1alpha1\nkind: DeschedulerPolicy\nstrategies:\n  LowNodeUtilization:\n    enabled: true\n    params:\n      nodeResourceUtilizationThresholds:\n        thresholds: {cpu: 120}\n        targetThresholds: {cpu: 130}\n";
    let e = err(v1);
    assert!(
        e.contains(
            "strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.cpu"
        ),
        "{e}"
    );
    assert!(!e.contains("spec."), "{e}");
}

#[test]
fn upstream_path_takes_the_longest_known_prefix() {
    let origins = vec![
        (
            "spec.strategies.X.params".to_string(),
            At::root("profiles[0].pluginConfig[1].args"),
        ),
        (
            "spec.strategies.X.params.nested".to_string(),
            At::root("profiles[0].pluginConfig[1].args"),
        ),
    ];
    assert_eq!(
        upstream_path("spec.strategies.X.params.nested.field", &origins),
        "profiles[0].pluginConfig[1].args.field"
    );
    assert_eq!(
        upstream_path("spec.strategies.X.params.nestedness", &origins),
        "profiles[0].pluginConfig[1].args.nestedness"
    );
    assert_eq!(upstream_path("spec.other", &origins), "spec.other");
}

#[test]
fn documents_that_are_not_upstream_policies_are_refused() {
    let ours = "apiVersion: descheduler.dev/v1alpha1\nkind: DeschedulerPolicy\nmetadata: {name: x}\nspec: {}\n";
    assert!(
        err(ours).starts_with("apiVersion: this is already"),
        "{}",
        err(ours)
    );
    assert!(err("apiVersion: v1\nkind: Pod\n").starts_with("kind: \"Pod\""));
    assert!(
        err("apiVersion: descheduler/v1beta1\nkind: DeschedulerPolicy\n")
            .starts_with("apiVersion: \"descheduler/v1beta1\"")
    );
    assert!(err("").contains("nothing to convert"));
    assert!(err("- a\n- b\n").contains("expected a mapping"));
}

#[test]
fn v1alpha1_concatenates_pod_status_phases_and_states() {
    let c = ok(
        "apiVersion: descheduler/v1alpha1\nkind: DeschedulerPolicy\nstrategies:\n  PodLifeTime:\n    enabled: true\n    params:\n      podLifeTime: {maxPodLifeTimeSeconds: 5, podStatusPhases: [Pending], states: [Running, Pending]}\n",
    );
    let lt = only(&c)
        .strategies
        .pod_life_time
        .as_ref()
        .unwrap()
        .params
        .as_ref()
        .unwrap()
        .pod_life_time
        .clone()
        .unwrap();
    assert_eq!(
        lt.states,
        Some(vec![
            crate::api::PodState::Pending,
            crate::api::PodState::Running
        ])
    );
    assert_eq!(lt.pod_status_phases, None);
}

#[test]
fn v1alpha1_params_a_strategy_does_not_read_are_noted_not_kept() {
    let c = ok(
        "apiVersion: descheduler/v1alpha1\nkind: DeschedulerPolicy\nstrategies:\n  RemoveDuplicates:\n    enabled: true\n    params:\n      labelSelector: {matchLabels: {a: b}}\n      nodeAffinityType: [requiredDuringSchedulingIgnoredDuringExecution]\n",
    );
    let rd = only(&c).strategies.remove_duplicates.as_ref().unwrap();
    assert_eq!(rd.params, None);
    let notes: Vec<_> = c
        .notes
        .iter()
        .filter(|n| n.contains("does not read it"))
        .collect();
    assert_eq!(notes.len(), 2, "{:?}", c.notes);
    assert!(
        notes[0].starts_with("strategies.RemoveDuplicates.params."),
        "{notes:?}"
    );
}

#[test]
fn v1alpha1_utilization_namespaces_include_is_an_error() {
    let e = err(
        "apiVersion: descheduler/v1alpha1\nkind: DeschedulerPolicy\nstrategies:\n  HighNodeUtilization:\n    enabled: true\n    params:\n      namespaces: {include: [a]}\n      nodeResourceUtilizationThresholds: {thresholds: {cpu: 10}}\n",
    );
    assert!(
        e.starts_with("strategies.HighNodeUtilization.params.namespaces.include: "),
        "{e}"
    );
}

#[test]
fn policy_wide_evictor_options_land_on_the_spec() {
    let c = ok(&v2(
        "[{name: DefaultEvictor, args: {minReplicas: 2, minPodAge: 5m, noEvictionPolicy: Preferred, podProtections: {defaultDisabled: [SystemCriticalPods]}}}, {name: RemoveDuplicates}]",
        "{balance: {enabled: [RemoveDuplicates]}, filter: {enabled: [DefaultEvictor]}}",
    ));
    let s = only(&c);
    assert_eq!(s.min_replicas, Some(2));
    assert_eq!(s.min_pod_age.as_deref(), Some("5m"));
    assert_eq!(
        s.no_eviction_policy,
        Some(crate::api::NoEvictionPolicy::Preferred)
    );
    assert_eq!(s.evict_system_critical_pods, Some(true));
    assert_eq!(s.evict_local_storage_pods, None);
    assert_eq!(
        s.single_replica_strategy,
        Some(SingleReplicaStrategy::Evict)
    );
}

#[test]
fn an_unused_prometheus_provider_is_noted_with_its_url() {
    let y = v2("[{name: RemoveDuplicates}]", "{balance: {enabled: [RemoveDuplicates]}}").replace(
        "profiles:",
        "metricsProviders:\n- source: Prometheus\n  prometheus: {url: 'http://prom:9090'}\nprofiles:",
    );
    let c = ok(&y);
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("metricsProviders[0]: ")
                && n.contains("http://prom:9090")
                && n.contains("--prometheus-url")),
        "{:?}",
        c.notes
    );
    let dup = y.replace(
        "- source: Prometheus",
        "- source: KubernetesMetrics\n- source: KubernetesMetrics\n- source: Prometheus",
    );
    assert!(
        err(&dup)
            .contains("metricsProviders[1].source: \"KubernetesMetrics\" is already configured")
    );
}
