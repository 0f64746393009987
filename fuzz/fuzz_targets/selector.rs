//! Label selectors: the string form (`spec.nodeSelector`,
//! `--policy-label-selector`) and metav1.LabelSelector. A parsed string
//! selector printed back parses to the same selector; matchLabels given as
//! a LabelSelector and as `k=v,...` select the same label sets.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use descheduler::selectors::{Labels, Requirement, Selector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    text: &'a str,
    match_labels: Vec<(u8, u8)>,
    expressions: Vec<(u8, u8, Vec<u8>)>,
    label_sets: Vec<Vec<(u8, u8)>>,
}

const KEYS: &[&str] = &["app", "tier", "a.b/c", "zone", "x"];
const VALUES: &[&str] = &["web", "db", "", "a-b", "1"];
const OPS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "in"];

fn pick<'a>(d: &[&'a str], i: u8) -> &'a str {
    d[i as usize % d.len()]
}

fn print(sel: &Selector) -> String {
    let parts: Vec<String> = sel
        .requirements()
        .iter()
        .map(|r| match r {
            Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
            Requirement::Exists(k) => k.clone(),
            Requirement::DoesNotExist(k) => format!("!{k}"),
        })
        .collect();
    parts.join(",")
}

fn labels(set: &[(u8, u8)], extra: &Selector) -> Labels {
    let mut l: Labels = set
        .iter()
        .map(|(k, v)| (pick(KEYS, *k).to_string(), pick(VALUES, *v).to_string()))
        .collect();
    // The selector's own keys and values, so its requirements get met sometimes.
    for r in extra.requirements() {
        if let Requirement::In(k, vs) | Requirement::NotIn(k, vs) = r
            && let Some(v) = vs.first()
        {
            l.insert(k.clone(), v.clone());
        }
    }
    l
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    if let Ok(sel) = Selector::parse(input.text) {
        let printed = print(&sel);
        match Selector::parse(&printed) {
            Ok(again) => assert_eq!(again, sel, "{:?} printed as {printed:?}", input.text),
            Err(e) => panic!(
                "{:?} printed as {printed:?} does not parse: {e}",
                input.text
            ),
        }
        for set in &input.label_sets {
            let l = labels(set, &sel);
            let _ = sel.matches(&l);
        }
    }

    let match_labels: BTreeMap<String, String> = input
        .match_labels
        .iter()
        .map(|(k, v)| (pick(KEYS, *k).to_string(), pick(VALUES, *v).to_string()))
        .collect();
    let expressions: Vec<LabelSelectorRequirement> = input
        .expressions
        .iter()
        .map(|(k, op, vs)| LabelSelectorRequirement {
            key: pick(KEYS, *k).to_string(),
            operator: pick(OPS, *op).to_string(),
            values: (!vs.is_empty())
                .then(|| vs.iter().map(|v| pick(VALUES, *v).to_string()).collect()),
        })
        .collect();
    let structured = LabelSelector {
        match_labels: Some(match_labels.clone()),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    };
    let Ok(sel) = Selector::from_label_selector(&structured) else {
        return;
    };
    let as_text = match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let Ok(from_text) = Selector::parse(&as_text) else {
        panic!("matchLabels {match_labels:?} as text {as_text:?} do not parse");
    };
    let labels_only = Selector::from_label_selector(&LabelSelector {
        match_labels: Some(match_labels),
        match_expressions: None,
    });
    for set in &input.label_sets {
        let l = labels(set, &sel);
        let _ = sel.matches(&l);
        if let Ok(lo) = &labels_only {
            assert_eq!(
                lo.matches(&l),
                from_text.matches(&l),
                "{as_text:?} on {l:?}"
            );
        }
    }
});
