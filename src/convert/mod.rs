//! `descheduler convert` (SPEC §9): upstream kubernetes-sigs/descheduler
//! policy files (`descheduler/v1alpha1`, `descheduler/v1alpha2`, or a
//! ConfigMap holding one) into `DeschedulerPolicy` objects. One way only:
//! parse the upstream shape strictly, map it, and check the result with our
//! own validation. What has no equivalent is an error naming the upstream
//! field; notes only explain differences that drop nothing.

mod decode;
mod error;
mod evictor_args;
mod plugins;
mod v1alpha1;
mod v1alpha2;

use serde_json::Value;

pub use error::ConvertError;

use crate::api::{
    DeschedulerPolicy, DeschedulerPolicySpec, HasCommonParams, SingleReplicaStrategy, Strategy,
};
use crate::policy::{MIN_INTERVAL, validate};
use crate::validation::{FieldError, ValidationErrors, parse_duration};
use decode::{At, Problems};

/// What the command line adds to the upstream file.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// The object name for a v1alpha1 policy (default `default`).
    pub name: Option<String>,
    /// spec.interval of every converted policy (upstream's interval is a flag).
    pub interval: Option<String>,
}

/// The converted policies, and remarks for the user (stderr).
#[derive(Clone, Debug)]
pub struct Conversion {
    pub policies: Vec<DeschedulerPolicy>,
    pub notes: Vec<String>,
}

/// One policy being built, with where its fields came from upstream.
pub(crate) struct Draft {
    pub name: String,
    /// Where the name came from (a profile's name, or `--name`).
    pub name_at: At,
    pub spec: DeschedulerPolicySpec,
    /// Our field path prefixes and the upstream paths they were mapped from,
    /// so an error of our validation can name the upstream field.
    pub origins: Vec<(String, At)>,
    pub notes: Vec<String>,
}

const DEFAULT_NAME: &str = "default";

/// Converts an upstream policy file (one document, a ConfigMap, or a stream of them).
pub fn convert(text: &str, opts: &ConvertOptions) -> Result<Conversion, ConvertError> {
    if let Some(i) = &opts.interval {
        check_interval(i)?;
    }
    let docs = documents(text, None)?;
    if docs.is_empty() {
        return Err(ConvertError::field(
            "(input)",
            "no YAML document: nothing to convert",
        ));
    }
    let many = docs.len() > 1;
    let mut problems = Problems::default();
    let mut notes = Vec::new();
    let mut drafts = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let at = if many {
            At::root(format!("document {}: ", i + 1))
        } else {
            At::root("")
        };
        document(doc, &at, opts, &mut drafts, &mut problems, &mut notes)?;
    }
    check_names(&drafts, &mut problems);
    if !problems.is_empty() {
        return Err(ConvertError::Fields(problems.0));
    }

    if opts.interval.is_none() {
        notes.push(
            "spec.interval not set (default 15m): upstream's interval is its \
             --descheduling-interval flag, not part of the policy; pass --interval to set it"
                .to_string(),
        );
    }
    notes.push(
        "spec.singleReplicaStrategy: Evict, as upstream evicts the last replica of a workload \
         (our default, Skip, leaves it; RolloutRestart replaces it first)"
            .to_string(),
    );
    let mut policies = Vec::new();
    for d in drafts {
        policies.push(finish(d, opts, &mut notes)?);
    }
    Ok(Conversion { policies, notes })
}

/// The policies as a YAML stream, each document starting with `---`.
pub fn to_yaml_stream(policies: &[DeschedulerPolicy]) -> Result<String, ConvertError> {
    let mut out = String::new();
    for p in policies {
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_string(p)?);
    }
    Ok(out)
}

