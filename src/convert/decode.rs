//! Typed decoding of upstream fragments with their paths in the upstream
//! document: a wrong type and an unknown field both become a problem naming
//! the exact field, so nothing the user wrote is silently dropped.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::validation::FieldError;

/// A field path in the upstream document, such as `profiles[0].pluginConfig[2].args`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct At(String);

impl At {
    pub fn root(prefix: impl Into<String>) -> Self {
        At(prefix.into())
    }

    pub fn key(&self, key: &str) -> At {
        if self.0.is_empty() || self.0.ends_with(": ") {
            At(format!("{}{key}", self.0))
        } else {
            At(format!("{}.{key}", self.0))
        }
    }

    pub fn index(&self, i: usize) -> At {
        At(format!("{}[{i}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Problems found so far; conversion goes on after one so all are reported at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn push(&mut self, at: &At, message: impl Into<String>) {
        self.0.push(FieldError {
            path: at.0.clone(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Decodes `value` as `T`; every unknown field and the first type error are
/// pushed with their full paths. None when anything was wrong.
pub(crate) fn decode<T: DeserializeOwned>(
    value: &Value,
    at: &At,
    problems: &mut Problems,
) -> Option<T> {
    let mut unknown: Vec<String> = Vec::new();
    let mut track = |p: serde_ignored::Path<'_>| unknown.push(ignored_path(&p));
    let ignored = serde_ignored::Deserializer::new(value, &mut track);
    let result: Result<T, _> = serde_path_to_error::deserialize(ignored);
    let before = problems.len();
    for u in &unknown {
        problems.push(&At(format!("{}{u}", at.0)), "unknown field");
    }
    match result {
        Ok(v) if problems.len() == before => Some(v),
        Ok(_) => None,
        Err(e) => {
            let mut path = at.clone();
            for segment in e.path().iter() {
                path = match segment {
                    serde_path_to_error::Segment::Seq { index } => path.index(*index),
                    serde_path_to_error::Segment::Map { key }
                    | serde_path_to_error::Segment::Enum { variant: key } => path.key(key),
                    serde_path_to_error::Segment::Unknown => path,
                };
            }
            problems.push(&path, e.into_inner().to_string());
            None
        }
    }
}

/// serde_ignored's path as a suffix in our notation (`.a[0].b`).
fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    match p {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        serde_ignored::Path::Map { parent, key } => format!("{}.{key}", ignored_path(parent)),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        #[allow(dead_code)]
        count: Option<u32>,
    }

    #[derive(Deserialize, Debug)]
    struct Outer {
        #[allow(dead_code)]
        items: Option<Vec<Inner>>,
    }

    fn problems_of(yaml: &str) -> Vec<String> {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut p = Problems::default();
        let _: Option<Outer> = decode(&v, &At::root("profiles[0].args"), &mut p);
        p.0.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn unknown_fields_are_named_with_their_full_path() {
        assert_eq!(
            problems_of("items: [{count: 1, extra: 2}]\nother: x"),
            vec![
                "profiles[0].args.items[0].extra: unknown field",
                "profiles[0].args.other: unknown field"
            ]
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let p = problems_of("items: [{count: 1}, {count: -3}]");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("profiles[0].args.items[1].count: invalid value"),
            "{p:?}"
        );
    }
}
