//! The pod records of a run's snapshot, given back when the run is done, for
//! the next snapshot of the same watch caches. A reflector hands back the
//! same `Arc` for every pod that has not changed since, and a pod's
//! [`PodInfo`] depends on nothing but the pod, the priority classes and the
//! node names (its `NodeId`), so an unchanged pod's record is taken as it
//! was instead of read from its spec again: in a steady cluster that was two
//! thirds of building the snapshot. Records are moved, never copied: the
//! kept ones are the last snapshot's, which would otherwise be dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{NodeId, NodeInfo, PerNode, PodInfo, Snapshot};

#[derive(Debug, Default)]
pub struct PodReuse {
    /// The inputs every record was made with besides its pod: a build with
    /// other ones makes every record again.
    priority_classes: BTreeMap<String, i32>,
    node_names: Vec<String>,
    /// The last snapshot's records, in its (namespace, name) order.
    records: Vec<PodInfo>,
    /// Each record's place by the address of its pod's `Arc`, which the
    /// record holds: no other pod can have that address while it is here.
    place: HashMap<usize, u32, foldhash::fast::RandomState>,
    /// How many records the last build took from here.
    reused: usize,
}

impl PodReuse {
    /// Keeps the records of a snapshot that is done with, in place of any
    /// kept before.
    pub fn keep(&mut self, snapshot: Snapshot) {
        self.priority_classes = snapshot.priority_classes;
        self.node_names = snapshot
            .nodes
            .into_vec()
            .into_iter()
            .map(|n| n.name)
            .collect();
        self.records = snapshot.pods.into_vec();
        self.place = HashMap::with_capacity_and_hasher(self.records.len(), Default::default());
        let places = self
            .records
            .iter()
            .zip(0..)
            .map(|(p, i)| (Arc::as_ptr(&p.pod) as usize, i));
        self.place.extend(places);
    }

    /// The records of `pods`: the kept record of each pod that is the same
    /// object, in the kept order (the last snapshot's, which is the order a
    /// snapshot sorts its pods in), then a new one for each other pod. Takes
    /// every kept record: a record serves one snapshot.
    pub(super) fn records(
        &mut self,
        pods: Vec<Arc<Pod>>,
        priority_classes: &BTreeMap<String, i32>,
        nodes: &PerNode<NodeInfo>,
        node_by_name: &HashMap<String, NodeId>,
    ) -> Vec<PodInfo> {
        let same_nodes = self.node_names.len() == nodes.len()
            && nodes
                .iter()
                .zip(&self.node_names)
                .all(|((_, n), name)| n.name == *name);
        let records = std::mem::take(&mut self.records);
        let place = std::mem::take(&mut self.place);
        // Records made with other nodes or classes are dropped unread.
        let (records, place) = if same_nodes && self.priority_classes == *priority_classes {
            (records, place)
        } else {
            (Vec::new(), HashMap::default())
        };
        let mut taken = vec![false; records.len()];
        let mut new = Vec::new();
        for pod in pods {
            let at = place
                .get(&(Arc::as_ptr(&pod) as usize))
                .map(|&i| i as usize)
                .filter(|&i| !taken[i] && Arc::ptr_eq(&records[i].pod, &pod));
            match at {
                Some(i) => taken[i] = true,
                None => new.push(PodInfo::new(pod, priority_classes, node_by_name)),
            }
        }
        let mut out: Vec<PodInfo> = records
            .into_iter()
            .zip(taken)
            .filter_map(|(record, taken)| taken.then_some(record))
            .collect();
        self.reused = out.len();
        out.append(&mut new);
        out
    }

    /// How many records the last build took from here.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::PodReuse;
    use crate::snapshot::Snapshot;
    use crate::testing::*;

    /// Builds `c` afresh and through `reuse`, compares every pod record, and
    /// gives the snapshot back as a run does.
    fn same_as_afresh(c: &Cluster, reuse: &mut PodReuse, taken: usize) {
        let afresh = Snapshot::build(now(), c.0.clone());
        let reused = Snapshot::build_reusing(now(), c.0.clone(), reuse);
        assert_eq!(format!("{:?}", reused.pods), format!("{:?}", afresh.pods));
        assert!(reuse.is_empty(), "a record serves one snapshot");
        assert_eq!(reuse.reused(), taken, "records taken");
        reuse.keep(reused);
        assert_eq!(reuse.len(), c.0.pods.len());
    }

    #[test]
    fn records_taken_from_the_last_build_are_the_records_made_afresh() {
        let web = |i: usize| {
            pod(&format!("p{i}"))
                .on(&format!("n{}", i % 3 + 1))
                .deployment("web")
                .req("100m", "64Mi")
        };
        let mut c = Cluster::with_nodes(3)
            .priority_class("high", 1000)
            .pods((0..6).map(web))
            .pod(pod("hi").on("n2").class("high"));
        let mut reuse = PodReuse::default();
        same_as_afresh(&c, &mut reuse, 0);
        same_as_afresh(&c, &mut reuse, 7);

        // A changed pod is a new object; one pod goes and one comes.
        c.0.pods[0] = Arc::new(web(0).req("200m", "64Mi").on("n3").0);
        c.0.pods.remove(1);
        c.0.pods.push(Arc::new(web(9).0));
        same_as_afresh(&c, &mut reuse, 5);

        // A node that sorts first moves every other node's id.
        c.0.nodes.push(Arc::new(node("a0").0));
        same_as_afresh(&c, &mut reuse, 0);

        // The class's value is the priority of the pod that names it.
        c.0.priority_classes[0] = Arc::new(priority_class("high", 5));
        same_as_afresh(&c, &mut reuse, 0);
        same_as_afresh(&c, &mut reuse, 7);
    }
}
