//! Label selectors, node selector terms, taints and tolerations: the matching
//! rules the scheduler applies, as pure functions.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub type Labels = BTreeMap<String, String>;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed label selector; requirements are ANDed. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// Why a selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unknown operator {0:?} (expected In, NotIn, Exists or DoesNotExist)")]
    UnknownOperator(String),
    #[error("operator {0} needs at least one value")]
    MissingValues(String),
    #[error("operator {0} takes no values")]
    UnexpectedValues(String),
    #[error("cannot parse {0:?}")]
    Syntax(String),
}

impl Selector {
    pub fn everything() -> Self {
        Self::default()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    pub fn matches_opt(&self, labels: Option<&Labels>) -> bool {
        match labels {
            Some(l) => self.matches(l),
            None => self.matches(&Labels::new()),
        }
    }

    /// Adds `key = value` (as matchLabelKeys does).
    pub fn and_equals(mut self, key: &str, value: &str) -> Self {
        self.requirements
            .push(Requirement::In(key.to_string(), vec![value.to_string()]));
        self
    }

    /// A requirement every match must meet of the form `key in (values)`,
    /// for looking candidates up in an index instead of scanning.
    pub fn required_values(&self) -> Option<(&str, &[String])> {
        self.requirements.iter().find_map(|r| match r {
            Requirement::In(k, vs) => Some((k.as_str(), vs.as_slice())),
            _ => None,
        })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// A metav1.LabelSelector. Note: for PodDisruptionBudgets and affinity terms the
    /// empty selector matches everything, which is what this returns.
    pub fn from_label_selector(sel: &LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement::In(k.clone(), vec![v.clone()]));
        }
        for expr in sel.match_expressions.iter().flatten() {
            let values = distinct(expr.values.clone().unwrap_or_default());
            let req = match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError::MissingValues(expr.operator.clone()));
                }
                "In" => Requirement::In(expr.key.clone(), values),
                "NotIn" => Requirement::NotIn(expr.key.clone(), values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues(expr.operator.clone()));
                }
                "Exists" => Requirement::Exists(expr.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(expr.key.clone()),
                other => return Err(SelectorError::UnknownOperator(other.to_string())),
            };
            requirements.push(req);
        }
        Ok(Self { requirements })
    }

    /// The string form kubectl takes: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(s)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Self { requirements })
    }
}

fn split_top_level(s: &str) -> Result<Vec<&str>, SelectorError> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(SelectorError::Syntax(s.to_string()));
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError::Syntax(s.to_string()));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The values in their first order, each once: a value listed twice
/// selects nothing more, and a label query that looks each value up in an
/// index must not count its pods twice.
fn distinct(values: Vec<String>) -> Vec<String> {
    if values.len() > 32 {
        let mut seen = std::collections::HashSet::new();
        return values
            .into_iter()
            .filter(|v| seen.insert(v.clone()))
            .collect();
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    let err = || SelectorError::Syntax(part.to_string());
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key)
            .then(|| Requirement::DoesNotExist(key.to_string()))
            .ok_or_else(err);
    }
    for (op, negate) in [(" notin ", true), (" in ", false)] {
        if let Some(idx) = part.find(op) {
            let key = part[..idx].trim();
            let rest = part[idx + op.len()..].trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(err)?;
            let values = distinct(inner.split(',').map(|v| v.trim().to_string()).collect());
            if !valid_key(key) || values.iter().any(|v| !valid_value(v)) {
                return Err(err());
            }
            return Ok(if negate {
                Requirement::NotIn(key.to_string(), values)
            } else {
                Requirement::In(key.to_string(), values)
            });
        }
    }
    for (op, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some(idx) = part.find(op) {
            let key = part[..idx].trim();
            let value = part[idx + op.len()..].trim();
            if !valid_key(key) || !valid_value(value) {
                return Err(err());
            }
            let values = vec![value.to_string()];
            return Ok(if negate {
                Requirement::NotIn(key.to_string(), values)
            } else {
                Requirement::In(key.to_string(), values)
            });
        }
    }
    valid_key(part)
        .then(|| Requirement::Exists(part.to_string()))
        .ok_or_else(err)
}

