//! Each score: the plugin functions on their own, exact totals on a small
//! cluster, and for each plugin a cluster where it alone decides.

use super::Model;
use super::score::{Divisor, balanced, default_normalize, div, least_allocated, round};
use super::test_builders::*;
use crate::snapshot::Snapshot;
use crate::testing::*;

const GI: i64 = 1 << 30;

#[test]
fn plugin_functions() {
    // LeastAllocated: the mean free share; a resource over capacity scores 0.
    let cases = [
        ([1000, 2 * GI], [4000, 8 * GI], 75),
        ([0, 0], [4000, 8 * GI], 100),
        ([5000, 0], [4000, 8 * GI], 50),
        ([1000, 0], [4000, 0], 75),
        ([1000, 0], [0, 0], 0),
        ([1, 1], [3, 3], 66),
    ];
    for (req, alloc, want) in cases {
        assert_eq!(
            least_allocated(req, alloc),
            want,
            "least {req:?} / {alloc:?}"
        );
    }
    // BalancedAllocation: 100 * (1 - |cpu fraction - memory fraction| / 2).
    let cases = [
        ([1000, 2 * GI], [4000, 8 * GI], 100),
        ([4000, 0], [4000, 8 * GI], 50),
        ([2000, 0], [4000, 8 * GI], 75),
        ([8000, 0], [4000, 8 * GI], 50),
        ([1000, 0], [4000, 0], 100),
    ];
    for (req, alloc, want) in cases {
        assert_eq!(balanced(req, alloc), want, "balanced {req:?} / {alloc:?}");
    }
    let cases: [(&[i64], bool, &[i64]); 4] = [
        (&[0, 5, 10], false, &[0, 50, 100]),
        (&[0, 5, 10], true, &[100, 50, 0]),
        (&[0, 0], true, &[100, 100]),
        (&[0, 0], false, &[0, 0]),
    ];
    for (input, reverse, want) in cases {
        let mut v = input.to_vec();
        default_normalize(&mut v, reverse);
        assert_eq!(v, want, "normalize {input:?} reverse={reverse}");
    }
}

/// The total score of each node for the replacement of `p`, by node name.
fn totals(snap: &Snapshot, p: &str) -> Vec<(String, i64)> {
    let mut m = Model::new(snap);
    let id = pod_id(snap, p);
    m.remove(id);
    let cyc = m.cycle(id);
    let feasible: Vec<_> = snap
        .node_ids()
        .filter(|&n| m.check(&cyc, n).is_ok())
        .collect();
    let scores = m.scores(&cyc, &feasible);
    feasible
        .iter()
        .zip(scores)
        .map(|(&n, s)| (snap.node(n).name.clone(), s))
        .collect()
}

#[test]
fn exact_totals() {
    // p (1 cpu, 2Gi) alone in its ReplicaSet; n2 already holds 2 cpu / 4Gi.
    // n1: TaintToleration 100*3 + LeastAllocated 75 + Balanced 100 +
    // PodTopologySpread (system defaults, no sibling) 100*2 = 675.
    // n2: 300 + 25 + 100 + 200 = 625.
    // Every node carries its hostname label, as the kubelet sets it: a
    // feasible node without it gets no hostname credit, which would make it
    // the spreading favourite and push n1 and n2 down to 0 (scoring.go).
    let snap = labelled(2, &[])
        .node(node("src").label(HOST, "src"))
        .pod(pod("q").on("n2").req("2", "4Gi"))
        .pod(pod("p").on("src").req("1", "2Gi"))
        .snapshot();
    let t = totals(&snap, "p");
    assert_eq!(&t[..2], [("n1".to_string(), 675), ("n2".to_string(), 625)]);
}

