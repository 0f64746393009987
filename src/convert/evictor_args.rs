//! Upstream's DefaultEvictor args (v0.36, incl. `podProtections`) and where
//! they go: pod protections and pod age/replica/namespace rules are the
//! spec's common options; nodeFit, priorityThreshold and labelSelector apply
//! per strategy here, so every strategy of the profile gets them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde::Deserialize;
use serde_json::Value;

use super::decode::{At, Problems, decode};
use crate::api::{DeschedulerPolicySpec, NoEvictionPolicy};
use crate::validation::parse_duration;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DefaultEvictorArgs {
    node_selector: Option<String>,
    label_selector: Option<LabelSelector>,
    namespace_label_selector: Option<LabelSelector>,
    priority_threshold: Option<PriorityThreshold>,
    node_fit: Option<bool>,
    min_replicas: Option<u32>,
    min_pod_age: Option<String>,
    no_eviction_policy: Option<String>,
    pod_protections: Option<PodProtections>,
    evict_local_storage_pods: Option<bool>,
    evict_daemon_set_pods: Option<bool>,
    evict_system_critical_pods: Option<bool>,
    ignore_pvc_pods: Option<bool>,
    #[serde(rename = "ignorePodsWithoutPDB")]
    ignore_pods_without_pdb: Option<bool>,
    evict_failed_bare_pods: Option<bool>,
}

/// Upstream's `api.PriorityThreshold` (shared by DefaultEvictor).
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriorityThreshold {
    pub value: Option<i32>,
    pub name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodProtections {
    extra_enabled: Option<Vec<String>>,
    default_disabled: Option<Vec<String>>,
    config: Option<PodProtectionsConfig>,
}

#[derive(Deserialize, Default)]
struct PodProtectionsConfig {
    #[serde(rename = "PodsWithPVC")]
    pods_with_pvc: Option<PodsWithPvcConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodsWithPvcConfig {
    protected_storage_classes: Option<Vec<Value>>,
}

/// Upstream's default protections (on unless listed in `defaultDisabled`).
const DEFAULT_PROTECTIONS: [&str; 4] = [
    "PodsWithLocalStorage",
    "SystemCriticalPods",
    "FailedBarePods",
    "DaemonSetPods",
];
/// Upstream's optional protections (off unless listed in `extraEnabled`).
const EXTRA_PROTECTIONS: [&str; 3] = ["PodsWithPVC", "PodsWithoutPDB", "PodsWithResourceClaims"];

/// The per-strategy part of a profile's DefaultEvictor.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Common {
    pub node_fit: Option<bool>,
    pub threshold_priority: Option<i32>,
    pub threshold_priority_class_name: Option<String>,
    pub label_selector: Option<LabelSelector>,
    /// Where the DefaultEvictor args are, for mapping errors back.
    pub at: Option<At>,
}

/// A profile's DefaultEvictor, decoded and checked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evictor {
    evict_local_storage_pods: bool,
    evict_daemon_set_pods: bool,
    evict_system_critical_pods: bool,
    ignore_pvc_pods: bool,
    ignore_pods_without_pdb: bool,
    evict_failed_bare_pods: bool,
    min_replicas: Option<i32>,
    min_pod_age: Option<String>,
    no_eviction_policy: Option<NoEvictionPolicy>,
    namespace_label_selector: Option<LabelSelector>,
    pub common: Common,
}

