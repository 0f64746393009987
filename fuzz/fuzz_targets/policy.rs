//! A policy file as `simulate --policy` and the operator read it (YAML or
//! JSON), then validation, the YAML printer and a dry-run plan against
//! examples/cluster.yaml (fuzzgen::check_policy_text).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        fuzzgen::check_policy_text(text, fuzzgen::example_cluster(), fuzzgen::example_usage());
    }
});
