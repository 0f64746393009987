//! A cluster dump as `simulate --cluster` reads it: a JSON List (the
//! streaming reader, what `kubectl get -o json` and gencluster's compact
//! dumps are), else a YAML/JSON List or stream of documents. When both
//! readers accept the input they must agree; then a sample policy (chosen by
//! the input's length) is planned against it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dump) = descheduler::dump::read_cluster(Path::new("cluster"), data) else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(tree) = descheduler::dump::parse_cluster(Path::new("cluster"), text)
    {
        fuzzgen::cluster::assert_same(&dump.objects, &tree.objects);
    }
    let policy = fuzzgen::SAMPLES[data.len() % fuzzgen::SAMPLES.len()];
    fuzzgen::check_policy_text(policy, &dump.objects, Default::default());
});
