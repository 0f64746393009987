//! Block-style YAML (the converted policies, the CRD), readable by YAML 1.1
//! parsers too: kubectl (go-yaml) reads a plain `no`, `on` or `y` as a
//! boolean, so a label value like `tolerant: "no"` must stay quoted, which
//! serde_yaml_ng (YAML 1.2) does not do. Key order is the serializer's.

use serde_yaml_ng::Value;

/// Words YAML 1.1 reads as booleans or null.
const YAML11_WORDS: [&str; 26] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

fn plain_is_safe(s: &str) -> bool {
    if s.is_empty() || s.contains('\n') || YAML11_WORDS.contains(&s) {
        return false;
    }
    // YAML 1.1 numbers: sexagesimal (1:20), underscores (1_000), 0x/0o/0b.
    let numberish = s.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c))
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || "_:.+-xXoObB".contains(c));
    if numberish {
        return false;
    }
    // Whatever serde_yaml_ng would quote (indicators, `: `, ` #`, 1.2 scalars) stays quoted.
    serde_yaml_ng::to_string(s).is_ok_and(|out| out.trim_end_matches('\n') == s)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if plain_is_safe(s) => s.clone(),
        // A JSON string is a valid double-quoted YAML scalar.
        Value::String(s) => serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}")),
        Value::Tagged(t) => scalar(&t.value),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim_end_matches('\n').to_string())
            .unwrap_or_default(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Mapping(m) => !m.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        _ => false,
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Mapping(_) => "{}".to_string(),
        Value::Sequence(_) => "[]".to_string(),
        other => scalar(other),
    }
}

/// `v` at `indent` spaces; each line ends with a newline.
fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                out.push_str(&pad);
                out.push_str(&scalar(k));
                out.push(':');
                match val {
                    Value::Mapping(_) if is_block(val) => {
                        out.push('\n');
                        block(val, indent + 2, out);
                    }
                    // Sequences sit at their key's indent, as kubectl prints them.
                    Value::Sequence(_) if is_block(val) => {
                        out.push('\n');
                        block(val, indent, out);
                    }
                    other => {
                        out.push(' ');
                        out.push_str(&inline(other));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                if is_block(item) {
                    let mut inner = String::new();
                    block(item, indent + 2, &mut inner);
                    // The item's first line starts after "- ".
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                } else {
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inline(item));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

pub fn to_string<T: serde::Serialize>(v: &T) -> Result<String, serde_yaml_ng::Error> {
    let value = serde_yaml_ng::to_value(v)?;
    let mut out = String::new();
    block(&value, 0, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_booleans_and_numbers_stay_strings() {
        let v: Value = serde_yaml_ng::from_str(
            "a: {x: 'no', y: 'on', z: 'true', t: '1:20', h: '0x1F', e: '', p: plain, s: 'a: b'}",
        )
        .unwrap();
        let out = to_string(&v).unwrap();
        assert_eq!(
            out,
            "a:\n  x: \"no\"\n  \"y\": \"on\"\n  z: \"true\"\n  t: \"1:20\"\n  h: \"0x1F\"\n  e: \"\"\n  p: plain\n  s: \"a: b\"\n"
        );
        let back: Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn nested_sequences_and_empty_collections() {
        let text = "m:\n  l:\n  - key: a\n    values:\n    - x\n    - \"n\"\n  - key: b\n  e: {}\n  s: []\n  f: 20.5\n";
        let v: Value = serde_yaml_ng::from_str(text).unwrap();
        let out = to_string(&v).unwrap();
        assert_eq!(out, text);
    }
}

/// A YAML syntax error, where it is (1-based line and column; 0 when unknown).
#[derive(Debug)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every non-empty document of a YAML (or JSON) stream, as JSON values.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, SyntaxError> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            SyntaxError {
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}
