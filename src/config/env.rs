//! The `ANTIDOTE_*` environment variables that override the configuration file, each
//! with the setting it sets and how its value is parsed.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::{Config, LogFormat, Secret};
use crate::api::client::ForwardedHeader;
use crate::api::settings::CorsOrigins;
use crate::curriculum::Tier;

pub(super) type Setter = fn(&mut Config, &str) -> Result<(), String>;

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
    (
        "ANTIDOTE_BUDGET_DEFAULT_SIZE",
        "backend.budgets.defaultSize",
        |c, v| {
            c.backend.budgets.default_size = v.into();
            Ok(())
        },
    ),
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
    (
        "ANTIDOTE_PROGRESS_KEEP_ALIVE_MS",
        "progress.keepAliveMs",
        |c, v| {
            c.progress.keep_alive_ms = parse(v)?;
            Ok(())
        },
    ),
    ("ANTIDOTE_PROGRESS_POLL_MS", "progress.pollMs", |c, v| {
        c.progress.poll_ms = parse(v)?;
        Ok(())
    }),
    (
        "ANTIDOTE_PROGRESS_MAX_STREAMS_PER_ADDRESS",
        "progress.maxStreamsPerAddress",
        |c, v| {
            c.progress.max_streams_per_address = parse(v)?;
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
    ("ANTIDOTE_GATEWAY_ENABLED", "gateway.enabled", |c, v| {
        c.gateway.enabled = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_GATEWAY_ADDRESS", "gateway.address", |c, v| {
        c.gateway.address = parse(v)?;
        Ok(())
    }),
    ("ANTIDOTE_GATEWAY_PORT", "gateway.port", |c, v| {
        c.gateway.port = parse(v)?;
        Ok(())
    }),
    (
        "ANTIDOTE_GATEWAY_PUBLIC_ORIGIN",
        "gateway.publicOrigin",
        |c, v| {
            c.gateway.public_origin = (!v.is_empty()).then(|| v.to_owned());
            Ok(())
        },
    ),
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
