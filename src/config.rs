//! The scheduler's configuration: a YAML file, `ANTIDOTE_*` environment overrides,
//! defaults from the original (`AntidoteConfig`) and validation naming the bad setting.
//!
//! Layout of the file (every key optional; camelCase as the original):
//!
//! ```yaml
//! tier: prod                 # curriculum tier filter
//! httpAddress: 0.0.0.0
//! httpPort: 8086
//! liveSessionTTL: 1440       # minutes, since last activity (empty sessions only)
//! liveLessonTTL: 30          # minutes, since last activity
//! liveSessionLimit: 20       # sessions per client address (0: unlimited)
//! liveLessonLimit: 5         # livelessons per session (0: unlimited)
//! curriculumDir: ./example-curriculum
//! databaseUrl: postgres://postgres@127.0.0.1:5432/antidote
//! engineSchema: jobs         # the job engine's tables in a schema of their own (default:
//!                            # beside the application's, in public)
//! database:                  # see `db::DatabaseSettings`: server-side timeouts per pool
//!   api: { statementTimeoutMs: 5000, lockTimeoutMs: 2000, idleInTransactionTimeoutMs: 10000, acquireTimeoutMs: 3000 }
//!   worker: { statementTimeoutMs: 60000, lockTimeoutMs: 10000, idleInTransactionTimeoutMs: 60000, acquireTimeoutMs: 10000 }
//!   writableWaitMs: 10000     # a learner's request retried this long for a writable primary
//! adminToken: ""             # empty disables the admin API
//! trustedProxies: [10.0.0.0/8]
//! forwardedHeader: x-forwarded-for  # or forwarded: the header trusted proxies append to
//! ipv6PrefixLength: 64       # IPv6 clients share per-address limits per such network
//! bodyLimit: 65536           # bytes
//! http:                      # see `HttpSettings`: connection hygiene
//!   headerTimeoutSecs: 10     # request head, from connect or the previous response
//!   requestTimeoutSecs: 30    # body and handling; then 408 and close
//!   maxConnections: 1024      # open connections per process
//!   maxConnectionsPerAddress: 32  # per client address (trusted proxies exempt)
//!   maxUriBytes: 8192
//!   maxHeaderBytes: 16384
//! rateLimit:                 # see `RateLimitSettings`: /exp writes (POST, DELETE)
//!   perAddressPerMinute: 60
//!   perAddressBurst: 20
//!   globalPerSecond: 100
//!   globalBurst: 200
//! logFormat: text            # or json
//! api:                       # api::ApiSettings
//!   corsOrigins: []          # or "*" (echo any origin), or [https://labs.example.org]
//!   webRoot: /srv/antidote-web   # a built front end served at /, the API also under /acore/
//!   ui: true                 # the operator dashboard at /ui (behind adminToken)
//! backend:                   # backend::Settings: instanceId, hepsDomain, imageOrg, ...
//!   instanceId: antidote
//! kubernetes: { inCluster: false, kubeconfig: ~/.kube/config }
//! worker: { concurrency: 16, leaseSecs: 30, pollIntervalMs: 1000 }
//! gc:                        # see `GcSettings`; every interval and TTL of src/gc
//!   intervalSecs: 60          # livelesson and session expiry period
//!   erroredTtlMins: 10
//!   persistentMaxAgeMins: 10080
//!   orphanGraceSecs: 300
//!   orphanIntervalSecs: 300
//!   reconcileIntervalSecs: 60
//!   jobRetentionHours: 168
//!   retentionIntervalSecs: 3600
//!   batchSize: 5000
//!   reconcileConcurrency: 8
//! pools:                     # see `pool::PoolConfig`: warm pools (default none)
//!   lessons: { router-configuration: 3 }   # spares kept READY at stage 0
//!   maxSpares: 50
//!   maxAgeMins: 60
//!   failureBackoffSecs: 30
//!   maxBackoffSecs: 3600
//!   refillIntervalSecs: 10
//! capacity:                  # see `pool::settings::CapacityConfig` (default unlimited)
//!   maxLive: 0               # live livelessons at most, spares included (0: unlimited)
//!   lessons: { router-configuration: 40 }
//! ```
//!
//! `pools` and `capacity` are stored in the database when `serve`, `api` or `worker`
//! starts, and again when the process gets SIGHUP (the file is read anew), so that every
//! process admits and refills by the same numbers.
//!
//! The original's top-level `instanceId`, `hepsDomain`, `imageOrg`, `alwaysPull`,
//! `allowEgress`, `curriculumVersion` and `backendConfigs.kubernetes.{secretsNamespace,
//! tlsCertName,pullCredName}` live under `backend:` here, because they are the backend's
//! settings; their environment variables keep the flat names (see [`ENV_OVERRIDES`]).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::api::client::ForwardedHeader;
use crate::api::settings::{ApiSettings, CorsOrigins};
use crate::backend::Settings;
use crate::curriculum::{Tier, names};
use crate::db::{DEFAULT_DATABASE_URL, DatabaseSettings};
use crate::workflow::request::Limits;

