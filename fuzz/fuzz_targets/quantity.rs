//! Resource quantities ("100m", "1.5Gi", "2e3") as the snapshot reads
//! requests and allocatable. Beyond not panicking: a suffix scales exactly
//! (n k = 1000 n, n Ki = 1024 n, n e3 = n k, overflow on both sides or
//! neither), and a sign negates.
#![no_main]

use std::collections::BTreeMap;

use descheduler::snapshot::resources::{Resources, parse_quantity_milli};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_quantity_milli(s);
    let list: BTreeMap<String, Quantity> = ["cpu", "memory", "pods", "example.com/gpu"]
        .into_iter()
        .map(|k| (k.to_string(), Quantity(s.to_string())))
        .collect();
    let r = Resources::from_list(Some(&list));
    assert!(r.cpu >= 0 && r.memory >= 0 && r.pods >= 0, "{r:?}");

    let t = s.trim();
    let unsigned_integer = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !unsigned_integer {
        return;
    }
    let Some(v) = parsed else {
        // Only past i128's range (in milli-units) may an integer fail.
        assert!(
            t.trim_start_matches('0').len() > 34,
            "{t:?}: an integer that does not parse"
        );
        return;
    };
    for (suffix, factor) in [
        ("k", 1000),
        ("e3", 1000),
        ("Ki", 1024),
        ("M", 1_000_000),
        ("Mi", 1 << 20),
    ] {
        let scaled = parse_quantity_milli(&format!("{t}{suffix}"));
        assert_eq!(
            scaled,
            v.checked_mul(factor),
            "{t}{suffix} against {t} = {v}"
        );
    }
    assert_eq!(parse_quantity_milli(&format!("-{t}")), Some(-v), "-{t}");
    assert_eq!(parse_quantity_milli(&format!("+{t}")), Some(v), "+{t}");
    assert_eq!(
        parse_quantity_milli(&format!("{t}m")),
        Some(v / 1000 + i128::from(v % 1000 != 0)),
        "{t}m"
    );
});
