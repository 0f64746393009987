//! Pods by namespace and label, so that a selector with a `key in (values)`
//! requirement looks only at the pods carrying one of those labels instead of
//! every pod of the namespace: a scan per selector is quadratic when every
//! workload of a large namespace has its own budget or spread constraint.

use foldhash::HashMap;

use super::{PerPod, PodId, PodInfo};
use crate::selectors::{Requirement, Selector};

/// Built lazily, one (namespace, key) at a time, and kept for as long as the
/// pods it was built from.
#[derive(Clone, Debug, Default)]
pub struct LabelIndex {
    /// namespace -> key -> value -> pods; looked up by `&str`, so a hit
    /// allocates nothing.
    by_ns: HashMap<String, HashMap<String, HashMap<String, Vec<PodId>>>>,
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

    /// The pods of `ns` by their value of `key`, if that part of the index
    /// was built.
    pub fn built(&self, ns: &str, key: &str) -> Option<&HashMap<String, Vec<PodId>>> {
        self.by_ns.get(ns).and_then(|k| k.get(key))
    }

    fn values<'s>(
        &'s mut self,
        pods: &PerPod<PodInfo>,
        in_ns: &[PodId],
        ns: &str,
        key: &str,
    ) -> &'s HashMap<String, Vec<PodId>> {
        if !self.by_ns.get(ns).is_some_and(|k| k.contains_key(key)) {
            let mut m: HashMap<String, Vec<PodId>> = HashMap::default();
            for &p in in_ns {
                if let Some(v) = pods[p].labels().get(key) {
                    m.entry(v.clone()).or_default().push(p);
                }
            }
            self.by_ns
                .entry(ns.to_string())
                .or_default()
                .insert(key.to_string(), m);
        }
        &self.by_ns[ns][key]
    }

    /// The pods of `ns` that `selector` can match, in id order: those carrying
    /// one of the values of its first `key in (values)` requirement. None when
    /// it has no such requirement (then every pod of the namespace can match).
    /// The caller still applies the whole selector.
    pub fn candidates(
        &mut self,
        pods: &PerPod<PodInfo>,
        in_ns: &[PodId],
        ns: &str,
        selector: &Selector,
    ) -> Option<Vec<PodId>> {
        let (key, values) = selector.required_values()?;
        let index = self.values(pods, in_ns, ns, key);
        Some(gather(index, values, None))
    }

    /// [`LabelIndex::candidates`] through the most selective `key in
    /// (values)` requirement (matchLabels entries are such requirements):
    /// worth its extra lookups when selectors are few and their first term
    /// is broad (a budget selecting `team=x, app=y`).
    pub fn most_selective(
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
        Some(gather(index, values, Some(count)))
    }
}

/// The pods carrying one of `values`, in id order.
pub fn gather(
    index: &HashMap<String, Vec<PodId>>,
    values: &[String],
    count: Option<usize>,
) -> Vec<PodId> {
    let mut out: Vec<PodId> = Vec::with_capacity(count.unwrap_or(0));
    for v in values {
        out.extend_from_slice(index.get(v).map_or(&[], Vec::as_slice));
    }
    if values.len() > 1 {
        out.sort_unstable();
        out.dedup();
    }
    out
}
