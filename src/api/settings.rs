//! The API's own settings: which browser origins may call it (CORS) and which built
//! front end it serves (`api:` in the configuration file), connection hygiene (`http:`)
//! and the rate limits of `/exp` writes (`rateLimit:`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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
    /// The terminal gateway's origin, written into the served front end's
    /// `window.WEBSSH2_LOCATION` line. Not a setting: the process sets it from the
    /// gateway it runs (`gateway.publicOrigin` or its listener).
    #[serde(skip)]
    pub terminals_origin: Option<String>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            cors_origins: CorsOrigins::default(),
            web_root: None,
            ui: true,
            terminals_origin: None,
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

/// Connection hygiene of the HTTP server (ours): what one client may hold open, and for
/// how long, before it is answered and closed. The defaults suit an API on the internet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Seconds a client has to send a complete request head, counted from the connection's
    /// start and again from the end of each response: it is also the idle keep-alive
    /// timeout. The connection is closed when it passes.
    pub header_timeout_secs: u64,
    /// Seconds a request may take once its head is read: reading its body and handling
    /// it. Past that the answer is 408 `request_timeout` and the connection is closed.
    pub request_timeout_secs: u64,
    /// Connections one process holds open at once. Past it a connection is answered 503
    /// `overloaded` and closed; keep it well under the process's descriptor limit, which
    /// `serve` and `api` raise to the hard limit at start.
    pub max_connections: usize,
    /// Connections one client address (IPv6: one network of `ipv6PrefixLength`) holds
    /// open at once; past it, 503 `overloaded` and closed. Trusted proxies are exempt:
    /// they carry many clients.
    pub max_connections_per_address: usize,
    /// Longest request target (path and query) in bytes; longer is 414 `uri_too_long`.
    pub max_uri_bytes: usize,
    /// Largest request head (request line and headers) in bytes; larger is 431
    /// `header_fields_too_large`.
    pub max_header_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 1024,
            max_connections_per_address: 32,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl HttpSettings {
    /// [`Self::header_timeout_secs`] as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    /// [`Self::request_timeout_secs`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Token-bucket rate limits on `/exp` writes (ours): `POST` and `DELETE` under `/exp`,
/// per client address and for the whole process. Refused requests get 429
/// `rate_limited` with `Retry-After`. Reads (polling) are not limited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained writes per minute from one client address (IPv6: one network of
    /// `ipv6PrefixLength`); 0 disables the per-address limit.
    pub per_address_per_minute: u32,
    /// Writes one address may make at once before the sustained rate applies.
    pub per_address_burst: u32,
    /// Sustained writes per second from all clients of one process; 0 disables it.
    pub global_per_second: u32,
    /// Writes all clients may make at once before the sustained rate applies.
    pub global_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_address_per_minute: 60,
            per_address_burst: 20,
            // A class of 5,000 arriving within 30 s writes twice each on arrival (a
            // session, a lesson): 333/s. The bucket guards the database from a flood
            // across many addresses, not a class from itself.
            global_per_second: 500,
            global_burst: 1000,
        }
    }
}

/// The live progress streams, `GET /exp/livelesson/{id}/progress` (ours, `progress:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProgressSettings {
    /// Milliseconds between keep-alive comments on an open stream (default 8000, as
    /// JupyterHub's progress stream), so that proxies keep an idle stream open.
    pub keep_alive_ms: u64,
    /// Milliseconds between two reads of the watched livelessons' progress: one statement
    /// per API process for all its open streams (default 1000).
    pub poll_ms: u64,
    /// Streams one client address (IPv6: one network of `ipv6PrefixLength`) may hold
    /// open at once on one API process; past it, 429 `rate_limited` (default 8). 0: no
    /// cap.
    pub max_streams_per_address: usize,
}

impl Default for ProgressSettings {
    fn default() -> Self {
        Self {
            keep_alive_ms: 8000,
            poll_ms: 1000,
            max_streams_per_address: 8,
        }
    }
}

impl ProgressSettings {
    /// [`Self::keep_alive_ms`] as a duration.
    pub fn keep_alive(&self) -> Duration {
        Duration::from_millis(self.keep_alive_ms)
    }

    /// [`Self::poll_ms`] as a duration.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
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
