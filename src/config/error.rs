//! A problem with one `key=value` of a query, worded for the person who typed it.

use std::fmt;

/// One rejected or overridden parameter. Displays as `key=value message`, e.g.
/// `sparsity=1.2 is outside [0, 0.999]; using the default 0.9`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The key as given (decoded); "" when the pair had no key.
    pub key: String,
    /// The value as given (decoded).
    pub value: String,
    /// What is wrong and what was done instead, e.g. "is outside [0, 0.999]; using the
    /// default 0.9", "is ignored: unknown parameter 'foo'".
    pub message: String,
}

impl ParamError {
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={} {}", self.key, self.value, self.message)
    }
}

impl std::error::Error for ParamError {}
