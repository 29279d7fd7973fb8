//! The composition root: what a process is made of, built from its [`Config`]. The
//! subsystems know only their own settings; this is the one place that reads the whole
//! configuration and hands each its part.

use std::sync::Arc;

use sqlx::PgPool;

use crate::api::{AppState, rate_limit};
use crate::config::Config;
use crate::queue::Client;

impl AppState {
    /// The API's state for `config` over `pool`, enqueueing through `client`.
    pub fn new(pool: PgPool, client: Client, config: &Config) -> Self {
        Self {
            pool,
            client,
            settings: Arc::new(config.backend.clone()),
            limits: config.limits(),
            admin_token: Arc::new(config.admin_token.clone()),
            trusted_proxies: config.trusted_proxies.clone().into(),
            forwarded_header: config.forwarded_header,
            ipv6_prefix_length: config.ipv6_prefix_length,
            body_limit: config.body_limit,
            api: Arc::new(config.api.clone()),
            http: config.http.clone(),
            rate_limits: rate_limit::RateLimits::new(&config.rate_limit),
            ui: config.api.ui,
            engine_schema: config.engine_schema.clone().map(Arc::new),
            writable_wait: config.database.writable_wait(),
        }
    }
}
