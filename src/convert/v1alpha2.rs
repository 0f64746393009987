//! Upstream `descheduler/v1alpha2` (profiles with pluginConfig and plugins):
//! one policy per profile. The top-level limits and nodeSelector go to every
//! profile's policy; a profile's DefaultEvictor becomes its common options.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::decode::{At, Problems, decode};
use super::evictor_args::Evictor;
use super::plugins::{self, BALANCE, DEFAULT_EVICTOR, DESCHEDULE, PluginEntry};
use super::{Draft, object_name};
use crate::api::DeschedulerPolicySpec;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Policy {
    #[allow(dead_code)] // checked by the caller; listed so it is not an unknown field
    api_version: Option<String>,
    #[allow(dead_code)]
    kind: Option<String>,
    profiles: Option<Vec<Profile>>,
    node_selector: Option<String>,
    max_no_of_pods_to_evict_per_node: Option<u64>,
    max_no_of_pods_to_evict_per_namespace: Option<u64>,
    max_no_of_pods_to_evict_total: Option<u64>,
    eviction_failure_event_notification: Option<bool>,
    metrics_collector: Option<MetricsCollector>,
    metrics_providers: Option<Vec<MetricsProvider>>,
    grace_period_seconds: Option<i64>,
}

#[derive(Deserialize)]
struct MetricsCollector {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricsProvider {
    source: Option<String>,
    prometheus: Option<Prometheus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Prometheus {
    url: Option<String>,
    auth_token: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    name: Option<String>,
    plugin_config: Option<Vec<PluginConfig>>,
    plugins: Option<Plugins>,
}

#[derive(Deserialize)]
struct PluginConfig {
    name: Option<String>,
    args: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Plugins {
    presort: Option<PluginSet>,
    sort: Option<PluginSet>,
    deschedule: Option<PluginSet>,
    balance: Option<PluginSet>,
    filter: Option<PluginSet>,
    preevictionfilter: Option<PluginSet>,
    /// Upstream's key is all lower case; this spelling is common in the wild
    /// and harmless (DefaultEvictor is injected there anyway), so it is read too.
    #[serde(rename = "preEvictionFilter")]
    pre_eviction_filter: Option<PluginSet>,
}

#[derive(Deserialize, Default)]
struct PluginSet {
    enabled: Option<Vec<String>>,
    disabled: Option<Vec<String>>,
}

/// The top-level settings every profile's policy gets.
fn top_level(
    p: &Policy,
    at: &At,
    problems: &mut Problems,
) -> (DeschedulerPolicySpec, Vec<(String, At)>) {
    let mut spec = DeschedulerPolicySpec {
        node_selector: p.node_selector.clone().filter(|s| !s.is_empty()),
        grace_period_seconds: p.grace_period_seconds,
        ..DeschedulerPolicySpec::default()
    };
    let limit = |v: Option<u64>, field: &str, problems: &mut Problems| {
        v.and_then(|n| {
            i32::try_from(n)
                .map_err(|_| problems.push(&at.key(field), format!("{n} is too large")))
                .ok()
        })
    };
    spec.max_no_of_pods_to_evict_per_node = limit(
        p.max_no_of_pods_to_evict_per_node,
        "maxNoOfPodsToEvictPerNode",
        problems,
    );
    spec.max_no_of_pods_to_evict_per_namespace = limit(
        p.max_no_of_pods_to_evict_per_namespace,
        "maxNoOfPodsToEvictPerNamespace",
        problems,
    );
    spec.max_no_of_pods_to_evict_total = limit(
        p.max_no_of_pods_to_evict_total,
        "maxNoOfPodsToEvictTotal",
        problems,
    );
    let origins = [
        "nodeSelector",
        "maxNoOfPodsToEvictPerNode",
        "maxNoOfPodsToEvictPerNamespace",
        "maxNoOfPodsToEvictTotal",
        "gracePeriodSeconds",
    ]
    .into_iter()
    .map(|f| (format!("spec.{f}"), at.key(f)))
    .collect();
    (spec, origins)
}

/// Metrics providers configure the process, not a policy: here they are the
/// operator's own (metrics.k8s.io through its client, `--prometheus-url` and
/// `--prometheus-token-file`), so convert says where each one goes.
fn metrics(p: &Policy, at: &At, problems: &mut Problems, notes: &mut Vec<String>) {
    let mut seen = BTreeMap::new();
    for (i, m) in p.metrics_providers.iter().flatten().enumerate() {
        let mat = at.key("metricsProviders").index(i);
        let source = m.source.as_deref().unwrap_or("");
        if let Some(first) = seen.insert(source.to_string(), i) {
            problems.push(
                &mat.key("source"),
                format!("{source:?} is already configured by metricsProviders[{first}]; each source can be configured once"),
            );
        }
        match source {
            "KubernetesMetrics" => notes.push(format!(
                "{mat}: not carried over: the operator reads metrics.k8s.io itself when a policy \
                 uses metricsUtilization.source KubernetesMetrics (its RBAC needs get/list on \
                 metrics.k8s.io nodes and pods; the chart's default)"
            )),
            "Prometheus" => {
                let url = m
                    .prometheus
                    .as_ref()
                    .and_then(|p| p.url.as_deref())
                    .unwrap_or("");
                if url.is_empty() {
                    problems.push(
                        &mat.key("prometheus").key("url"),
                        "a Prometheus provider needs a url (upstream rejects it too)",
                    );
                }
                if let Some(token) = m.prometheus.as_ref().and_then(|p| p.auth_token.as_ref()) {
                    let secret = token
                        .get("secretReference")
                        .map(|r| {
                            let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("?");
                            format!("Secret {}/{}", field("namespace"), field("name"))
                        })
                        .unwrap_or_else(|| "the Secret".to_string());
                    notes.push(format!(
                        "{}: not carried over: mount the token of {secret} into the operator's \
                         pod and pass its path as --prometheus-token-file",
                        mat.key("prometheus").key("authToken")
                    ));
                }
                if !url.is_empty() {
                    notes.push(format!(
                        "{mat}: not carried over: start the operator with --prometheus-url {url} \
                         (policies with metricsUtilization.source Prometheus query it)"
                    ));
                }
            }
            other => problems.push(
                &mat.key("source"),
                format!(
                    "{other:?} is not a supported metrics source (KubernetesMetrics, Prometheus)"
                ),
            ),
        }
    }
    if p.metrics_collector.as_ref().and_then(|c| c.enabled) == Some(true) {
        notes.push(format!(
            "{}: not carried over: the operator starts its metrics.k8s.io collector when a \
             policy uses metricsUtilization.source KubernetesMetrics",
            at.key("metricsCollector")
        ));
    }
}

pub(crate) fn convert(
    doc: &Value,
    at: &At,
    problems: &mut Problems,
    notes: &mut Vec<String>,
) -> Vec<Draft> {
    let Some(p) = decode::<Policy>(doc, at, problems) else {
        return Vec::new();
    };
    metrics(&p, at, problems, notes);
    if p.eviction_failure_event_notification == Some(true) {
        problems.push(
            &at.key("evictionFailureEventNotification"),
            "an Event per failed eviction has no equivalent here (failures are counted in \
             status.lastRun and the RunCompleted event); remove it to convert",
        );
    }
    let (base, base_origins) = top_level(&p, at, problems);
    let profiles = p.profiles.unwrap_or_default();
    if profiles.is_empty() {
        problems.push(&at.key("profiles"), "no profile: nothing to convert");
    }
    if profiles.len() > 1
        && (base.max_no_of_pods_to_evict_per_node.is_some()
            || base.max_no_of_pods_to_evict_per_namespace.is_some()
            || base.max_no_of_pods_to_evict_total.is_some())
    {
        notes.push(format!(
            "{}: upstream shares the top-level eviction limits across all {} profiles of a run; \
             each converted policy gets its own copy (and its own run)",
            at.key("profiles"),
            profiles.len()
        ));
    }
    profiles
        .iter()
        .enumerate()
        .filter_map(|(i, prof)| {
            let pat = at.key("profiles").index(i);
            profile(prof, &pat, &base, &base_origins, problems, notes)
        })
        .collect()
}

fn profile(
    prof: &Profile,
    at: &At,
    base: &DeschedulerPolicySpec,
    base_origins: &[(String, At)],
    problems: &mut Problems,
    notes: &mut Vec<String>,
) -> Option<Draft> {
    let raw_name = prof.name.clone().unwrap_or_default();
    let name = object_name(&raw_name);
    if name.is_empty() {
        problems.push(
            &at.key("name"),
            format!("{raw_name:?} does not give a valid object name (lower-case letters, digits and '-')"),
        );
    } else if name != raw_name {
        notes.push(format!(
            "{}: profile {raw_name:?} becomes policy {name:?}",
            at.key("name")
        ));
    }

    // pluginConfig by name (upstream takes the first of duplicates; ambiguous, so an error here).
    let mut configs: BTreeMap<&str, (usize, Option<&Value>)> = BTreeMap::new();
    for (j, pc) in prof.plugin_config.iter().flatten().enumerate() {
        let cat = at.key("pluginConfig").index(j);
        let pname = pc.name.as_deref().unwrap_or("");
        if !plugins::is_registered(pname) {
            problems.push(
                &cat.key("name"),
                format!(
                    "plugin {pname:?} is not an upstream v0.36 plugin (upstream: not registered)"
                ),
            );
            continue;
        }
        if let Some((first, _)) = configs.insert(pname, (j, pc.args.as_ref())) {
            problems.push(
                &cat.key("name"),
                format!("{pname} is already configured by pluginConfig[{first}]"),
            );
        }
    }

    // Enabled plugins, each checked against the extension point it is listed at.
    let plugs = prof.plugins.as_ref();
    let empty = PluginSet::default();
    fn set<'a>(s: Option<&'a Option<PluginSet>>, empty: &'a PluginSet) -> &'a PluginSet {
        s.and_then(|s| s.as_ref()).unwrap_or(empty)
    }
    let points: [(&str, &PluginSet); 7] = [
        ("presort", set(plugs.map(|p| &p.presort), &empty)),
        ("sort", set(plugs.map(|p| &p.sort), &empty)),
        ("deschedule", set(plugs.map(|p| &p.deschedule), &empty)),
        ("balance", set(plugs.map(|p| &p.balance), &empty)),
        ("filter", set(plugs.map(|p| &p.filter), &empty)),
        (
            "preevictionfilter",
            set(plugs.map(|p| &p.preevictionfilter), &empty),
        ),
        (
            "preEvictionFilter",
            set(plugs.map(|p| &p.pre_eviction_filter), &empty),
        ),
    ];
    let mut enabled: BTreeMap<&str, At> = BTreeMap::new();
    for (point, ps) in points {
        let point_at = at.key("plugins").key(point);
        if ps.disabled.as_ref().is_some_and(|d| !d.is_empty()) {
            notes.push(format!(
                "{}: ignored: upstream never reads disabled lists (only enabled plugins run)",
                point_at.key("disabled")
            ));
        }
        let mut here = std::collections::BTreeSet::new();
        for (k, pname) in ps.enabled.iter().flatten().enumerate() {
            let eat = point_at.key("enabled").index(k);
            let pname = pname.as_str();
            if !here.insert(pname) {
                problems.push(
                    &eat,
                    format!("{pname} is listed twice (upstream would run it twice; a strategy runs once per run here)"),
                );
                continue;
            }
            let native = match pname {
                _ if DESCHEDULE.contains(&pname) => "deschedule",
                _ if BALANCE.contains(&pname) => "balance",
                DEFAULT_EVICTOR => "filter",
                _ => {
                    problems.push(
                        &eat,
                        format!("plugin {pname:?} is not an upstream v0.36 plugin (upstream: not registered)"),
                    );
                    continue;
                }
            };
            let ok = match point {
                "deschedule" | "balance" => native == point,
                "filter" | "preevictionfilter" | "preEvictionFilter" => native == "filter",
                _ => false,
            };
            if !ok {
                let what = if native == "filter" {
                    "an evictor (filter and preEvictionFilter only)".to_string()
                } else {
                    format!("a {native} plugin")
                };
                problems.push(
                    &eat,
                    format!("{pname} is {what} and cannot be enabled at {point} (upstream rejects this too)"),
                );
                continue;
            }
            if native != "filter"
                && let Some(first) = enabled.insert(pname, eat.clone())
            {
                problems.push(&eat, format!("{pname} is already enabled at {first}"));
            }
        }
    }

    let ev_entry = configs.get(DEFAULT_EVICTOR);
    let ev_at = ev_entry
        .map(|(j, _)| at.key("pluginConfig").index(*j).key("args"))
        .unwrap_or_else(|| at.key("pluginConfig").key(DEFAULT_EVICTOR).key("args"));
    let evictor = Evictor::parse(ev_entry.and_then(|(_, a)| *a), &ev_at, problems);

    let mut draft = Draft {
        name,
        name_at: at.key("name"),
        spec: base.clone(),
        origins: base_origins.to_vec(),
        notes: Vec::new(),
    };
    evictor.apply_to_spec(&mut draft.spec);
    draft.origins.extend(evictor.origins());

    // Every strategy plugin that is enabled or configured, in run order.
    for pname in DESCHEDULE.iter().chain(BALANCE.iter()) {
        let config = configs.get(pname);
        let is_enabled = enabled.contains_key(pname);
        if config.is_none() && !is_enabled {
            continue;
        }
        let args_at = match config {
            Some((j, _)) => at.key("pluginConfig").index(*j).key("args"),
            None => at.key("pluginConfig").key(pname).key("args"),
        };
        if !is_enabled {
            draft.notes.push(format!(
                "{}: {pname} is configured but not enabled (upstream does not run it): kept with enabled: false",
                at.key("pluginConfig").index(config.map(|c| c.0).unwrap_or(0))
            ));
        }
        let entry = PluginEntry {
            name: pname,
            args: config.and_then(|(_, a)| *a),
            args_at,
            enabled: is_enabled,
        };
        plugins::add(&entry, &evictor.common, &mut draft, problems);
    }
    if enabled.is_empty() {
        draft.notes.push(format!(
            "{}: no strategy plugin is enabled: the policy evicts nothing",
            at.key("plugins")
        ));
    }
    notes.append(&mut draft.notes);
    Some(draft)
}
