//! Structure-aware: a generated cluster (fuzzgen::cluster) printed as a
//! compact JSON List, a pretty one, or a YAML stream; every form reads back
//! to the same objects, and a policy (a sample, or one generated from the
//! CRD's schema) is planned against it.
#![no_main]

use std::path::Path;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(items) = fuzzgen::cluster::items(&mut u) else {
        return;
    };
    let policy = if u.arbitrary::<bool>().unwrap_or(true) {
        u.choose(fuzzgen::SAMPLES).map(|s| s.to_string()).ok()
    } else {
        fuzzgen::schema::policy(&mut u).ok().map(|d| d.to_string())
    };
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let compact = list.to_string();
    let Ok(dump) = descheduler::dump::read_cluster(Path::new("cluster.json"), compact.as_bytes())
    else {
        return;
    };
    let mut stream = String::new();
    for item in &items {
        stream.push_str("---\n");
        match descheduler::yaml::to_string(item) {
            Ok(t) => stream.push_str(&t),
            Err(e) => panic!("the YAML printer failed: {e}"),
        }
    }
    for other in [
        serde_json::to_string_pretty(&list).unwrap_or_default(),
        stream,
    ] {
        match descheduler::dump::read_cluster(Path::new("cluster"), other.as_bytes()) {
            Ok(d) => fuzzgen::cluster::assert_same(&dump.objects, &d.objects),
            Err(e) => panic!("the compact form reads, this one not: {e}\n{other}"),
        }
    }
    if let Some(policy) = policy {
        fuzzgen::check_policy_text(&policy, &dump.objects, Default::default());
    }
});
