//! Pods by namespace and label, so that a selector with a `key in (values)`
//! requirement looks only at the pods carrying one of those labels instead of
//! every pod of the namespace: a scan per selector is quadratic when every
//! workload of a large namespace has its own budget or spread constraint.

use foldhash::HashMap;

use super::{PerPod, PodId, PodInfo};
use crate::selectors::{Requirement, Selector};

/// Built lazily, one (namespace, key) at a time, and kept for as long as the
/// pods it was built from.
#[derive(Default)]
pub struct LabelIndex {
    by_key: HashMap<(String, String), HashMap<String, Vec<PodId>>>,
}

impl LabelIndex {
    /// Pods of `ns` (whose pods are `in_ns`) labelled `key=value`, in id order.
    pub fn pods<'s>(
        &'s mut self,
        pods: &PerPod<PodInfo>,
        in_ns: &[PodId],
        ns: &str,
        key: &str,
        value: &str,
    ) -> &'s [PodId] {
        self.values(pods, in_ns, ns, key)
            .get(value)
            .map_or(&[], Vec::as_slice)
    }

    fn values<'s>(
        &'s mut self,
        pods: &PerPod<PodInfo>,
        in_ns: &[PodId],
        ns: &str,
        key: &str,
    ) -> &'s HashMap<String, Vec<PodId>> {
        self.by_key
            .entry((ns.to_string(), key.to_string()))
            .or_insert_with(|| {
                let mut m: HashMap<String, Vec<PodId>> = HashMap::default();
                for &p in in_ns {
                    if let Some(v) = pods[p].labels().get(key) {
                        m.entry(v.clone()).or_default().push(p);
                    }
                }
                m
            })
    }

    /// The pods of `ns` that `selector` can match, in id order: those carrying
    /// one of the values of its most selective `key in (values)` requirement
    /// (matchLabels entries are such requirements). None when it has no such
    /// requirement, so every pod of the namespace can match. The caller still
    /// applies the whole selector.
    pub fn candidates(
        &mut self,
        pods: &PerPod<PodInfo>,
        in_ns: &[PodId],
        ns: &str,
        selector: &Selector,
    ) -> Option<Vec<PodId>> {
        let mut best: Option<(&str, &[String], usize)> = None;
        for r in selector.requirements() {
            let Requirement::In(key, values) = r else {
                continue;
            };
            let index = self.values(pods, in_ns, ns, key);
            let count: usize = values
                .iter()
                .map(|v| index.get(v).map_or(0, Vec::len))
                .sum();
            if best.is_none_or(|(_, _, c)| count < c) {
                best = Some((key, values, count));
            }
            if count == 0 {
                break;
            }
        }
        let (key, values, count) = best?;
        let index = self.values(pods, in_ns, ns, key);
        let mut out: Vec<PodId> = Vec::with_capacity(count);
        for v in values {
            out.extend_from_slice(index.get(v).map_or(&[], Vec::as_slice));
        }
        if values.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        Some(out)
    }
}
