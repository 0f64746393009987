//! The committed CRD is generated, never edited: this fails when it drifts.
//! Regenerate with `cargo run -- crd > crds/deschedulerpolicies.descheduler.dev.yaml`.

// Test and tool code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn committed_crd_matches_the_generated_one() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/deschedulerpolicies.descheduler.dev.yaml"
    );
    let committed = std::fs::read_to_string(path).expect("crds/ holds the CRD");
    let generated = descheduler::api::crd_yaml().expect("the CRD renders");
    assert!(
        committed == generated,
        "{path} is stale: run `cargo run -- crd > crds/deschedulerpolicies.descheduler.dev.yaml`"
    );
}

#[test]
fn crd_has_the_names_scope_and_columns_users_rely_on() {
    let crd: serde_json::Value =
        serde_yaml_ng::from_str(&descheduler::api::crd_yaml().expect("renders"))
            .expect("valid YAML");
    let spec = &crd["spec"];
    assert_eq!(spec["scope"], "Cluster");
    assert_eq!(spec["names"]["plural"], "deschedulerpolicies");
    assert_eq!(spec["names"]["shortNames"][0], "dsp");
    let version = &spec["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for want in [
        "Mode", "Interval", "Last Run", "Evicted", "Total", "Valid", "Age",
    ] {
        assert!(columns.contains(&want), "missing printer column {want}");
    }
}

/// The chart's and kustomize's copies of the CRD are generated too (`make
/// generate`): Helm and kustomize cannot load files outside their own
/// directories, so each needs a copy, and neither may drift.
#[test]
fn chart_and_kustomize_crd_copies_match_the_generated_one() {
    let generated = descheduler::api::crd_yaml().expect("the CRD renders");
    for copy in [
        "charts/descheduler/crds/deschedulerpolicies.descheduler.dev.yaml",
        "config/crd/deschedulerpolicies.descheduler.dev.yaml",
    ] {
        let path = format!("{}/{copy}", env!("CARGO_MANIFEST_DIR"));
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        assert!(
            committed == generated,
            "{copy} differs from `descheduler crd`: run `make generate`"
        );
    }
}
