//! Resource quantities and pod requests, in integer units so arithmetic is exact.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Amounts of resources: cpu in millicores, memory in bytes, pods as a count,
/// and other (extended) resources in milli-units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu: i64,
    pub memory: i64,
    pub pods: i64,
    /// Sorted by name.
    pub other: Vec<(String, i64)>,
}

/// Parses a Kubernetes quantity ("100m", "1.5Gi", "2e3") into milli-units, rounding up.
pub fn parse_quantity_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (mantissa, exp10, mult): (&str, i32, i128) = match suffix {
        "" => (num, 0, 1),
        "n" => (num, -9, 1),
        "u" => (num, -6, 1),
        "m" => (num, -3, 1),
        "k" => (num, 3, 1),
        "M" => (num, 6, 1),
        "G" => (num, 9, 1),
        "T" => (num, 12, 1),
        "P" => (num, 15, 1),
        "E" => (num, 18, 1),
        "Ki" => (num, 0, 1 << 10),
        "Mi" => (num, 0, 1 << 20),
        "Gi" => (num, 0, 1 << 30),
        "Ti" => (num, 0, 1 << 40),
        "Pi" => (num, 0, 1 << 50),
        "Ei" => (num, 0, 1 << 60),
        other => {
            let e = other
                .strip_prefix('e')
                .or_else(|| other.strip_prefix('E'))?;
            (num, e.parse::<i32>().ok()?, 1)
        }
    };
    // One sign at most, as Kubernetes takes it ("+-5" is not a quantity).
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // value = digits * 10^(exp10 - frac_len + 3) * mult, in milli-units.
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let digits: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    // Checked: an exponent near i32's bounds ("1e2147483647") or digits
    // near i128's ("...n") must give None, not overflow.
    let scale = exp10
        .checked_sub(i32::try_from(frac_part.len()).ok()?)?
        .checked_add(3)?;
    let value = if scale >= 0 {
        digits
            .checked_mul(10i128.checked_pow(scale.unsigned_abs())?)?
            .checked_mul(mult)?
    } else {
        let n = digits.checked_mul(mult)?;
        match 10i128.checked_pow(scale.unsigned_abs()) {
            // Rounded up, without the n + div - 1 that overflows near i128::MAX.
            Some(div) => n / div + i128::from(n % div != 0),
            // Below a milli-unit by more than i128 can say: rounded up too.
            None => i128::from(n != 0),
        }
    };
    Some(if negative { -value } else { value })
}

/// Whole units from milli-units, rounded up (toward +infinity), without the
/// `milli + 999` that overflows near i128::MAX.
pub fn milli_to_units_ceil(milli: i128) -> i128 {
    milli.div_euclid(1000) + i128::from(milli.rem_euclid(1000) != 0)
}

fn clamp(v: i128) -> i64 {
    v.clamp(0, i64::MAX as i128) as i64
}

impl Resources {
    /// Reads a ResourceList (allocatable, requests); unparseable quantities count as zero.
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        Self::from_entries(list.into_iter().flatten())
    }

    /// Reads (name, quantity) entries with distinct names; the order does not matter.
    fn from_entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Quantity)>) -> Self {
        let mut r = Resources::default();
        for (name, q) in entries {
            let Some(milli) = parse_quantity_milli(&q.0) else {
                continue;
            };
            match name.as_str() {
                "cpu" => r.cpu = clamp(milli),
                "memory" => r.memory = clamp(milli_to_units_ceil(milli)),
                "pods" => r.pods = clamp(milli_to_units_ceil(milli)),
                _ => r.other.push((name.clone(), clamp(milli))),
            }
        }
        r.other.sort();
        r
    }

    /// Amount of a resource by name, in this struct's units.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.cpu,
            "memory" => self.memory,
            "pods" => self.pods,
            _ => self
                .other
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v),
        }
    }

    pub fn set(&mut self, name: &str, value: i64) {
        match name {
            "cpu" => self.cpu = value,
            "memory" => self.memory = value,
            "pods" => self.pods = value,
            _ => match self.other.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                Ok(i) => self.other[i].1 = value,
                Err(i) => self.other.insert(i, (name.to_string(), value)),
            },
        }
    }

    pub fn add(&mut self, o: &Resources) {
        self.cpu = self.cpu.saturating_add(o.cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.pods = self.pods.saturating_add(o.pods);
        for (n, v) in &o.other {
            let cur = self.get(n);
            self.set(n, cur.saturating_add(*v));
        }
    }

    pub fn sub(&mut self, o: &Resources) {
        self.cpu = self.cpu.saturating_sub(o.cpu);
        self.memory = self.memory.saturating_sub(o.memory);
        self.pods = self.pods.saturating_sub(o.pods);
        for (n, v) in &o.other {
            let cur = self.get(n);
            self.set(n, cur.saturating_sub(*v));
        }
    }

    fn max_with(&mut self, o: &Resources) {
        self.cpu = self.cpu.max(o.cpu);
        self.memory = self.memory.max(o.memory);
        self.pods = self.pods.max(o.pods);
        for (n, v) in &o.other {
            let cur = self.get(n);
            self.set(n, cur.max(*v));
        }
    }

    /// Every resource name with a non-zero amount, natives first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        ["cpu", "memory", "pods"]
            .into_iter()
            .chain(self.other.iter().map(|(n, _)| n.as_str()))
    }

    /// Whether `request` fits into `allocatable` given `used`: every requested
    /// resource must have room (a resource the node lacks has none).
    pub fn fits(request: &Resources, used: &Resources, allocatable: &Resources) -> bool {
        request.names().all(|n| {
            let want = request.get(n);
            want <= 0 || used.get(n).saturating_add(want) <= allocatable.get(n)
        })
    }

    /// Usage as a percentage of allocatable; a resource the node lacks counts as 0%.
    pub fn percent(used: i64, allocatable: i64) -> f64 {
        if allocatable <= 0 {
            0.0
        } else {
            used as f64 * 100.0 / allocatable as f64
        }
    }
}

