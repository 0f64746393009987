//! `descheduler convert` (SPEC §9) through the library API: a golden file
//! next to every upstream fixture, the field each invalid fixture must name,
//! and our samples round-tripped from their upstream equivalents.
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test convert`.

// Test code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use descheduler::api::{DeschedulerPolicy, SingleReplicaStrategy};
use descheduler::convert::{ConvertOptions, convert, to_yaml_stream};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/upstream")
}

/// Every upstream input under `dir` (recursively), goldens excluded, sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("fixture dir exists") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            out.extend(inputs(&p));
        } else if p.extension().is_some_and(|x| x == "yaml")
            && !p.to_string_lossy().ends_with(".expected.yaml")
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `--interval` / `--name` as a fixture's `# convert: descheduler convert FILE ...` line gives them.
fn options_of(text: &str) -> ConvertOptions {
    let mut opts = ConvertOptions::default();
    if let Some(line) = text.lines().find(|l| l.starts_with("# convert:")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for w in words.windows(2) {
            match w[0] {
                "--interval" => opts.interval = Some(w[1].to_string()),
                "--name" => opts.name = Some(w[1].to_string()),
                _ => {}
            }
        }
    }
    opts
}

/// What a golden holds: the notes and then the YAML stream, or the error.
fn render(text: &str, opts: &ConvertOptions) -> String {
    match convert(text, opts) {
        Ok(c) => {
            let mut out = String::new();
            for n in &c.notes {
                out.push_str(&format!("# note: {n}\n"));
            }
            out.push_str(&to_yaml_stream(&c.policies).expect("serializes"));
            out
        }
        Err(e) => e
            .to_string()
            .lines()
            .map(|l| format!("# error: {l}\n"))
            .collect(),
    }
}

fn golden_path(input: &Path) -> PathBuf {
    input.with_extension("expected.yaml")
}

fn check_golden(input: &Path, actual: &str) -> Option<String> {
    let path = golden_path(input);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return None;
    }
    match std::fs::read_to_string(&path) {
        Err(e) => Some(format!(
            "{}: {e} (run with UPDATE_GOLDEN=1)",
            path.display()
        )),
        Ok(expected) if expected != actual => Some(format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Ok(_) => None,
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(fixtures())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn every_fixture_matches_its_golden() {
    let all = inputs(&fixtures());
    assert!(all.len() >= 45, "found only {} fixtures", all.len());
    let mut failures = Vec::new();
    for input in &all {
        let text = std::fs::read_to_string(input).unwrap();
        let out = render(&text, &options_of(&text));
        if let Some(f) = check_golden(input, &out) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_valid_fixture_outside_invalid_converts_or_is_a_known_gap() {
    // Valid upstream, but with a setting this DeschedulerPolicy cannot
    // express: convert refuses it, naming the field.
    let gaps = [(
        "v1alpha2-top-level.yaml",
        "evictionFailureEventNotification",
    )];
    for input in inputs(&fixtures()) {
        let name = rel(&input);
        if name.starts_with("invalid/") {
            continue;
        }
        let text = std::fs::read_to_string(&input).unwrap();
        let result = convert(&text, &options_of(&text));
        if let Some((_, field)) = gaps.iter().find(|(g, _)| *g == name) {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{name}: expected the {field} gap"));
            assert!(err.to_string().contains(field), "{name}: {err}");
        } else {
            let c = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!c.policies.is_empty(), "{name}");
            for p in &c.policies {
                assert_eq!(
                    p.spec.single_replica_strategy,
                    Some(SingleReplicaStrategy::Evict),
                    "{name}: upstream evicts single replicas"
                );
                assert_eq!(
                    p.spec.placement_check, None,
                    "{name}: Warn (the default) is upstream's behaviour"
                );
            }
        }
    }
}

#[test]
fn every_invalid_fixture_fails_naming_its_field() {
    let invalid = inputs(&fixtures().join("invalid"));
    assert!(invalid.len() >= 18);
    for input in invalid {
        let name = rel(&input);
        let text = std::fs::read_to_string(&input).unwrap();
        let needle = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{name}: first line must be `# error: <expected substring>`"))
            .trim();
        match convert(&text, &options_of(&text)) {
            Ok(_) => panic!("{name}: converted, expected an error naming {needle}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(needle),
                    "{name}: error lacks {needle:?}:\n{msg}"
                );
            }
        }
    }
}

#[test]
fn the_two_default_evictor_spellings_convert_alike() {
    let read = |f: &str| std::fs::read_to_string(fixtures().join(f)).unwrap();
    let opts = ConvertOptions::default();
    let a = convert(&read("v1alpha2-defaultevictor-podprotections.yaml"), &opts).unwrap();
    let b = convert(&read("v1alpha2-defaultevictor-legacy.yaml"), &opts).unwrap();
    let specs = |c: &descheduler::convert::Conversion| -> Vec<_> {
        c.policies
            .iter()
            .map(|p| (p.metadata.name.clone(), p.spec.clone()))
            .collect()
    };
    assert_eq!(specs(&a), specs(&b));
}

#[test]
fn multi_profile_gives_one_policy_per_profile() {
    let text = std::fs::read_to_string(fixtures().join("v1alpha2-multi-profile.yaml")).unwrap();
    let c = convert(&text, &ConvertOptions::default()).unwrap();
    let names: Vec<_> = c
        .policies
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["hygiene", "spreading", "batch-nodes"]);
    for p in &c.policies {
        assert_eq!(p.spec.max_no_of_pods_to_evict_total, Some(40));
        assert_eq!(p.spec.grace_period_seconds, Some(45));
    }
}

#[test]
fn a_stream_of_documents_converts_each() {
    let read = |f: &str| std::fs::read_to_string(fixtures().join(f)).unwrap();
    let stream = format!(
        "{}\n---\n{}",
        read("examples/pod-life-time.yaml"),
        read("helm-configmap-v1alpha1.yaml")
    );
    let c = convert(&stream, &ConvertOptions::default()).unwrap();
    let names: Vec<_> = c
        .policies
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["stale-pods", "default"]);
    // Problems in a later document say which one.
    let bad = format!(
        "{}\n---\n{}",
        read("examples/pod-life-time.yaml"),
        read("invalid/wrong-extension-point.yaml")
    );
    let err = convert(&bad, &ConvertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("document 2: profiles[0].plugins.balance.enabled[0]"),
        "{err}"
    );
}

