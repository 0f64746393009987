//! What can go wrong while converting an upstream policy. Every problem names
//! where it is in the upstream document, so a user can find it in their file.

use crate::validation::{FieldError, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The text is not YAML. `within` says which embedded value (a ConfigMap's
    /// `data` entry) the line and column count from, when not the file itself.
    #[error("{}line {line}, column {column}: malformed YAML: {message}", within_prefix(.within))]
    Yaml {
        within: Option<String>,
        line: usize,
        column: usize,
        message: String,
    },
    /// Problems in the upstream document (invalid upstream, or valid upstream
    /// but not expressible as a DeschedulerPolicy), all of them at once.
    #[error("{}", list(.0))]
    Fields(Vec<FieldError>),
    /// The converted policy fails our own validation: a bug of the converter
    /// or a rule stricter than upstream's; the paths are mapped back where known.
    #[error("the policy converted for {name:?} is not valid here:{}", list_indented(&.errors.0))]
    Invalid {
        name: String,
        errors: ValidationErrors,
    },
    #[error("cannot print the converted policies as YAML: {0}")]
    Serialize(#[from] serde_yaml_ng::Error),
}

impl ConvertError {
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConvertError::Fields(vec![FieldError {
            path: path.into(),
            message: message.into(),
        }])
    }
}

fn within_prefix(within: &Option<String>) -> String {
    within
        .as_ref()
        .map(|w| format!("{w}: "))
        .unwrap_or_default()
}

fn list(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!("{} problems:{}", many.len(), list_indented(many)),
    }
}

fn list_indented(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("\n  - {e}")).collect()
}