/// Why a configuration could not be loaded. Every message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML for this schema (unknown keys included).
    #[error("parsing configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (it names the key).
        message: String,
    },
    /// An environment variable could not be parsed.
    #[error("environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: &'static str,
        /// Why.
        message: String,
    },
    /// A setting has an invalid value.
    #[error("invalid setting {setting}: {message}")]
    Invalid {
        /// The setting's key.
        setting: &'static str,
        /// Why.
        message: String,
    },
}

/// A configured secret (admin token, database password). `Debug`, `Display` and
/// `Serialize` all print `***`, so `config print`, logs and spans never show it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that needs it (comparison, connecting).
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
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { "***" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How the scheduler reaches Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct KubernetesAccess {
    /// Use the pod's service account (original `inCluster`, default true there). Here the
    /// default is false: without a kubeconfig path the standard discovery runs
    /// (`KUBECONFIG`, `~/.kube/config`, then in-cluster).
    pub in_cluster: bool,
    /// Kubeconfig file (original `outOfClusterConfigPath`).
    pub kubeconfig: Option<PathBuf>,
}

/// Job worker settings (ours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs run at once by one process.
    pub concurrency: usize,
    /// Lease length in seconds; a silent worker loses its jobs after this.
    pub lease_secs: u64,
    /// Fallback poll interval in milliseconds when no wake-up arrives.
    pub poll_interval_ms: u64,
    /// Seconds running jobs get to finish at shutdown before being handed back.
    pub shutdown_grace_secs: u64,
    /// Per job kind: attempt timeout and backoff over the defaults of
    /// [`crate::kinds`]' table.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub kinds: std::collections::BTreeMap<String, crate::kinds::ContractSettings>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            lease_secs: 30,
            poll_interval_ms: 1000,
            shutdown_grace_secs: 10,
            kinds: std::collections::BTreeMap::new(),
        }
    }
}

/// Garbage collection settings (ours; the original hard-coded a 60 s interval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GcSettings {
    /// Seconds between collection runs.
    pub interval_secs: u64,
    /// Minutes a livelesson in ERROR stays visible before it is deleted.
    pub errored_ttl_mins: u64,
    /// Maximum age in minutes of a persistent session's livelessons.
    pub persistent_max_age_mins: u64,
    /// Seconds a namespace without a livelesson row is left alone before deletion.
    pub orphan_grace_secs: u64,
    /// Hours finished jobs and their events are kept.
    pub job_retention_hours: u64,
    /// Seconds between orphan sweeps.
    pub orphan_interval_secs: u64,
    /// Seconds between reconciliations of READY livelessons with the cluster.
    pub reconcile_interval_secs: u64,
    /// Seconds between job retention passes.
    pub retention_interval_secs: u64,
    /// Rows per expiry or pruning statement.
    pub batch_size: u32,
    /// Health checks run at once by reconciliation.
    pub reconcile_concurrency: usize,
}

impl Default for GcSettings {
    fn default() -> Self {
        Self {
            interval_secs: 60,
            errored_ttl_mins: 10,
            persistent_max_age_mins: 7 * 24 * 60,
            orphan_grace_secs: 300,
            job_retention_hours: 7 * 24,
            orphan_interval_secs: 300,
            reconcile_interval_secs: 60,
            retention_interval_secs: 3600,
            batch_size: 5000,
            reconcile_concurrency: 8,
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
            global_per_second: 100,
            global_burst: 200,
        }
    }
}