fn container_requests(c: &Container) -> Resources {
    let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    // A limit without a request defaults the request to the limit.
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    let defaulted = limits
        .into_iter()
        .flatten()
        .filter(|(name, _)| !req.is_some_and(|r| r.contains_key(*name)));
    Resources::from_entries(req.into_iter().flatten().chain(defaulted))
}

/// The pod's effective request: the larger of its containers' sum (with
/// restartable init containers) and its largest init container, plus overhead;
/// `pods` is always 1.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&container_requests(c));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            total.add(&r);
        } else {
            let mut at_start = sidecars.clone();
            at_start.add(&r);
            init_max.max_with(&at_start);
        }
    }
    total.max_with(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        total.add(&Resources::from_list(Some(overhead)));
    }
    total.pods = 1;
    total
}

/// The requests kube-scheduler assumes, for scoring only, for a container
/// that requests no cpu or memory (`schedutil.DefaultMilliCPURequest`,
/// `DefaultMemoryRequest`).
pub const DEFAULT_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// A container's cpu (millicores) and memory (bytes) request for scoring:
/// the request (or, as API defaulting does, the limit), else the defaults.
fn container_nonzero(c: &Container) -> (i64, i64) {
    let res = c.resources.as_ref();
    let get = |name: &str| {
        let q = res
            .and_then(|r| r.requests.as_ref())
            .and_then(|m| m.get(name))
            .or_else(|| {
                res.and_then(|r| r.limits.as_ref())
                    .and_then(|m| m.get(name))
            })?;
        Some(parse_quantity_milli(&q.0).unwrap_or(0).max(0))
    };
    let cpu = get("cpu").map_or(DEFAULT_CPU, |m| m.min(i64::MAX as i128) as i64);
    let memory = get("memory").map_or(DEFAULT_MEMORY, |m| {
        milli_to_units_ceil(m).min(i64::MAX as i128) as i64
    });
    (cpu, memory)
}

fn has_request(c: &Container, name: &str) -> bool {
    c.resources.as_ref().is_some_and(|r| {
        r.requests.as_ref().is_some_and(|m| m.contains_key(name))
            || r.limits.as_ref().is_some_and(|m| m.contains_key(name))
    })
}