impl Evictor {
    /// `args` is the DefaultEvictor pluginConfig entry's args (absent: upstream's defaults).
    pub fn parse(args: Option<&Value>, at: &At, problems: &mut Problems) -> Evictor {
        let mut out = Evictor {
            common: Common {
                at: Some(at.clone()),
                ..Common::default()
            },
            ..Evictor::default()
        };
        let Some(args) = args else { return out };
        let Some(a) = decode::<DefaultEvictorArgs>(args, at, problems) else {
            return out;
        };

        if a.node_selector.as_deref().is_some_and(|s| !s.is_empty()) {
            problems.push(
                &at.key("nodeSelector"),
                "DefaultEvictor's nodeSelector (the nodes nodeFit considers) has no equivalent here: \
                 nodeFit considers every Ready node; spec.nodeSelector (the top-level nodeSelector) \
                 selects the nodes whose pods are processed",
            );
        }

        let deprecated = [
            ("evictLocalStoragePods", a.evict_local_storage_pods),
            ("evictDaemonSetPods", a.evict_daemon_set_pods),
            ("evictSystemCriticalPods", a.evict_system_critical_pods),
            ("ignorePvcPods", a.ignore_pvc_pods),
            ("ignorePodsWithoutPDB", a.ignore_pods_without_pdb),
            ("evictFailedBarePods", a.evict_failed_bare_pods),
        ];
        out.evict_local_storage_pods = a.evict_local_storage_pods.unwrap_or(false);
        out.evict_daemon_set_pods = a.evict_daemon_set_pods.unwrap_or(false);
        out.evict_system_critical_pods = a.evict_system_critical_pods.unwrap_or(false);
        out.ignore_pvc_pods = a.ignore_pvc_pods.unwrap_or(false);
        out.ignore_pods_without_pdb = a.ignore_pods_without_pdb.unwrap_or(false);
        out.evict_failed_bare_pods = a.evict_failed_bare_pods.unwrap_or(false);

        if let Some(pp) = &a.pod_protections {
            let pat = at.key("podProtections");
            let lists_used = pp.extra_enabled.as_ref().is_some_and(|l| !l.is_empty())
                || pp.default_disabled.as_ref().is_some_and(|l| !l.is_empty());
            if lists_used {
                // Upstream's validation: the booleans are read only when the lists are empty.
                for (field, v) in deprecated {
                    if v == Some(true) {
                        problems.push(
                            &at.key(field),
                            "cannot use the deprecated booleans alongside podProtections.extraEnabled \
                             or podProtections.defaultDisabled (upstream rejects this too)",
                        );
                    }
                }
            }
            out.apply_protections(pp, &pat, problems);
        }

        if let Some(pt) = &a.priority_threshold {
            match (pt.value, pt.name.as_deref().filter(|n| !n.is_empty())) {
                (Some(_), Some(_)) => problems.push(
                    &at.key("priorityThreshold"),
                    "only one of value and name can be set (upstream rejects this too)",
                ),
                (v, n) => {
                    out.common.threshold_priority = v;
                    out.common.threshold_priority_class_name = n.map(str::to_string);
                }
            }
        }
        // Upstream's nodeFit is a plain bool: false is its default, as here.
        out.common.node_fit = a.node_fit.filter(|f| *f);
        out.common.label_selector = a.label_selector;
        out.namespace_label_selector = a.namespace_label_selector;

        if let Some(n) = a.min_replicas.filter(|n| *n > 0) {
            match i32::try_from(n) {
                Ok(n) => out.min_replicas = Some(n),
                Err(_) => problems.push(&at.key("minReplicas"), format!("{n} is too large")),
            }
        }
        if let Some(age) = a.min_pod_age {
            match parse_duration(&age) {
                Ok(_) => out.min_pod_age = Some(age),
                Err(e) => problems.push(&at.key("minPodAge"), e),
            }
        }
        match a.no_eviction_policy.as_deref() {
            None | Some("") => {}
            Some("Preferred") => out.no_eviction_policy = Some(NoEvictionPolicy::Preferred),
            Some("Mandatory") => out.no_eviction_policy = Some(NoEvictionPolicy::Mandatory),
            Some(other) => problems.push(
                &at.key("noEvictionPolicy"),
                format!("{other:?} is not one of Preferred, Mandatory"),
            ),
        }
        out
    }