/// The effective configuration of one `antidoted` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Curriculum tier filter (`tier`, default `prod`).
    pub tier: Tier,
    /// API listen address (ours; the original listened on every address).
    pub http_address: IpAddr,
    /// API port (`httpPort`, default 8086).
    pub http_port: u16,
    /// Lifetime in minutes of an empty session since its last activity (`liveSessionTTL`,
    /// default 1440; the original counted from creation).
    #[serde(rename = "liveSessionTTL")]
    pub live_session_ttl: u64,
    /// Livelesson lifetime in minutes since last activity (`liveLessonTTL`, default 30).
    #[serde(rename = "liveLessonTTL")]
    pub live_lesson_ttl: u64,
    /// Sessions per client address, 0 unlimited (`liveSessionLimit`; the original's
    /// default was 0, ours is 20 so that the API is safe to expose as it ships).
    pub live_session_limit: u32,
    /// Unfinished livelessons per session, 0 unlimited (`liveLessonLimit`; the original's
    /// default was 0, ours is 5).
    pub live_lesson_limit: u32,
    /// Curriculum directory (`curriculumDir`; required by the original, optional here
    /// because the curriculum is imported into the database).
    pub curriculum_dir: Option<PathBuf>,
    /// PostgreSQL URL (ours; `DATABASE_URL`). The password is redacted when printed.
    pub database_url: Secret,
    /// Connections of the API's pool.
    pub database_max_connections: u32,
    /// The schema of the job engine's tables, views, types and migration history (ours;
    /// `ANTIDOTE_ENGINE_SCHEMA`). Unset (the default): the shared layout, the engine's
    /// objects beside the application's in `public` with one migration history, as every
    /// database made before this setting has them. A database keeps the layout it was
    /// migrated in: `antidoted migrate` refuses the other one.
    pub engine_schema: Option<job_engine::schema::SchemaName>,
    /// Server-side timeouts of each pool and the API's wait for a writable primary.
    pub database: DatabaseSettings,
    /// Bearer token of the admin API (`/v1/...`); empty disables it.
    pub admin_token: Secret,
    /// Peers whose forwarding header is believed (CIDRs). Others' is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// The header trusted proxies append the client's address to: `x-forwarded-for`
    /// (default) or `forwarded` (RFC 7239). The other one is ignored, so a client cannot
    /// supply it.
    pub forwarded_header: ForwardedHeader,
    /// IPv6 clients count in per-address limits (sessions, connections, rate) by their
    /// network of this many bits (default 64: one host or LAN gets a whole /64).
    pub ipv6_prefix_length: u8,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Connection hygiene: timeouts and connection caps.
    pub http: HttpSettings,
    /// Rate limits of `/exp` writes.
    pub rate_limit: RateLimitSettings,
    /// Log output format.
    pub log_format: LogFormat,
    /// CORS origins, the served front end and the dashboard.
    pub api: ApiSettings,
    /// Backend settings (the original's instanceId, hepsDomain, imageOrg, alwaysPull,
    /// allowEgress, curriculumVersion, secretsNamespace, tlsCertName, pullCredName, ...).
    pub backend: Settings,
    /// How to reach Kubernetes.
    pub kubernetes: KubernetesAccess,
    /// Job workers.
    pub worker: WorkerSettings,
    /// Garbage collection.
    pub gc: GcSettings,
    /// Warm pools of spare livelessons (default: none).
    pub pools: crate::pool::PoolConfig,
    /// Capacity admission (default: unlimited).
    pub capacity: crate::pool::settings::CapacityConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tier: Tier::Prod,
            http_address: IpAddr::from([0, 0, 0, 0]),
            http_port: 8086,
            live_session_ttl: 1440,
            live_lesson_ttl: 30,
            live_session_limit: 20,
            live_lesson_limit: 5,
            curriculum_dir: None,
            database_url: Secret::new(DEFAULT_DATABASE_URL),
            database_max_connections: 10,
            engine_schema: None,
            database: DatabaseSettings::default(),
            admin_token: Secret::default(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            ipv6_prefix_length: 64,
            body_limit: 64 * 1024,
            http: HttpSettings::default(),
            rate_limit: RateLimitSettings::default(),
            log_format: LogFormat::Text,
            api: ApiSettings::default(),
            backend: Settings::default(),
            kubernetes: KubernetesAccess::default(),
            worker: WorkerSettings::default(),
            gc: GcSettings::default(),
            pools: crate::pool::PoolConfig::default(),
            capacity: crate::pool::settings::CapacityConfig::default(),
        }
    }
}

