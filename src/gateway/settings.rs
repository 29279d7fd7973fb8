//! `gateway:` of the configuration file: where the terminal gateway listens and the caps
//! every terminal runs under. Owned here; `config` only embeds and validates it.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `gateway:` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// Serve terminals at all (default true).
    pub enabled: bool,
    /// Listen address (default 0.0.0.0).
    pub address: IpAddr,
    /// Listen port (default 8087; 0 picks a free one).
    pub port: u16,
    /// The gateway's origin as browsers reach it (`scheme://host[:port]`), written into a
    /// served front end's `WEBSSH2_LOCATION`. Default: `http://` and the listen address.
    pub public_origin: Option<String>,
    /// Open terminals per livelesson at most.
    pub max_per_livelesson: usize,
    /// Open terminals per client address at most (IPv6 by `ipv6PrefixLength` network).
    pub max_per_address: usize,
    /// A terminal nobody typed in for this long is closed.
    pub idle_timeout_secs: u64,
    /// Terminal output (server to browser) in bytes per second, sustained.
    pub output_bytes_per_sec: u32,
    /// Output burst in bytes.
    pub output_burst_bytes: u32,
    /// Keystrokes (browser to server) in bytes per second, sustained.
    pub input_bytes_per_sec: u32,
    /// Input burst in bytes (a pasted block or a guide's run button).
    pub input_burst_bytes: u32,
    /// Seconds to reach and log in to an endpoint before giving up.
    pub connect_timeout_secs: u64,
    /// How often open terminals' livelessons are checked for having ended (killed,
    /// expired, failed).
    pub recheck_interval_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            address: IpAddr::from([0, 0, 0, 0]),
            port: 8087,
            public_origin: None,
            max_per_livelesson: 16,
            max_per_address: 32,
            idle_timeout_secs: 1800,
            output_bytes_per_sec: 256 * 1024,
            output_burst_bytes: 1024 * 1024,
            input_bytes_per_sec: 4096,
            input_burst_bytes: 64 * 1024,
            connect_timeout_secs: 15,
            recheck_interval_secs: 5,
        }
    }
}

impl GatewaySettings {
    /// Checks every value, naming the bad setting (`gateway.<key>`) and why.
    ///
    /// # Errors
    /// `(setting, message)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (setting, value) in [
            ("gateway.maxPerLivelesson", self.max_per_livelesson as u64),
            ("gateway.maxPerAddress", self.max_per_address as u64),
            ("gateway.idleTimeoutSecs", self.idle_timeout_secs),
            (
                "gateway.outputBytesPerSec",
                u64::from(self.output_bytes_per_sec),
            ),
            (
                "gateway.inputBytesPerSec",
                u64::from(self.input_bytes_per_sec),
            ),
            ("gateway.connectTimeoutSecs", self.connect_timeout_secs),
            ("gateway.recheckIntervalSecs", self.recheck_interval_secs),
        ] {
            if value == 0 {
                return Err((setting, "must be at least 1".into()));
            }
        }
        // Output is sent in chunks of up to this many bytes; a burst below it could never
        // pass the limiter.
        if self.output_burst_bytes < MIN_BURST {
            return Err((
                "gateway.outputBurstBytes",
                format!("must be at least {MIN_BURST}"),
            ));
        }
        if self.input_burst_bytes < MIN_BURST {
            return Err((
                "gateway.inputBurstBytes",
                format!("must be at least {MIN_BURST}"),
            ));
        }
        if let Some(origin) = &self.public_origin {
            let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
            });
            if !valid {
                return Err((
                    "gateway.publicOrigin",
                    format!(
                        "{origin:?} is not an origin: scheme://host[:port], e.g. \
                         https://terminals.example.org (socket.io-client 2 reads a path as a \
                         namespace, so none may follow)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// [`Self::idle_timeout_secs`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// [`Self::connect_timeout_secs`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    /// [`Self::recheck_interval_secs`] as a duration.
    pub fn recheck_interval(&self) -> Duration {
        Duration::from_secs(self.recheck_interval_secs)
    }
}

/// The largest piece of output or input that passes the rate limiters at once; bursts
/// must hold at least one.
pub const MIN_BURST: u32 = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_caps_are_refused() {
        assert_eq!(GatewaySettings::default().validate(), Ok(()));
        let zero = GatewaySettings {
            max_per_address: 0,
            ..GatewaySettings::default()
        };
        assert_eq!(
            zero.validate().map_err(|(s, _)| s),
            Err("gateway.maxPerAddress")
        );
        let small = GatewaySettings {
            output_burst_bytes: 10,
            ..GatewaySettings::default()
        };
        assert_eq!(
            small.validate().map_err(|(s, _)| s),
            Err("gateway.outputBurstBytes")
        );
    }

    #[test]
    fn a_public_origin_has_no_path() {
        let with_path = GatewaySettings {
            public_origin: Some("https://labs.example.org/ssh".into()),
            ..GatewaySettings::default()
        };
        assert_eq!(
            with_path.validate().map_err(|(s, _)| s),
            Err("gateway.publicOrigin")
        );
        let fine = GatewaySettings {
            public_origin: Some("https://labs.example.org:8443".into()),
            ..GatewaySettings::default()
        };
        assert_eq!(fine.validate(), Ok(()));
    }
}