#[test]
fn yaml_syntax_errors_carry_line_and_column() {
    let err = convert(
        "apiVersion: descheduler/v1alpha2\nkind: [\n",
        &ConvertOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 3, column 1"), "{err}");
    let cm = "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: |\n    kind: DeschedulerPolicy\n    profiles: [\n";
    let err = convert(cm, &ConvertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("data[\"policy.yaml\"]"), "{err}");
    assert!(err.contains("line "), "{err}");
}

#[test]
fn config_maps_need_exactly_one_policy_key() {
    let none = "apiVersion: v1\nkind: ConfigMap\ndata:\n  a.txt: hello\n  b: x\n";
    let err = convert(none, &ConvertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data: no key holds") && err.contains("\"a.txt\", \"b\""),
        "{err}"
    );
    let policy = "apiVersion: descheduler/v1alpha2\nkind: DeschedulerPolicy\nprofiles: []\n";
    let two = format!(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  one: |\n{}  two: |\n{}",
        indent(policy),
        indent(policy)
    );
    let err = convert(&two, &ConvertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("several keys hold a policy (\"one\", \"two\")"),
        "{err}"
    );
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

#[test]
fn options_set_the_name_and_interval() {
    let text = std::fs::read_to_string(fixtures().join("v1alpha1-quirks.yaml")).unwrap();
    let opts = ConvertOptions {
        name: Some("migrated".into()),
        interval: Some("1h30m".into()),
    };
    let c = convert(&text, &opts).unwrap();
    assert_eq!(c.policies[0].metadata.name.as_deref(), Some("migrated"));
    assert_eq!(c.policies[0].spec.interval.as_deref(), Some("1h30m"));
    for bad in ["5s", "soon"] {
        let opts = ConvertOptions {
            interval: Some(bad.into()),
            ..ConvertOptions::default()
        };
        let err = convert(&text, &opts).unwrap_err().to_string();
        assert!(err.starts_with("--interval: "), "{err}");
    }
    let opts = ConvertOptions {
        name: Some("Not_Valid".into()),
        ..ConvertOptions::default()
    };
    let err = convert(&text, &opts).unwrap_err().to_string();
    assert!(err.starts_with("--name: "), "{err}");
}

#[test]
fn the_yaml_stream_reads_back_as_our_policies() {
    let text = std::fs::read_to_string(fixtures().join("v1alpha2-multi-profile.yaml")).unwrap();
    let c = convert(&text, &ConvertOptions::default()).unwrap();
    let yaml = to_yaml_stream(&c.policies).unwrap();
    assert!(
        yaml.starts_with("---\napiVersion: descheduler.dev/v1alpha1\nkind: DeschedulerPolicy\n")
    );
    assert!(!yaml.contains("status"), "{yaml}");
    assert!(
        !yaml.contains("null") && !yaml.contains("{}\n  strategies"),
        "{yaml}"
    );
    let back: Vec<DeschedulerPolicy> = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let specs = |v: &[DeschedulerPolicy]| -> Vec<_> {
        v.iter()
            .map(|p| (p.metadata.name.clone(), p.spec.clone()))
            .collect()
    };
    assert_eq!(specs(&back), specs(&c.policies));
}

/// Our samples, converted back from their upstream equivalents. The
/// differences allowed: convert sets `singleReplicaStrategy: Evict` (upstream
/// evicts a workload's last replica; our default, Skip, does not) and leaves
/// `placementCheck` unset (its default, Warn, plans as upstream does; a
/// sample may choose Enforce, which upstream cannot say).
#[test]
fn samples_round_trip_from_their_upstream_equivalents() {
    let mut samples: Vec<PathBuf> = std::fs::read_dir(root().join("config/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    samples.sort();
    assert!(samples.len() >= 11);
    for sample in samples {
        let file = sample.file_name().unwrap().to_string_lossy().to_string();
        let ours: DeschedulerPolicy =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&sample).unwrap()).unwrap();
        let upstream = fixtures().join("samples").join(&file);
        let text = std::fs::read_to_string(&upstream).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: every sample needs an upstream equivalent",
                upstream.display()
            )
        });
        let opts = ConvertOptions {
            name: None,
            interval: ours.spec.interval.clone(),
        };
        let c = convert(&text, &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(c.policies.len(), 1, "{file}");
        let got = &c.policies[0];
        assert_eq!(got.metadata.name, ours.metadata.name, "{file}");
        let mut want = ours.spec.clone();
        want.single_replica_strategy = Some(SingleReplicaStrategy::Evict);
        want.placement_check = None;
        assert_eq!(
            got.spec,
            want,
            "{file}:\n--- converted\n{}\n--- sample\n{}",
            serde_yaml_ng::to_string(&got.spec).unwrap(),
            serde_yaml_ng::to_string(&want).unwrap()
        );
    }
}
