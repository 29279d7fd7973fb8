//! Validation of a loaded configuration: every value that would otherwise fail later is
//! refused here, naming its setting.

use super::{Config, ConfigError};
use crate::curriculum::names;

impl Config {
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
        if let Err((setting, message)) = self.backend.budgets.validate() {
            return invalid(setting, message);
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
        if self.lifetime.max_age_mins < self.live_lesson_ttl {
            return invalid(
                "lifetime.maxAgeMins",
                format!(
                    "must be at least liveLessonTTL ({} minutes): a lab's hard deadline cannot                      come before its inactivity would end it",
                    self.live_lesson_ttl
                ),
            );
        }
        if self.lifetime.max_extensions > 0 && self.lifetime.overtime_mins == 0 {
            return invalid(
                "lifetime.overtimeMins",
                "must be at least 1 minute when extensions are allowed (maxExtensions 0 \
                 turns them off)"
                    .into(),
            );
        }
        if let Err((setting, message)) = self.gateway.validate() {
            return invalid(setting, message);
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
        if self.progress.keep_alive_ms == 0 {
            return invalid("progress.keepAliveMs", "must be at least 1".into());
        }
        if self.progress.poll_ms == 0 {
            return invalid("progress.pollMs", "must be at least 1".into());
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
}