/// A node selector requirement as the scheduler evaluates it (In, NotIn, Exists,
/// DoesNotExist, Gt, Lt on labels; matchFields on metadata.name).
fn node_requirement_matches(req: &NodeSelectorRequirement, labels: &Labels) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    let value = labels.get(&req.key);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn field_requirement_matches(req: &NodeSelectorRequirement, node_name: &str) -> bool {
    if req.key != "metadata.name" {
        return false;
    }
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => values.iter().any(|v| v == node_name),
        "NotIn" => values.iter().all(|v| v != node_name),
        _ => false,
    }
}

/// A term matches when all its requirements do; a term with none matches nothing.
pub fn node_selector_term_matches(
    term: &NodeSelectorTerm,
    node_name: &str,
    labels: &Labels,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| node_requirement_matches(r, labels))
        && fields
            .iter()
            .all(|r| field_requirement_matches(r, node_name))
}

/// Terms are ORed.
pub fn node_selector_terms_match(
    terms: &[NodeSelectorTerm],
    node_name: &str,
    labels: &Labels,
) -> bool {
    terms
        .iter()
        .any(|t| node_selector_term_matches(t, node_name, labels))
}

fn toleration_matches(tol: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = tol.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = tol.key.as_deref().unwrap_or("");
    let op = tol.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        // An empty key with Exists tolerates every taint.
        return op == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match op {
        "Exists" => true,
        "Equal" => tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

pub fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| toleration_matches(t, taint))
}

/// Whether the pod tolerates every taint of the given effects.
pub fn tolerates_all(tolerations: &[Toleration], taints: &[Taint], effects: &[&str]) -> bool {
    taints
        .iter()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .all(|t| tolerates(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn string_selectors() {
        let l = labels(&[("role", "worker"), ("zone", "a")]);
        let cases = [
            ("", true),
            ("role=worker", true),
            ("role==worker", true),
            ("role!=worker", false),
            ("zone in (a,b)", true),
            ("zone notin (a,b)", false),
            ("role,zone", true),
            ("!gpu", true),
            ("!role", false),
            ("role=worker,zone=b", false),
            ("node-role.kubernetes.io/worker", false),
        ];
        for (s, want) in cases {
            assert_eq!(Selector::parse(s).unwrap().matches(&l), want, "{s}");
        }
        for bad in ["zone in a", "(", "a=b=c d", "zone in (a"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_listed_twice_are_kept_once_in_their_first_order() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
        let in_values = |sel: &Selector| match sel.requirements() {
            [Requirement::In(_, vs)] => vs.clone(),
            other => panic!("{other:?}"),
        };
        let parsed = Selector::parse("app in (b,a,b,a)").unwrap();
        assert_eq!(in_values(&parsed), ["b", "a"]);
        let sel = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "In".into(),
                values: Some(["b", "a", "b"].map(String::from).to_vec()),
            }]),
            ..Default::default()
        };
        assert_eq!(
            in_values(&Selector::from_label_selector(&sel).unwrap()),
            ["b", "a"]
        );
        let many: Vec<String> = (0..40).chain(0..40).map(|i| i.to_string()).collect();
        let want: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        assert_eq!(distinct(many), want);
    }

    #[test]
    fn toleration_rules() {
        let taint = Taint {
            key: "dedicated".into(),
            value: Some("db".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tol = |key: Option<&str>,
                   op: Option<&str>,
                   value: Option<&str>,
                   effect: Option<&str>| Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            ..Default::default()
        };
        assert!(tolerates(
            &[tol(Some("dedicated"), None, Some("db"), None)],
            &taint
        ));
        assert!(!tolerates(
            &[tol(Some("dedicated"), None, Some("web"), None)],
            &taint
        ));
        assert!(tolerates(
            &[tol(
                Some("dedicated"),
                Some("Exists"),
                None,
                Some("NoSchedule")
            )],
            &taint
        ));
        assert!(!tolerates(
            &[tol(
                Some("dedicated"),
                Some("Exists"),
                None,
                Some("NoExecute")
            )],
            &taint
        ));
        assert!(tolerates(&[tol(None, Some("Exists"), None, None)], &taint));
        assert!(!tolerates(&[], &taint));
    }
}
