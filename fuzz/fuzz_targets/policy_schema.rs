//! Structure-aware: a DeschedulerPolicy generated from the CRD's schema (so
//! it gets past the parser), printed as JSON or by the crate's YAML printer,
//! then the same checks as the `policy` target. The printer must read back
//! as the document it printed.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(doc) = fuzzgen::schema::policy(&mut u) else {
        return;
    };
    let text = if u.arbitrary::<bool>().unwrap_or(false) {
        let text = match descheduler::yaml::to_string(&doc) {
            Ok(t) => t,
            Err(e) => panic!("the YAML printer failed: {e}"),
        };
        match descheduler::yaml::documents(&text) {
            Ok(docs) => assert_eq!(docs, vec![doc.clone()], "printed:\n{text}"),
            Err(e) => panic!(
                "the YAML printer's output does not parse: {}\n{text}",
                e.message
            ),
        }
        text
    } else {
        doc.to_string()
    };
    fuzzgen::check_policy_text(&text, fuzzgen::example_cluster(), fuzzgen::example_usage());
});