    fn apply_protections(&mut self, pp: &PodProtections, at: &At, problems: &mut Problems) {
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in pp.default_disabled.iter().flatten().enumerate() {
            let pat = at.key("defaultDisabled").index(i);
            if !seen.insert(("d", p.as_str())) {
                problems.push(&pat, format!("{p} is listed twice"));
                continue;
            }
            match p.as_str() {
                "PodsWithLocalStorage" => self.evict_local_storage_pods = true,
                "DaemonSetPods" => self.evict_daemon_set_pods = true,
                "SystemCriticalPods" => self.evict_system_critical_pods = true,
                "FailedBarePods" => self.evict_failed_bare_pods = true,
                other => problems.push(
                    &pat,
                    format!(
                        "{other:?} is not a default protection (one of {}){}",
                        DEFAULT_PROTECTIONS.join(", "),
                        if EXTRA_PROTECTIONS.contains(&other) {
                            "; it belongs in extraEnabled"
                        } else {
                            ""
                        }
                    ),
                ),
            }
        }
        for (i, p) in pp.extra_enabled.iter().flatten().enumerate() {
            let pat = at.key("extraEnabled").index(i);
            if !seen.insert(("e", p.as_str())) {
                problems.push(&pat, format!("{p} is listed twice"));
                continue;
            }
            match p.as_str() {
                "PodsWithPVC" => self.ignore_pvc_pods = true,
                "PodsWithoutPDB" => self.ignore_pods_without_pdb = true,
                "PodsWithResourceClaims" => problems.push(
                    &pat,
                    "PodsWithResourceClaims (protect pods using DRA resource claims) has no \
                     equivalent here",
                ),
                other => problems.push(
                    &pat,
                    format!(
                        "{other:?} is not an extra protection (one of {}){}",
                        EXTRA_PROTECTIONS.join(", "),
                        if DEFAULT_PROTECTIONS.contains(&other) {
                            "; it is on by default and can only be listed in defaultDisabled"
                        } else {
                            ""
                        }
                    ),
                ),
            }
        }
        let classes = pp
            .config
            .as_ref()
            .and_then(|c| c.pods_with_pvc.as_ref())
            .and_then(|c| c.protected_storage_classes.as_ref());
        if classes.is_some_and(|c| !c.is_empty()) {
            problems.push(
                &at.key("config")
                    .key("PodsWithPVC")
                    .key("protectedStorageClasses"),
                "protecting only the PVC pods of some storage classes has no equivalent here \
                 (ignorePvcPods protects every pod with a PersistentVolumeClaim)",
            );
        }
    }

    /// Writes the spec-level options; only what differs from the default, as upstream's
    /// booleans are plain (false and absent mean the same).
    pub fn apply_to_spec(&self, spec: &mut DeschedulerPolicySpec) {
        let on = |b: bool| b.then_some(true);
        spec.evict_local_storage_pods = on(self.evict_local_storage_pods);
        spec.evict_daemon_set_pods = on(self.evict_daemon_set_pods);
        spec.evict_system_critical_pods = on(self.evict_system_critical_pods);
        spec.ignore_pvc_pods = on(self.ignore_pvc_pods);
        spec.ignore_pods_without_pdb = on(self.ignore_pods_without_pdb);
        spec.evict_failed_bare_pods = on(self.evict_failed_bare_pods);
        spec.min_replicas = self.min_replicas;
        spec.min_pod_age = self.min_pod_age.clone();
        spec.no_eviction_policy = self.no_eviction_policy;
        spec.namespace_label_selector = self.namespace_label_selector.clone();
    }

    /// Our spec paths of the options above and the upstream args they came from.
    pub fn origins(&self) -> Vec<(String, At)> {
        let Some(at) = &self.common.at else {
            return Vec::new();
        };
        [
            ("minReplicas", "minReplicas"),
            ("minPodAge", "minPodAge"),
            ("noEvictionPolicy", "noEvictionPolicy"),
            ("namespaceLabelSelector", "namespaceLabelSelector"),
        ]
        .into_iter()
        .map(|(ours, theirs)| (format!("spec.{ours}"), at.key(theirs)))
        .collect()
    }
}

