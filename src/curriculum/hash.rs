//! Content hashes of lessons: what a livelesson pins.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::Lesson;

/// Hex sha256 of a lesson's canonical serialization (see [`content_hash`]).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    /// Wraps a hex digest read back from storage.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes the lesson definition together with its guides and configuration files.
///
/// The canonical form is the compact JSON of `[definition, files]`: struct fields serialize
/// in declaration order and `files` is a sorted map, so equal lessons give equal bytes. A
/// change to the model's fields changes every hash, which only adds new versions on the next
/// import; running livelessons keep the versions they pinned.
///
/// # Errors
/// Only if serde_json fails on the model, which has no maps with non-string keys.
pub fn content_hash(lesson: &Lesson) -> Result<ContentHash, serde_json::Error> {
    let canonical = serde_json::to_vec(&(lesson, &lesson.files))?;
    Ok(ContentHash(hex::encode(Sha256::digest(&canonical))))
}
