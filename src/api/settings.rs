//! The API's own settings (`api:` in the configuration file): which browser origins may
//! call it (CORS) and which built front end it serves.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `api:` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Browser origins allowed to call the API from another origin (`corsOrigins`): a list
    /// such as `[https://labs.example.org]`, or `"*"` to echo any origin as the original
    /// did. Empty (the default) answers no cross-origin request.
    pub cors_origins: CorsOrigins,
    /// A built front end (`webRoot`, e.g. antidote-web's build output) served at `/`, with
    /// the whole API also under `/acore/`, where that front end looks for it.
    pub web_root: Option<PathBuf>,
    /// Serve the operator dashboard at `/ui` (signed in with `adminToken`). Default true.
    pub ui: bool,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            cors_origins: CorsOrigins::default(),
            web_root: None,
            ui: true,
        }
    }
}

impl ApiSettings {
    /// Checks the origins, naming the bad one.
    ///
    /// # Errors
    /// The message says which origin is malformed and what a valid one looks like.
    pub fn validate(&self) -> Result<(), String> {
        if let CorsOrigins::List(origins) = &self.cors_origins {
            for origin in origins {
                if let Some(problem) = origin_problem(origin) {
                    return Err(format!(
                        "{origin:?} {problem}; an origin is scheme://host[:port], e.g. \
                         https://labs.example.org, or use \"*\" alone for any origin"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Why `origin` is not a browser origin (`scheme://host[:port]`, nothing after).
fn origin_problem(origin: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some("has no scheme");
    };
    if scheme != "http" && scheme != "https" {
        return Some("is not http or https");
    }
    if rest.is_empty() {
        return Some("has no host");
    }
    if rest.contains(['/', '?', '#', '*', ' ']) {
        return Some("has a path, query, wildcard or space after the host");
    }
    if !origin.is_ascii() || origin.bytes().any(|b| b.is_ascii_control()) {
        return Some("is not printable ASCII");
    }
    None
}

/// Which origins may call the API from a browser page of another origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin, echoed back (the original's behaviour; `"*"` in the file).
    Any,
    /// Exactly these origins; empty: none.
    List(Vec<String>),
}

impl Default for CorsOrigins {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

impl CorsOrigins {
    /// Parses the environment form: `*`, or origins separated by commas (empty: none).
    pub fn parse(text: &str) -> Self {
        if text.trim() == "*" {
            return Self::Any;
        }
        Self::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether no cross-origin request is allowed.
    pub fn is_none(&self) -> bool {
        matches!(self, Self::List(list) if list.is_empty())
    }
}

impl fmt::Display for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::List(list) => f.write_str(&list.join(",")),
        }
    }
}

impl Serialize for CorsOrigins {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Any => serializer.serialize_str("*"),
            Self::List(list) => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for CorsOrigins {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            List(Vec<String>),
        }
        match Form::deserialize(deserializer)? {
            Form::Text(text) if text == "*" => Ok(Self::Any),
            Form::Text(text) => Err(serde::de::Error::custom(format!(
                "expected \"*\" or a list of origins, found the string {text:?}"
            ))),
            Form::List(list) if list.iter().any(|o| o == "*") => Err(serde::de::Error::custom(
                "\"*\" stands alone (corsOrigins: \"*\"), not inside a list",
            )),
            Form::List(list) => Ok(Self::List(list)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_list_or_a_lone_star() {
        let any: ApiSettings = serde_norway::from_str("corsOrigins: \"*\"").expect("star");
        assert_eq!(any.cors_origins, CorsOrigins::Any);
        let list: ApiSettings =
            serde_norway::from_str("corsOrigins: [https://a.example, http://127.0.0.1:8080]")
                .expect("list");
        assert_eq!(
            list.cors_origins,
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://127.0.0.1:8080".into()
            ])
        );
        assert!(list.validate().is_ok());
        assert!(serde_norway::from_str::<ApiSettings>("corsOrigins: everyone").is_err());
        assert!(serde_norway::from_str::<ApiSettings>("corsOrigins: [\"*\"]").is_err());
        assert!(ApiSettings::default().cors_origins.is_none());
    }

    #[test]
    fn malformed_origins_are_named() {
        for bad in [
            "a.example",
            "ftp://a.example",
            "https://",
            "https://a.example/",
            "https://*.example",
        ] {
            let settings = ApiSettings {
                cors_origins: CorsOrigins::List(vec![bad.into()]),
                ..ApiSettings::default()
            };
            let err = settings.validate().expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_environment_form_parses() {
        assert_eq!(CorsOrigins::parse(" * "), CorsOrigins::Any);
        assert_eq!(
            CorsOrigins::parse("https://a.example, https://b.example,"),
            CorsOrigins::List(vec!["https://a.example".into(), "https://b.example".into()])
        );
        assert!(CorsOrigins::parse("").is_none());
    }
}