type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// Environment variables that override the file, with the setting each one sets.
/// `DATABASE_URL` (without prefix) is honoured as well, as sqlx tooling uses it.
pub const ENV_OVERRIDES: &[(&str, &str, Setter)] = &[
    ("ANTIDOTE_INSTANCE_ID", "backend.instanceId", |c, v| {
        c.backend.instance_id = v.into();
        Ok(())
    }),
    ("ANTIDOTE_TIER", "tier", |c, v| {
        c.tier =
            Tier::parse(v).ok_or_else(|| format!("expected one of {}", Tier::ALL.join(", ")))?;
        Ok(())
    }),
    ("ANTIDOTE_HEPS_DOMAIN", "backend.hepsDomain", |c, v| {
        c.backend.heps_domain = v.into();
        Ok(())
    }),
    ("ANTIDOTE_IMAGE_ORG", "backend.imageOrg", |c, v| {
        c.backend.image_org = v.into();
        Ok(())
    }),
    (
        "ANTIDOTE_CURRICULUM_VERSION",
        "backend.curriculumVersion",
        |c, v| {
            c.backend.curriculum_version = v.into();
            Ok(())
        },
    ),
    ("ANTIDOTE_ALWAYS_PULL", "backend.alwaysPull", |c, v| {
        c.backend.always_pull = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_ALLOW_EGRESS", "backend.allowEgress", |c, v| {
        c.backend.allow_egress = parse(v)?;
        Ok(())
    }),
    (
        "ANTIDOTE_SECRETS_NAMESPACE",
        "backend.secretsNamespace",
        |c, v| {
            c.backend.secrets_namespace = v.into();
            Ok(())
        },
    ),
    ("ANTIDOTE_TLS_CERT_NAME", "backend.tlsCertName", |c, v| {
        c.backend.tls_cert_name = v.into();
        Ok(())
    }),
    ("ANTIDOTE_PULL_CRED_NAME", "backend.pullCredName", |c, v| {
        c.backend.pull_cred_name = (!v.is_empty()).then(|| v.to_owned());
        Ok(())
    }),
    ("ANTIDOTE_HTTP_ADDRESS", "httpAddress", |c, v| {
        c.http_address = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_HTTP_PORT", "httpPort", |c, v| {
        c.http_port = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_LIVE_SESSION_TTL", "liveSessionTTL", |c, v| {
        c.live_session_ttl = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_LIVE_LESSON_TTL", "liveLessonTTL", |c, v| {
        c.live_lesson_ttl = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_LIVE_SESSION_LIMIT", "liveSessionLimit", |c, v| {
        c.live_session_limit = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_LIVE_LESSON_LIMIT", "liveLessonLimit", |c, v| {
        c.live_lesson_limit = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_CURRICULUM_DIR", "curriculumDir", |c, v| {
        c.curriculum_dir = (!v.is_empty()).then(|| PathBuf::from(v));
        Ok(())
    }),
    ("DATABASE_URL", "databaseUrl", |c, v| {
        c.database_url = Secret::new(v);
        Ok(())
    }),
    ("ANTIDOTE_DATABASE_URL", "databaseUrl", |c, v| {
        c.database_url = Secret::new(v);
        Ok(())
    }),
    ("ANTIDOTE_ENGINE_SCHEMA", "engineSchema", |c, v| {
        c.engine_schema = if v.is_empty() {
            None
        } else {
            Some(
                v.parse()
                    .map_err(|e: job_engine::schema::SchemaNameError| e.to_string())?,
            )
        };
        Ok(())
    }),
    ("ANTIDOTE_ADMIN_TOKEN", "adminToken", |c, v| {
        c.admin_token = Secret::new(v);
        Ok(())
    }),
    ("ANTIDOTE_TRUSTED_PROXIES", "trustedProxies", |c, v| {
        c.trusted_proxies = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_cidr)
            .collect::<Result<_, _>>()?;
        Ok(())
    }),
    ("ANTIDOTE_FORWARDED_HEADER", "forwardedHeader", |c, v| {
        c.forwarded_header = ForwardedHeader::parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_IPV6_PREFIX_LENGTH", "ipv6PrefixLength", |c, v| {
        c.ipv6_prefix_length = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_BODY_LIMIT", "bodyLimit", |c, v| {
        c.body_limit = parse(v)?;
        Ok(())
    }),
    (
        "ANTIDOTE_HTTP_HEADER_TIMEOUT_SECS",
        "http.headerTimeoutSecs",
        |c, v| {
            c.http.header_timeout_secs = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_HTTP_REQUEST_TIMEOUT_SECS",
        "http.requestTimeoutSecs",
        |c, v| {
            c.http.request_timeout_secs = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_HTTP_MAX_CONNECTIONS",
        "http.maxConnections",
        |c, v| {
            c.http.max_connections = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
        "http.maxConnectionsPerAddress",
        |c, v| {
            c.http.max_connections_per_address = parse(v)?;
            Ok(())
        },
    ),
    ("ANTIDOTE_HTTP_MAX_URI_BYTES", "http.maxUriBytes", |c, v| {
        c.http.max_uri_bytes = parse(v)?;
        Ok(())
    }),
    (
        "ANTIDOTE_HTTP_MAX_HEADER_BYTES",
        "http.maxHeaderBytes",
        |c, v| {
            c.http.max_header_bytes = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
        "rateLimit.perAddressPerMinute",
        |c, v| {
            c.rate_limit.per_address_per_minute = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_RATE_LIMIT_PER_ADDRESS_BURST",
        "rateLimit.perAddressBurst",
        |c, v| {
            c.rate_limit.per_address_burst = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_RATE_LIMIT_GLOBAL_PER_SECOND",
        "rateLimit.globalPerSecond",
        |c, v| {
            c.rate_limit.global_per_second = parse(v)?;
            Ok(())
        },
    ),
    (
        "ANTIDOTE_RATE_LIMIT_GLOBAL_BURST",
        "rateLimit.globalBurst",
        |c, v| {
            c.rate_limit.global_burst = parse(v)?;
            Ok(())
        },
    ),
    ("ANTIDOTE_LOG_FORMAT", "logFormat", |c, v| {
        c.log_format = match v {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err("expected text or json".into()),
        };
        Ok(())
    }),
    ("ANTIDOTE_CORS_ORIGINS", "api.corsOrigins", |c, v| {
        c.api.cors_origins = CorsOrigins::parse(v);
        Ok(())
    }),
    ("ANTIDOTE_WEB_ROOT", "api.webRoot", |c, v| {
        c.api.web_root = (!v.is_empty()).then(|| PathBuf::from(v));
        Ok(())
    }),
    ("ANTIDOTE_API_UI", "api.ui", |c, v| {
        c.api.ui = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_KUBECONFIG", "kubernetes.kubeconfig", |c, v| {
        c.kubernetes.kubeconfig = (!v.is_empty()).then(|| PathBuf::from(v));
        Ok(())
    }),
    ("ANTIDOTE_IN_CLUSTER", "kubernetes.inCluster", |c, v| {
        c.kubernetes.in_cluster = parse(v)?;
        Ok(())
    }),
    (
        "ANTIDOTE_WORKER_CONCURRENCY",
        "worker.concurrency",
        |c, v| {
            c.worker.concurrency = parse(v)?;
            Ok(())
        },
    ),
];

fn parse<T: std::str::FromStr>(value: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| e.to_string())
}

/// Accepts `10.0.0.0/8` and a bare address (a /32 or /128).
fn parse_cidr(value: &str) -> Result<IpNet, String> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is not a CIDR such as 10.0.0.0/8"))
}

impl Config {
    /// Loads the file at `path` (if any), applies the environment overrides of
    /// [`ENV_OVERRIDES`] read through `env`, and validates.
    ///
    /// # Errors
    /// [`ConfigError`], naming the file, variable or setting.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        for (var, _, set) in ENV_OVERRIDES {
            if let Some(value) = env(var) {
                set(&mut config, &value).map_err(|message| ConfigError::Env { var, message })?;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Loads from the process environment; the file comes from `path` or `ANTIDOTE_CONFIG`.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_env(path: Option<&Path>) -> Result<Self, ConfigError> {
        let from_env = std::env::var_os("ANTIDOTE_CONFIG").map(PathBuf::from);
        let path = path.map(Path::to_path_buf).or(from_env);
        Self::load(path.as_deref(), |var| std::env::var(var).ok())
    }

    /// Parses a YAML document (no environment, no validation).
    ///
    /// # Errors
    /// [`ConfigError::Parse`].
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.to_string(),
        })
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, path)
    }

    /// Checks every value that would otherwise fail later, naming the setting.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, message: String| Err(ConfigError::Invalid { setting, message });
        if let Some(problem) = names::instance_id_problem(&self.backend.instance_id) {
            return invalid("backend.instanceId", problem);
        }
        if self.backend.heps_domain.is_empty() {
            return invalid("backend.hepsDomain", "must not be empty".into());
        }
        if self.http_port == 0 {
            return invalid("httpPort", "must be between 1 and 65535".into());
        }
        if let Err((setting, message)) =
            crate::pool::settings::validate(&self.pools, &self.capacity)
        {
            return invalid(setting, message);
        }
        if self.live_session_ttl == 0 {
            return invalid("liveSessionTTL", "must be at least 1 minute".into());
        }
        if self.live_lesson_ttl == 0 {
            return invalid("liveLessonTTL", "must be at least 1 minute".into());
        }
        if self.body_limit < 256 {
            return invalid("bodyLimit", "must be at least 256 bytes".into());
        }
        if !(1..=128).contains(&self.ipv6_prefix_length) {
            return invalid("ipv6PrefixLength", "must be between 1 and 128".into());
        }
        for (setting, value) in [
            ("http.headerTimeoutSecs", self.http.header_timeout_secs),
            ("http.requestTimeoutSecs", self.http.request_timeout_secs),
            ("http.maxConnections", self.http.max_connections as u64),
            (
                "http.maxConnectionsPerAddress",
                self.http.max_connections_per_address as u64,
            ),
        ] {
            if value == 0 {
                return invalid(setting, "must be at least 1".into());
            }
        }
        // Below these, ordinary requests (a browser's cookies, a 10-character id) fail;
        // above these, hyper's own limits answer first, without our JSON body.
        if !(256..=crate::api::server::MAX_URI_BYTES).contains(&self.http.max_uri_bytes) {
            return invalid(
                "http.maxUriBytes",
                format!(
                    "must be between 256 and {}",
                    crate::api::server::MAX_URI_BYTES
                ),
            );
        }
        if !(1024..=crate::api::server::MAX_HEADER_BYTES).contains(&self.http.max_header_bytes) {
            return invalid(
                "http.maxHeaderBytes",
                format!(
                    "must be between 1024 and {}",
                    crate::api::server::MAX_HEADER_BYTES
                ),
            );
        }
        for (setting, rate, burst) in [
            (
                "rateLimit.perAddressBurst",
                self.rate_limit.per_address_per_minute,
                self.rate_limit.per_address_burst,
            ),
            (
                "rateLimit.globalBurst",
                self.rate_limit.global_per_second,
                self.rate_limit.global_burst,
            ),
        ] {
            if rate > 0 && burst == 0 {
                return invalid(setting, "must be at least 1 while its rate is set".into());
            }
        }
        if let Err(message) = self.contracts() {
            return invalid("worker.kinds", message);
        }
        if let Some((setting, message)) = self.database.problem() {
            return invalid(setting, message);
        }
        if self.database_max_connections == 0 {
            return invalid("databaseMaxConnections", "must be at least 1".into());
        }
        if !self.database_url.expose().starts_with("postgres://")
            && !self.database_url.expose().starts_with("postgresql://")
        {
            return invalid(
                "databaseUrl",
                "must be a postgres:// URL, e.g. postgres://postgres@127.0.0.1:5432/antidote"
                    .into(),
            );
        }
        if self.worker.concurrency == 0 {
            return invalid("worker.concurrency", "must be at least 1".into());
        }
        if self.worker.lease_secs < 3 {
            return invalid("worker.leaseSecs", "must be at least 3 seconds".into());
        }
        if self.worker.poll_interval_ms == 0 {
            return invalid("worker.pollIntervalMs", "must be at least 1".into());
        }
        for (setting, value) in [
            ("gc.intervalSecs", self.gc.interval_secs),
            ("gc.orphanIntervalSecs", self.gc.orphan_interval_secs),
            ("gc.reconcileIntervalSecs", self.gc.reconcile_interval_secs),
            ("gc.retentionIntervalSecs", self.gc.retention_interval_secs),
            ("gc.batchSize", u64::from(self.gc.batch_size)),
            (
                "gc.reconcileConcurrency",
                self.gc.reconcile_concurrency as u64,
            ),
        ] {
            if value == 0 {
                return invalid(setting, "must be at least 1".into());
            }
        }
        if let Err(message) = self.api.validate() {
            return invalid("api.corsOrigins", message);
        }
        if self.kubernetes.in_cluster && self.kubernetes.kubeconfig.is_some() {
            return invalid(
                "kubernetes.inCluster",
                "set either inCluster or kubeconfig, not both".into(),
            );
        }
        Ok(())
    }

    /// The admission limits of the request workflow.
    pub fn limits(&self) -> Limits {
        Limits {
            sessions_per_ip: self.live_session_limit,
            livelessons_per_session: self.live_lesson_limit,
        }
    }

    /// The livelesson expiry.
    pub fn live_lesson_ttl(&self) -> Duration {
        Duration::from_secs(self.live_lesson_ttl.saturating_mul(60))
    }

    /// The session expiry.
    pub fn live_session_ttl(&self) -> Duration {
        Duration::from_secs(self.live_session_ttl.saturating_mul(60))
    }

    /// Every production job kind's attempt timeout and backoff.
    ///
    /// # Errors
    /// What is wrong under `worker.kinds` (validation reports it first).
    pub fn contracts(&self) -> Result<crate::kinds::Contracts, String> {
        crate::kinds::Contracts::new(&self.backend, &self.worker.kinds)
    }

    /// Garbage collection's intervals, TTLs and batch sizes.
    pub fn gc(&self) -> crate::gc::Config {
        let minutes = |m: u64| Duration::from_secs(m.saturating_mul(60));
        crate::gc::Config {
            livelesson_ttl: self.live_lesson_ttl(),
            errored_ttl: minutes(self.gc.errored_ttl_mins),
            persistent_max_age: minutes(self.gc.persistent_max_age_mins),
            session_ttl: self.live_session_ttl(),
            orphan_grace: Duration::from_secs(self.gc.orphan_grace_secs),
            job_retention: Duration::from_secs(self.gc.job_retention_hours.saturating_mul(3600)),
            expiry_interval: Duration::from_secs(self.gc.interval_secs),
            orphan_interval: Duration::from_secs(self.gc.orphan_interval_secs),
            reconcile_interval: Duration::from_secs(self.gc.reconcile_interval_secs),
            retention_interval: Duration::from_secs(self.gc.retention_interval_secs),
            batch_size: self.gc.batch_size,
            reconcile_concurrency: self.gc.reconcile_concurrency,
        }
    }

    /// The effective configuration as YAML with secrets redacted (`config print`).
    ///
    /// # Errors
    /// Only if serialisation fails, which the types rule out.
    pub fn to_redacted_yaml(&self) -> Result<String, ConfigError> {
        // The database URL may hold a password: print it with the password masked rather
        // than fully hidden, as the host and database are what operators check.
        let mut value = serde_norway::to_value(self).map_err(|err| ConfigError::Invalid {
            setting: "(all)",
            message: err.to_string(),
        })?;
        if let serde_norway::Value::Mapping(map) = &mut value {
            map.insert(
                "databaseUrl".into(),
                redact_url(self.database_url.expose()).into(),
            );
        }
        serde_norway::to_string(&value).map_err(|err| ConfigError::Invalid {
            setting: "(all)",
            message: err.to_string(),
        })
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_are_the_originals() {
        let config = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(config.http_port, 8086);
        assert_eq!(config.live_session_ttl, 1440);
        assert_eq!(config.live_lesson_ttl, 30);
        assert_eq!(config.tier, Tier::Prod);
        assert_eq!(config.backend.heps_domain, "localhost");
        assert_eq!(config.backend.image_org, "antidotelabs");
        assert_eq!(config.backend.secrets_namespace, "prod");
        assert_eq!(config.body_limit, 65536);
    }

    #[test]
    fn defaults_are_safe_to_expose() {
        // The original shipped both limits at 0 (unlimited); ours ship bounded.
        let config = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(config.live_session_limit, 20);
        assert_eq!(config.live_lesson_limit, 5);
        assert_eq!(config.http.header_timeout_secs, 10);
        assert_eq!(config.http.request_timeout_secs, 30);
        assert_eq!(config.http.max_connections, 1024);
        assert_eq!(config.http.max_connections_per_address, 32);
        assert_eq!(config.rate_limit.per_address_per_minute, 60);
        assert_eq!(config.rate_limit.global_per_second, 100);
        assert_eq!(config.ipv6_prefix_length, 64);
        assert_eq!(config.forwarded_header, ForwardedHeader::XForwardedFor);
        // 0 still means unlimited for those who want it.
        let config = Config::load(
            None,
            env(&[
                ("ANTIDOTE_LIVE_SESSION_LIMIT", "0"),
                ("ANTIDOTE_LIVE_LESSON_LIMIT", "0"),
                ("ANTIDOTE_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0"),
                ("ANTIDOTE_FORWARDED_HEADER", "forwarded"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.limits(), Limits::default());
        assert_eq!(config.rate_limit.per_address_per_minute, 0);
        assert_eq!(config.forwarded_header, ForwardedHeader::Forwarded);
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "httpPort: 9000\nliveLessonTTL: 5\nbackend:\n  instanceId: filed\n",
        )
        .expect("write");
        let config = Config::load(
            Some(&path),
            env(&[
                ("ANTIDOTE_HTTP_PORT", "9100"),
                ("ANTIDOTE_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.http_port, 9100);
        assert_eq!(config.live_lesson_ttl, 5);
        assert_eq!(config.backend.instance_id, "filed");
        assert_eq!(config.trusted_proxies.len(), 2);
    }

    #[test]
    fn the_dashboard_is_on_unless_switched_off() {
        assert!(Config::load(None, env(&[])).expect("valid").api.ui);
        let filed = Config::from_yaml("api:\n  ui: false\n", Path::new("c.yaml")).expect("valid");
        assert!(!filed.api.ui);
        let overridden = Config::load(None, env(&[("ANTIDOTE_API_UI", "false")])).expect("valid");
        assert!(!overridden.api.ui);
        let err = Config::load(None, env(&[("ANTIDOTE_API_UI", "perhaps")])).expect_err("bad");
        assert!(err.to_string().contains("ANTIDOTE_API_UI"), "{err}");
    }

    #[test]
    fn secrets_match_only_their_own_value() {
        let secret = Secret::new("s3cret-token");
        assert!(secret.matches("s3cret-token"));
        assert!(!secret.matches("s3cret-toke"));
        assert!(!secret.matches("s3cret-token "));
        assert!(!secret.matches(""));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Config::from_yaml("domain: bar\n", Path::new("c.yaml")).expect_err("unknown");
        assert!(err.to_string().contains("domain"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = Config::load(None, env(&[("ANTIDOTE_INSTANCE_ID", "Not_A_Label")]))
            .expect_err("invalid");
        assert!(err.to_string().contains("backend.instanceId"), "{err}");
        let err = Config::load(None, env(&[("ANTIDOTE_HTTP_PORT", "http")])).expect_err("bad");
        assert!(err.to_string().contains("ANTIDOTE_HTTP_PORT"), "{err}");
    }

    #[test]
    fn printing_redacts_secrets() {
        let config = Config::load(
            None,
            env(&[
                ("ANTIDOTE_ADMIN_TOKEN", "hunter2-token"),
                ("DATABASE_URL", "postgres://app:pw123@db:5432/antidote"),
            ]),
        )
        .expect("valid");
        let yaml = config.to_redacted_yaml().expect("yaml");
        assert!(!yaml.contains("hunter2"), "{yaml}");
        assert!(!yaml.contains("pw123"), "{yaml}");
        assert!(
            yaml.contains("postgres://app:***@db:5432/antidote"),
            "{yaml}"
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        // What is printed parses back (apart from the redacted values).
        Config::from_yaml(&yaml, Path::new("printed.yaml")).expect("round trip");
    }
}