/// Both selectors must match (upstream's DefaultEvictor filter and the
/// plugin's own). A key both pin to different values becomes an `In`
/// requirement, so the AND stays exact (and matches nothing, as upstream).
pub(crate) fn and_selectors(
    own: Option<LabelSelector>,
    evictor: Option<&LabelSelector>,
) -> Option<LabelSelector> {
    let Some(ev) = evictor else { return own };
    let Some(mut out) = own else {
        return Some(ev.clone());
    };
    let mut labels: BTreeMap<String, String> = out.match_labels.take().unwrap_or_default();
    let mut exprs: Vec<LabelSelectorRequirement> = out.match_expressions.take().unwrap_or_default();
    for (k, v) in ev.match_labels.iter().flatten() {
        match labels.get(k) {
            None => {
                labels.insert(k.clone(), v.clone());
            }
            Some(existing) if existing == v => {}
            Some(_) => exprs.push(LabelSelectorRequirement {
                key: k.clone(),
                operator: "In".into(),
                values: Some(vec![v.clone()]),
            }),
        }
    }
    exprs.extend(ev.match_expressions.iter().flatten().cloned());
    out.match_labels = (!labels.is_empty()).then_some(labels);
    out.match_expressions = (!exprs.is_empty()).then_some(exprs);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (Evictor, Vec<String>) {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut p = Problems::default();
        let e = Evictor::parse(Some(&v), &At::root("args"), &mut p);
        (e, p.0.iter().map(|e| e.to_string()).collect())
    }

    fn spec_of(e: &Evictor) -> DeschedulerPolicySpec {
        let mut s = DeschedulerPolicySpec::default();
        e.apply_to_spec(&mut s);
        s
    }

    #[test]
    fn protections_and_deprecated_booleans_give_the_same_spec() {
        let (a, pa) = parse(
            "podProtections: {defaultDisabled: [PodsWithLocalStorage, DaemonSetPods, SystemCriticalPods, FailedBarePods], extraEnabled: [PodsWithPVC, PodsWithoutPDB]}",
        );
        let (b, pb) = parse(
            "{evictLocalStoragePods: true, evictDaemonSetPods: true, evictSystemCriticalPods: true, evictFailedBarePods: true, ignorePvcPods: true, ignorePodsWithoutPDB: true}",
        );
        assert!(pa.is_empty() && pb.is_empty(), "{pa:?} {pb:?}");
        assert_eq!(spec_of(&a), spec_of(&b));
        assert_eq!(spec_of(&a).evict_system_critical_pods, Some(true));
        assert_eq!(spec_of(&a).ignore_pods_without_pdb, Some(true));
    }

    #[test]
    fn false_booleans_are_not_written() {
        let (e, p) = parse("{evictDaemonSetPods: false, nodeFit: false}");
        assert!(p.is_empty());
        assert_eq!(spec_of(&e), DeschedulerPolicySpec::default());
        assert_eq!(e.common.node_fit, None);
    }

    #[test]
    fn protection_in_the_wrong_list_is_named() {
        let (_, p) = parse("podProtections: {extraEnabled: [DaemonSetPods]}");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("args.podProtections.extraEnabled[0]: "),
            "{p:?}"
        );
        assert!(p[0].contains("defaultDisabled"));
    }

    #[test]
    fn duplicate_protection_is_an_error() {
        let (_, p) = parse("podProtections: {defaultDisabled: [DaemonSetPods, DaemonSetPods]}");
        assert_eq!(
            p,
            vec!["args.podProtections.defaultDisabled[1]: DaemonSetPods is listed twice"]
        );
    }

    #[test]
    fn both_priority_threshold_fields_is_an_error() {
        let (_, p) = parse("priorityThreshold: {value: 10, name: high}");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("args.priorityThreshold: "));
    }

    #[test]
    fn priority_threshold_name_goes_per_strategy() {
        let (e, p) = parse("priorityThreshold: {name: batch}");
        assert!(p.is_empty());
        assert_eq!(
            e.common.threshold_priority_class_name.as_deref(),
            Some("batch")
        );
        assert_eq!(e.common.threshold_priority, None);
    }

    #[test]
    fn bad_min_pod_age_and_policy_are_named() {
        let (_, p) = parse("{minPodAge: soon, noEvictionPolicy: Never}");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("args.minPodAge: "));
        assert!(p[1].starts_with("args.noEvictionPolicy: "));
    }

    #[test]
    fn selectors_are_anded() {
        let sel = |y: &str| -> LabelSelector { serde_yaml_ng::from_str(y).unwrap() };
        let got = and_selectors(
            Some(sel("matchLabels: {tier: web, app: a}")),
            Some(&sel("{matchLabels: {tier: db, team: x}, matchExpressions: [{key: opt-out, operator: DoesNotExist}]}")),
        )
        .unwrap();
        let labels = got.match_labels.unwrap();
        assert_eq!(labels.get("tier").map(String::as_str), Some("web"));
        assert_eq!(labels.get("team").map(String::as_str), Some("x"));
        let exprs = got.match_expressions.unwrap();
        assert_eq!(exprs.len(), 2);
        assert_eq!(exprs[0].key, "tier");
        assert_eq!(exprs[0].values, Some(vec!["db".to_string()]));
        assert_eq!(and_selectors(None, None), None);
    }
}
