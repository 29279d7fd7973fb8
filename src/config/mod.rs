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
//!   globalPerSecond: 500
//!   globalBurst: 1000
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
//! gateway:                   # see `gateway::GatewaySettings`: the terminal gateway
//!   enabled: true
//!   address: 0.0.0.0
//!   port: 8087
//!   publicOrigin: https://terminals.example.org  # default http://<address>:<port>
//!   maxPerLivelesson: 16
//!   maxPerAddress: 32
//!   idleTimeoutSecs: 1800
//!   outputBytesPerSec: 262144
//!   outputBurstBytes: 1048576
//!   inputBytesPerSec: 4096
//!   inputBurstBytes: 65536
//!   connectTimeoutSecs: 15
//!   recheckIntervalSecs: 5
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

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::api::client::ForwardedHeader;
use crate::api::settings::ApiSettings;
use crate::backend::Settings;
use crate::curriculum::Tier;
use crate::db::{DEFAULT_DATABASE_URL, DatabaseSettings};
use crate::workflow::request::Limits;

mod env;
mod validate;

pub use crate::api::settings::{HttpSettings, ProgressSettings, RateLimitSettings};
pub use crate::gc::settings::GcSettings;
pub use crate::secret::Secret;
pub use crate::telemetry::settings::LogFormat;
pub use env::ENV_OVERRIDES;

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
    #[serde(serialize_with = "crate::secret::redacted")]
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
    #[serde(serialize_with = "crate::secret::redacted")]
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
    /// Live progress streams: keep-alives, polling, the cap per client address.
    pub progress: ProgressSettings,
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
    /// A learner's lab lifetime: hard deadline and extensions.
    pub lifetime: crate::workflow::lifetime::LifetimeSettings,
    /// Warm pools of spare livelessons (default: none).
    pub pools: crate::pool::PoolConfig,
    /// Capacity admission (default: unlimited).
    pub capacity: crate::pool::settings::CapacityConfig,
    /// The built-in terminal gateway.
    pub gateway: crate::gateway::GatewaySettings,
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
            progress: ProgressSettings::default(),
            log_format: LogFormat::Text,
            api: ApiSettings::default(),
            backend: Settings::default(),
            kubernetes: KubernetesAccess::default(),
            worker: WorkerSettings::default(),
            gc: GcSettings::default(),
            lifetime: crate::workflow::lifetime::LifetimeSettings::default(),
            pools: crate::pool::PoolConfig::default(),
            capacity: crate::pool::settings::CapacityConfig::default(),
            gateway: crate::gateway::GatewaySettings::default(),
        }
    }
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
            max_age: minutes(self.lifetime.max_age_mins),
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

    /// The rules a learner's lab schedule is computed by.
    pub fn lifetime_policy(&self) -> crate::workflow::lifetime::Policy {
        let minutes = |m: u64| Duration::from_secs(m.saturating_mul(60));
        crate::workflow::lifetime::Policy {
            inactivity: self.live_lesson_ttl(),
            max_age: minutes(self.lifetime.max_age_mins),
            persistent_max_age: minutes(self.gc.persistent_max_age_mins),
            overtime: minutes(self.lifetime.overtime_mins),
            max_extensions: self.lifetime.max_extensions,
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
        assert_eq!(config.rate_limit.global_per_second, 500);
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

    #[test]
    fn pools_and_capacity_are_off_by_default() {
        let config = Config::default();
        let (global, lessons) = crate::pool::apply::to_store(&config.pools, &config.capacity);
        assert!(lessons.is_empty(), "no lesson has a pool");
        assert_eq!(global.max_live, 0, "capacity is unlimited");
    }

    #[test]
    fn the_configuration_file_sets_pools_and_capacity_per_lesson() {
        let yaml = "pools:\n  lessons: { linux-first-steps: 3 }\n  maxAgeMins: 2\n\
                    capacity:\n  maxLive: 20\n  lessons: { web-automation: 5 }\n";
        let config = Config::from_yaml(yaml, std::path::Path::new("test.yaml")).expect("valid");
        let (global, lessons) = crate::pool::apply::to_store(&config.pools, &config.capacity);
        assert_eq!(global.max_live, 20);
        assert!((global.max_age_secs - 120.0).abs() < f64::EPSILON);
        let by_slug: Vec<(&str, i32, i32)> = lessons
            .iter()
            .map(|l| (l.lesson_slug.as_str(), l.spares, l.max_live))
            .collect();
        assert_eq!(
            by_slug,
            [("linux-first-steps", 3, 0), ("web-automation", 0, 5)]
        );
    }

    #[test]
    fn configuration_defaults_are_the_gc_defaults() {
        assert_eq!(Config::default().gc(), crate::gc::Config::default());
    }
}
