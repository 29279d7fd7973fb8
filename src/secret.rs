//! A string that never prints: configured credentials (admin token, database URL) and the
//! curriculum's (image passwords).

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A credential. `Debug` and `Display` print `***` (an empty one prints empty), so it
/// cannot leak into logs, spans or errors; read it deliberately with [`Secret::expose`].
///
/// It serializes to the plain value, because the store must keep the curriculum's (the
/// scheduler hands them to endpoints). Anything user-facing serializes it with
/// [`redacted`] instead (`config print` does).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the few places that must hand it on (connecting, comparing,
    /// SSH, configuration jobs).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` equals the value, in time independent of where they differ and
    /// of their lengths (their digests are compared).
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let expected = Sha256::digest(self.0.as_bytes());
        let given = Sha256::digest(presented.as_bytes());
        expected[..].ct_eq(&given[..]).into()
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.0.is_empty() { "" } else { "***" }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

/// Serializes a secret as `***` (empty when unset), for `#[serde(serialize_with)]` on
/// user-facing output.
///
/// # Errors
/// The serializer's.
pub fn redacted<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.shown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
        let empty = Secret::default();
        assert_eq!(format!("[{empty}] {empty:?}"), "[] \"\"");
    }

    #[test]
    fn it_serializes_plain_for_the_store_and_redacted_for_people() {
        #[derive(Serialize)]
        struct Shown {
            #[serde(serialize_with = "redacted")]
            token: Secret,
            stored: Secret,
        }
        let shown = Shown {
            token: Secret::new("hunter2"),
            stored: Secret::new("p4ss"),
        };
        assert_eq!(
            serde_json::to_string(&shown).ok().as_deref(),
            Some(r#"{"token":"***","stored":"p4ss"}"#)
        );
    }

    #[test]
    fn matching_compares_whole_values() {
        let secret = Secret::new("token");
        assert!(secret.matches("token"));
        assert!(!secret.matches("toke"));
        assert!(!secret.matches("token2"));
    }
}