fn check_interval(i: &str) -> Result<(), ConvertError> {
    match parse_duration(i) {
        Ok(d) if d < MIN_INTERVAL => Err(ConvertError::field(
            "--interval",
            format!("{i} is shorter than the minimum of 10s"),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(ConvertError::field("--interval", e)),
    }
}

/// Every non-empty document of a YAML stream. `within` names the embedded
/// value the text came from, for the error's location.
fn documents(text: &str, within: Option<&str>) -> Result<Vec<Value>, ConvertError> {
    crate::yaml::documents(text).map_err(|e| ConvertError::Yaml {
        within: within.map(|w| format!("{w} (lines counted within the value)")),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

fn str_field<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

fn document(
    doc: &Value,
    at: &At,
    opts: &ConvertOptions,
    drafts: &mut Vec<Draft>,
    problems: &mut Problems,
    notes: &mut Vec<String>,
) -> Result<(), ConvertError> {
    if !doc.is_object() {
        problems.push(
            &At::root(at.as_str().trim_end_matches(": ")),
            "expected a mapping (a policy or a ConfigMap)",
        );
        return Ok(());
    }
    let api_version = str_field(doc, "apiVersion").unwrap_or("");
    match (str_field(doc, "kind").unwrap_or(""), api_version) {
        ("ConfigMap", _) => config_map(doc, at, opts, drafts, problems, notes)?,
        ("DeschedulerPolicy", "descheduler/v1alpha2") => {
            if opts.name.is_some() {
                notes.push(format!(
                    "{}--name applies to v1alpha1 files; v1alpha2 policies are named after their profiles",
                    at
                ));
            }
            drafts.extend(v1alpha2::convert(doc, at, problems, notes));
        }
        ("DeschedulerPolicy", "descheduler/v1alpha1") => {
            let name = opts.name.as_deref().unwrap_or(DEFAULT_NAME);
            drafts.extend(v1alpha1::convert(doc, at, name, problems, notes));
        }
        ("DeschedulerPolicy", "descheduler.dev/v1alpha1") => problems.push(
            &at.key("apiVersion"),
            "this is already a DeschedulerPolicy of descheduler.dev: nothing to convert",
        ),
        ("DeschedulerPolicy", other) => problems.push(
            &at.key("apiVersion"),
            format!("{other:?} is not an upstream policy version (descheduler/v1alpha1, descheduler/v1alpha2)"),
        ),
        (other, _) => problems.push(
            &at.key("kind"),
            format!("{other:?}: expected an upstream DeschedulerPolicy or a ConfigMap holding one"),
        ),
    }
    Ok(())
}

/// A value of `data` looks like a policy when it is one, or when it fails to
/// parse but names the kind (so its syntax error is reported, not hidden).
fn looks_like_policy(text: &str) -> bool {
    match documents(text, None) {
        Ok(docs) => docs.iter().any(|d| {
            str_field(d, "kind") == Some("DeschedulerPolicy")
                && str_field(d, "apiVersion").is_some_and(|v| v.starts_with("descheduler/"))
        }),
        Err(_) => text.contains("DeschedulerPolicy"),
    }
}

fn config_map(
    doc: &Value,
    at: &At,
    opts: &ConvertOptions,
    drafts: &mut Vec<Draft>,
    problems: &mut Problems,
    notes: &mut Vec<String>,
) -> Result<(), ConvertError> {
    let data_at = at.key("data");
    let Some(data) = doc.get("data").and_then(Value::as_object) else {
        problems.push(&data_at, "the ConfigMap has no data holding a policy");
        return Ok(());
    };
    let keys: Vec<&String> = data.keys().collect();
    let found: Vec<(&String, &str)> = data
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s)))
        .filter(|(_, s)| looks_like_policy(s))
        .collect();
    let list = |v: &[&String]| {
        v.iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match found.as_slice() {
        [] => problems.push(
            &data_at,
            format!(
                "no key holds an upstream DeschedulerPolicy (keys: {})",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    list(&keys)
                }
            ),
        ),
        [(key, text)] => {
            let within = format!("{}[{key:?}]", data_at);
            let inner = documents(text, Some(&within))?;
            let inner_at = At::root(within);
            match inner.as_slice() {
                [one] => document(one, &inner_at, opts, drafts, problems, notes)?,
                _ => problems.push(&inner_at, "expected exactly one YAML document"),
            }
        }
        many => {
            let names: Vec<&String> = many.iter().map(|(k, _)| *k).collect();
            problems.push(
                &data_at,
                format!("several keys hold a policy ({}); keep one", list(&names)),
            );
        }
    }
    Ok(())
}

/// A profile name lower-cased into an RFC 1123 name: letters and digits
/// kept, anything else `-`, no `-` at either end.
pub(crate) fn object_name(raw: &str) -> String {
    let mapped: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let capped: String = trimmed.chars().take(253).collect();
    capped.trim_end_matches('-').to_string()
}

fn check_names(drafts: &[Draft], problems: &mut Problems) {
    let mut seen: std::collections::BTreeMap<&str, &At> = std::collections::BTreeMap::new();
    for d in drafts {
        if d.name.is_empty() {
            continue;
        }
        if object_name(&d.name) != d.name {
            problems.push(
                &d.name_at,
                format!(
                    "{:?} is not a valid object name (lower-case letters, digits and '-')",
                    d.name
                ),
            );
        }
        if let Some(first) = seen.insert(&d.name, &d.name_at) {
            problems.push(
                &d.name_at,
                format!(
                    "gives the policy name {:?}, as {first} does; names must be unique",
                    d.name
                ),
            );
        }
    }
}

/// Fills in what the command line and our defaults need, then checks the
/// policy with our own validation (mapping error paths back upstream).
fn finish(
    mut d: Draft,
    opts: &ConvertOptions,
    notes: &mut Vec<String>,
) -> Result<DeschedulerPolicy, ConvertError> {
    d.spec.interval = opts.interval.clone();
    // Upstream evicts single replicas; our default would silently keep them.
    d.spec.single_replica_strategy = Some(SingleReplicaStrategy::Evict);
    d.origins
        .push(("spec.interval".to_string(), At::root("--interval")));

    let classes = priority_class_names(&d.spec);
    for c in &classes {
        notes.push(format!(
            "policy {:?} uses thresholdPriorityClassName {c:?}: that PriorityClass must exist in \
             the cluster, or the policy is reported invalid there",
            d.name
        ));
    }
    // Whether a class exists is the cluster's business, not the file's.
    let any_class = |_: &str| Some(0);
    if let Err(errors) = validate(&d.spec, &any_class) {
        let mapped = errors
            .0
            .into_iter()
            .map(|e| FieldError {
                path: upstream_path(&e.path, &d.origins),
                message: e.message,
            })
            .collect();
        return Err(ConvertError::Invalid {
            name: d.name,
            errors: ValidationErrors(mapped),
        });
    }
    Ok(DeschedulerPolicy::new(&d.name, d.spec))
}

fn priority_class_names(spec: &DeschedulerPolicySpec) -> Vec<String> {
    fn class<P: HasCommonParams>(s: &Option<Strategy<P>>) -> Option<String> {
        s.as_ref()?
            .params
            .as_ref()?
            .common()
            .threshold_priority_class_name
            .map(str::to_string)
    }
    let s = &spec.strategies;
    let mut names: Vec<String> = [
        class(&s.remove_failed_pods),
        class(&s.pod_life_time),
        class(&s.remove_pods_having_too_many_restarts),
        class(&s.remove_pods_violating_node_taints),
        class(&s.remove_pods_violating_node_affinity),
        class(&s.remove_pods_violating_inter_pod_anti_affinity),
        class(&s.remove_duplicates),
        class(&s.remove_pods_violating_topology_spread_constraint),
        class(&s.low_node_utilization),
        class(&s.high_node_utilization),
    ]
    .into_iter()
    .flatten()
    .collect();
    names.sort();
    names.dedup();
    names
}

/// Our path mapped to the upstream field it came from (longest known prefix).
fn upstream_path(ours: &str, origins: &[(String, At)]) -> String {
    origins
        .iter()
        .filter(|(prefix, _)| {
            ours == prefix
                || ours
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(prefix, up)| format!("{up}{}", &ours[prefix.len()..]))
        .unwrap_or_else(|| ours.to_string())
}

#[cfg(test)]
mod tests;