#[test]
fn containers_without_requests_count_the_defaults() {
    // Ten BestEffort pods on n1 count as 1 cpu / 2000Mi for LeastAllocated;
    // the one 500m / 1000Mi pod on n2 is less. The source node is cordoned:
    // empty, it would beat both.
    let snap = labelled(2, &[])
        .node(node("src").label(HOST, "src").unschedulable())
        .pods((0..10).map(|i| pod(&format!("be{i}")).on("n1")))
        .pod(pod("q").on("n2").req("500m", "1000Mi"))
        .pod(pod("p").on("src").req("100m", "100Mi"))
        .snapshot();
    assert_eq!(predict(&snap, "p").as_deref(), Some("n2"));
}

/// Each case: where the replacement of `p` (evicted from `src`, cordoned)
/// goes among n1..n3.
#[test]
fn each_plugin_decides() {
    let base = || labelled(3, &["a", "b", "c"]).node(node("src").unschedulable());
    let p = || pod("p").on("src").req("100m", "128Mi");
    let cases: Vec<(&str, Cluster, &str)> = vec![
        ("all equal: the first by name", base().pod(p()), "n1"),
        (
            "LeastAllocated: the emptiest",
            base()
                .pod(pod("q1").on("n1").req("2", "4Gi"))
                .pod(pod("q2").on("n2").req("1", "2Gi"))
                .pod(pod("q3").on("n3").req("2", "4Gi"))
                .pod(p()),
            "n2",
        ),
        (
            "BalancedAllocation: cpu and memory alike",
            // The same LeastAllocated score (50 and 50, 75 and 25); n3 balanced.
            base()
                .pod(pod("q1").on("n1").req("3900m", ""))
                .pod(pod("q2").on("n2").req("", "7900Mi"))
                .pod(pod("q3").on("n3").req("1900m", "3900Mi"))
                .pod(p()),
            "n3",
        ),
        (
            "TaintToleration: avoids PreferNoSchedule",
            labelled(2, &[])
                .node(
                    node("n0")
                        .label(HOST, "n0")
                        .taint("t", "", "PreferNoSchedule"),
                )
                .node(node("src").unschedulable())
                .pod(p()),
            "n1",
        ),
        (
            "NodeAffinity: the preferred zone",
            base().pod(p().prefer_node(10, ZONE, "c")),
            "n3",
        ),
        (
            "InterPodAffinity: the pod's preferred affinity",
            base()
                .pod(pod("db").on("n2").label("app", "db"))
                .pod(p().prefer_affinity(10, ZONE, &[("app", "db")])),
            "n2",
        ),
        (
            "InterPodAffinity: the pod's preferred anti-affinity",
            base()
                .pod(pod("w1").on("n1").label("app", "web"))
                .pod(pod("w2").on("n2").label("app", "web"))
                .pod(p().prefer_anti(10, ZONE, &[("app", "web")])),
            "n3",
        ),
        (
            "InterPodAffinity: an existing pod's preferred affinity",
            base()
                .pod(pod("c").on("n3").prefer_affinity(10, ZONE, &[("app", "p")]))
                .pod(p().label("app", "p")),
            "n3",
        ),
        (
            "InterPodAffinity: an existing pod's required affinity (weight 1)",
            base()
                .pod(pod("c").on("n2").affinity(ZONE, &[("app", "p")]))
                .pod(p().label("app", "p")),
            "n2",
        ),
        (
            "InterPodAffinity: an existing pod's preferred anti-affinity",
            base()
                .pod(pod("c1").on("n1").prefer_anti(10, ZONE, &[("app", "p")]))
                .pod(pod("c2").on("n3").prefer_anti(10, ZONE, &[("app", "p")]))
                .pod(p().label("app", "p")),
            "n2",
        ),
        (
            "PodTopologySpread: a ScheduleAnyway constraint",
            base()
                .pod(pod("w1").on("n1").label("app", "web"))
                .pod(pod("w2").on("n2").label("app", "web"))
                .pod(
                    p().label("app", "web")
                        .spread(tsc(ZONE, 1, false, &[("app", "web")])),
                ),
            "n3",
        ),
        (
            // A BestEffort stranger on n3 evens out LeastAllocated, which
            // counts 100m / 200Mi for each of the siblings.
            "PodTopologySpread: the system defaults spread a ReplicaSet",
            base()
                .pod(pod("s1").on("n1").owner("ReplicaSet", "rs"))
                .pod(pod("s2").on("n2").owner("ReplicaSet", "rs"))
                .pod(pod("x").on("n3"))
                .pod(p().owner("ReplicaSet", "rs")),
            "n3",
        ),
        (
            "PodTopologySpread: no system defaults for a Job",
            base()
                .pod(pod("s1").on("n1").owner("Job", "j"))
                .pod(pod("s2").on("n2").owner("Job", "j"))
                .pod(pod("x").on("n3"))
                .pod(p().owner("Job", "j")),
            "n1",
        ),
    ];
    for (what, c, want) in cases {
        let snap = c.snapshot();
        assert_eq!(predict(&snap, "p").as_deref(), Some(want), "{what}");
    }
}

