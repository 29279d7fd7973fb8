//! What names a livelesson and a learner's session: [`LivelessonId`] and [`SessionId`].
//!
//! Both are short random strings of `[a-z0-9]` drawn by the scheduler (as the original's
//! `RandomID(10)`), stored as `text` and sent as JSON strings. The types keep one from
//! being passed for the other, or for a lesson slug, an endpoint name or a namespace;
//! their serde and SQL forms are the plain string, so the wire and the tables are as
//! before.
//!
//! An id from a request (a URL path, a JSON body) is taken as given: an id the store does
//! not know is answered as not found, exactly as the original did, so there is no
//! validation to fail here.

use std::fmt;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::curriculum::names::LIVELESSON_ID_LEN;

/// Length of a session id drawn by [`SessionId::random`].
pub const SESSION_ID_LEN: usize = 10;

/// Draws `len` characters from `[a-z0-9]`.
pub fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                Self(random_text($len))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// A livelesson's id: ten characters of `[a-z0-9]`, part of its namespace's name.
    LivelessonId,
    LIVELESSON_ID_LEN
);

string_id!(
    /// A livesession's id: what the front end keeps for a learner and sends with every
    /// request.
    SessionId,
    SESSION_ID_LEN
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = LivelessonId::from("abc123def0");
        assert_eq!(
            serde_json::to_value(&id).ok(),
            Some(serde_json::json!("abc123def0"))
        );
        let back: Option<SessionId> = serde_json::from_value(serde_json::json!("s1")).ok();
        assert_eq!(back, Some(SessionId::from("s1")));
    }

    #[test]
    fn random_ids_have_their_length_and_alphabet() {
        let id = LivelessonId::random();
        assert_eq!(id.as_str().len(), LIVELESSON_ID_LEN);
        assert!(
            id.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(SessionId::random().as_str().len(), SESSION_ID_LEN);
    }
}