/// The pod's cpu and memory requests as LeastAllocated counts them
/// (`NonMissingContainerRequests`): containers without a request count the
/// defaults; init containers and overhead as for the filter. `requests` is
/// the spec's [`pod_requests`]. Computed while the snapshot reads the spec:
/// the placement model needs it for every pod, and walking every pod's
/// containers again later is a chain of cache misses per pod.
pub fn nonzero_requests(spec: &PodSpec, requests: &Resources) -> (i64, i64) {
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    if inits.is_empty() {
        // The requests already sum the containers and the overhead.
        let missing = |name| {
            spec.containers
                .iter()
                .filter(|c| !has_request(c, name))
                .count() as i64
        };
        return (
            requests.cpu.saturating_add(missing("cpu") * DEFAULT_CPU),
            requests
                .memory
                .saturating_add(missing("memory") * DEFAULT_MEMORY),
        );
    }
    let (mut cpu, mut memory) = (0i64, 0i64);
    for c in &spec.containers {
        let (c, m) = container_nonzero(c);
        cpu = cpu.saturating_add(c);
        memory = memory.saturating_add(m);
    }
    let (mut side_cpu, mut side_mem, mut init_cpu, mut init_mem) = (0i64, 0i64, 0i64, 0i64);
    for c in inits {
        let (cc, cm) = container_nonzero(c);
        if c.restart_policy.as_deref() == Some("Always") {
            side_cpu = side_cpu.saturating_add(cc);
            side_mem = side_mem.saturating_add(cm);
            cpu = cpu.saturating_add(cc);
            memory = memory.saturating_add(cm);
        } else {
            init_cpu = init_cpu.max(side_cpu.saturating_add(cc));
            init_mem = init_mem.max(side_mem.saturating_add(cm));
        }
    }
    let overhead = Resources::from_list(spec.overhead.as_ref());
    (
        cpu.max(init_cpu).saturating_add(overhead.cpu),
        memory.max(init_mem).saturating_add(overhead.memory),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let cases = [
            ("100m", 100),
            ("1", 1000),
            ("1.5", 1500),
            ("2k", 2_000_000),
            ("1Ki", 1_024_000),
            ("1Gi", 1_073_741_824_000),
            ("1e3", 1_000_000),
            ("0.1m", 1),
            ("500n", 1),
            ("0", 0),
            ("128974848", 128_974_848_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_quantity_milli(s), Some(want), "{s}");
        }
        for bad in ["", "abc", "1x", "1.2.3", "m"] {
            assert_eq!(parse_quantity_milli(bad), None, "{bad}");
        }
    }

    /// Found by fuzzing (fuzz/fuzz_targets/quantity.rs): these overflowed
    /// (a panic in debug builds) or were taken although Kubernetes rejects them.
    #[test]
    fn extreme_exponents_and_digits_and_double_signs_are_not_quantities() {
        for bad in ["1e2147483647", "1.5e-2147483648", "+-5", "--5", "-+5"] {
            assert_eq!(parse_quantity_milli(bad), None, "{bad}");
        }
        // Near the edge, what fits still parses, rounded up (the n + div - 1
        // of the rounding overflowed for this one).
        assert_eq!(
            parse_quantity_milli("170141183460469231731687303715884105727n"),
            Some(170141183460469231731687303715885)
        );
        assert_eq!(
            parse_quantity_milli("170141183460469231731687303715884105727u"),
            Some(170141183460469231731687303715884105727 / 1000 + 1)
        );
        assert_eq!(parse_quantity_milli("1e-2147483647"), Some(1));
        assert_eq!(parse_quantity_milli("-5"), Some(-5000));
        assert_eq!(parse_quantity_milli("+5"), Some(5000));
    }

    /// Found by fuzzing: an integer whose milli-units sit within 999 of
    /// i128::MAX overflowed the rounding up to whole bytes and pods.
    #[test]
    fn memory_and_pods_round_up_without_overflow_near_the_edge() {
        let edge = "170141183460469231731687303715884105";
        let list: BTreeMap<String, Quantity> = ["memory", "pods"]
            .into_iter()
            .map(|k| (k.to_string(), Quantity(edge.into())))
            .collect();
        let r = Resources::from_list(Some(&list));
        assert_eq!((r.memory, r.pods), (i64::MAX, i64::MAX));
        for (milli, units) in [
            (0, 0),
            (1, 1),
            (999, 1),
            (1000, 1),
            (1001, 2),
            (-500, 0),
            (-1000, -1),
        ] {
            assert_eq!(milli_to_units_ceil(milli), units, "{milli}");
        }
        assert_eq!(milli_to_units_ceil(i128::MAX), i128::MAX / 1000 + 1);
    }

    fn container(cpu: &str, mem: &str) -> Container {
        let mut req = BTreeMap::new();
        req.insert("cpu".to_string(), Quantity(cpu.into()));
        req.insert("memory".to_string(), Quantity(mem.into()));
        Container {
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                requests: Some(req),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_limit_without_a_request_is_the_request() {
        let list = |kv: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        let c = Container {
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                requests: Some(list(&[("cpu", "500m"), ("ephemeral-storage", "x")])),
                limits: Some(list(&[
                    ("cpu", "2"),
                    ("memory", "1Gi"),
                    ("example.com/gpu", "1"),
                    ("ephemeral-storage", "1Gi"),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = container_requests(&c);
        assert_eq!((r.cpu, r.memory), (500, 1024 * 1024 * 1024));
        // An unreadable request is not replaced by the limit: it counts as none.
        assert_eq!(r.other, [("example.com/gpu".to_string(), 1000)]);
    }

    #[test]
    fn init_containers_take_the_max() {
        let spec = PodSpec {
            containers: vec![container("100m", "100Mi"), container("200m", "100Mi")],
            init_containers: Some(vec![container("500m", "10Mi")]),
            ..Default::default()
        };
        let r = pod_requests(&spec);
        assert_eq!(r.cpu, 500);
        assert_eq!(r.memory, 200 * 1024 * 1024);
        assert_eq!(r.pods, 1);
    }
}