#[test]
fn system_default_spreading_outweighs_a_little_load() {
    // Three siblings on n1, which is otherwise a little emptier than n2.
    let snap = labelled(2, &[])
        .node(node("src").unschedulable())
        .pods((0..3).map(|i| pod(&format!("s{i}")).on("n1").owner("ReplicaSet", "rs")))
        .pod(pod("q").on("n2").req("200m", "256Mi"))
        .pod(pod("p").on("src").owner("ReplicaSet", "rs"))
        .snapshot();
    assert_eq!(predict(&snap, "p").as_deref(), Some("n2"));
}

/// Both float divisions, the direct one and the one by a reciprocal,
/// against integer division.
fn check_div(x: i64, d: i64) {
    assert_eq!(div(x, d), x / d, "{x} / {d}");
    assert_eq!(Divisor::new(d).div(x), x / d, "{x} / {d} by the reciprocal");
}

#[test]
fn division_by_floats_truncates_as_integers_do() {
    let near = |v: i64| [v - 1, v, v + 1];
    let mut xs = vec![
        0,
        1,
        99,
        100,
        101,
        12_345_678_901,
        i64::MAX,
        -1,
        -101,
        i64::MIN,
    ];
    xs.extend(near(1 << 52));
    xs.extend(near(1 << 53));
    let mut ds = vec![1, 2, 3, 7, 100, 1000, 4_000_000_007, i64::MAX];
    ds.extend(near(1 << 52));
    for &x in &xs {
        for &d in &ds {
            check_div(x, d);
        }
    }
    // Quotients just below an integer, where rounding up would show: x = q*d - 1.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let d = (seed % (1 << 40)) as i64 + 1;
        let q = ((seed >> 40) % 101) as i64;
        for x in [q * d - 1, q * d, q * d + 1, q * d + d - 1] {
            if x >= 0 {
                check_div(x, d);
            }
        }
        let x = (seed >> 11) as i64;
        check_div(x, d);
    }
}

#[test]
fn rounding_without_the_library_call_rounds_as_f64_round_does() {
    let halfway = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1e15 + 0.5];
    let near_half = [0.499_999_999_999_999_94, -0.499_999_999_999_999_94];
    let edges = [
        0.0,
        -0.0,
        4_503_599_627_370_495.5,
        4.5e15,
        9.0e15,
        -9.0e15,
        1e300,
    ];
    let special = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MAX,
        f64::MIN,
    ];
    for x in halfway
        .iter()
        .chain(&near_half)
        .chain(&edges)
        .chain(&special)
    {
        assert_eq!(round(*x), x.round() as i64, "{x}");
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Scores as spreading computes them: counts times ln(n + 2) plus a skew.
        let x = (seed % 10_000) as f64 * ((seed >> 20) % 5_000 + 2) as f64 / 64.0
            * ((seed >> 40) % 2_000) as f64
            / 1_000.0
            - 2.0;
        assert_eq!(round(x), x.round() as i64, "{x}");
        let y = f64::from_bits(seed);
        assert_eq!(round(y), y.round() as i64, "{y}");
    }
}
