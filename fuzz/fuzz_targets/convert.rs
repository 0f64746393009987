//! `descheduler convert`: an upstream v1alpha1/v1alpha2 policy (or a
//! ConfigMap holding one) into DeschedulerPolicy objects. What it prints
//! must read back, as `simulate --policy` and the operator read it, to the
//! specs it converted, and those must validate.
#![no_main]

use std::path::Path;

use descheduler::convert::{ConvertOptions, convert, to_yaml_stream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(conversion) = convert(text, &ConvertOptions::default()) else {
        return;
    };
    let printed = match to_yaml_stream(&conversion.policies) {
        Ok(p) => p,
        Err(e) => panic!("converted policies do not print: {e}"),
    };
    let docs = match descheduler::yaml::documents(&printed) {
        Ok(d) => d,
        Err(e) => panic!("convert's output does not parse: {}\n{printed}", e.message),
    };
    assert_eq!(docs.len(), conversion.policies.len(), "{printed}");
    for (doc, policy) in docs.iter().zip(&conversion.policies) {
        let manifest =
            match descheduler::dump::parse_policy(Path::new("out.yaml"), &doc.to_string()) {
                Ok(m) => m,
                Err(e) => {
                    panic!("convert printed a policy that does not read back: {e}\n{printed}")
                }
            };
        assert_eq!(manifest.spec, policy.spec, "{printed}");
        if let Err(e) = descheduler::policy::validate(&manifest.spec, &|_| Some(0)) {
            panic!("convert printed an invalid policy: {e}\n{printed}");
        }
    }
});
