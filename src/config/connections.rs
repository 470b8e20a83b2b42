//! Connection limits, with Kafka's keys and defaults: `max.connections`,
//! `max.connections.per.ip` (and `max.connections.per.ip.overrides`),
//! `connections.max.idle.ms` and `queued.max.request.bytes`.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{ConfigError, Props};

/// What a broker allows its clients' connections.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `max.connections`: open connections over all listeners; when reached, new
    /// connections wait in the listen backlog until one closes (as Kafka's acceptor does).
    pub max_connections: usize,
    /// `max.connections.per.ip`: more connections from one address are closed at once.
    pub max_per_ip: usize,
    /// `max.connections.per.ip.overrides`, by address (host names resolved at startup).
    pub per_ip_overrides: HashMap<IpAddr, usize>,
    /// `connections.max.idle.ms`: a connection is closed when no complete request has
    /// arrived for this long, which also bounds how long a partial request may take.
    pub max_idle_ms: u64,
    /// `queued.max.request.bytes` (-1: no limit): request bytes held by all connections
    /// between reading a frame and answering it; readers wait when it is reached.
    pub queued_max_request_bytes: Option<usize>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_connections: i32::MAX as usize,
            max_per_ip: i32::MAX as usize,
            per_ip_overrides: HashMap::new(),
            max_idle_ms: 600_000,
            queued_max_request_bytes: None,
        }
    }
}

impl ConnectionConfig {
    /// The limit for connections from `ip`.
    pub fn limit_for(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_per_ip)
    }
}

pub(super) fn load(p: &Props) -> Result<ConnectionConfig, ConfigError> {
    let non_negative = |key: &str, default: i32| -> Result<usize, ConfigError> {
        let v = p.int(key, default)?;
        if v < 0 {
            return Err(ConfigError::invalid(
                key,
                &v.to_string(),
                "must be at least 0",
            ));
        }
        Ok(v as usize)
    };
    let max_connections = non_negative("max.connections", i32::MAX)?;
    let max_per_ip = non_negative("max.connections.per.ip", i32::MAX)?;
    let mut per_ip_overrides = HashMap::new();
    const OVERRIDES: &str = "max.connections.per.ip.overrides";
    if let Some(v) = p.get(OVERRIDES) {
        for entry in super::split_list(v) {
            let bad = |why: &str| ConfigError::invalid(OVERRIDES, v, format!("{entry:?}: {why}"));
            let (host, count) = entry
                .rsplit_once(':')
                .ok_or_else(|| bad("expected host:count"))?;
            let count: usize = count
                .trim()
                .parse()
                .map_err(|_| bad("the count is not a number"))?;
            let addrs: Vec<IpAddr> = match host.trim().parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host.trim(), 0))
                    .map_err(|e| bad(&format!("cannot resolve the host: {e}")))?
                    .map(|a| a.ip())
                    .collect(),
            };
            for ip in addrs {
                per_ip_overrides.insert(ip, count);
            }
        }
    }
    if max_per_ip == 0 && per_ip_overrides.is_empty() {
        return Err(ConfigError::invalid(
            "max.connections.per.ip",
            "0",
            "can be 0 only when max.connections.per.ip.overrides is set",
        ));
    }
    let max_idle_ms = p.long("connections.max.idle.ms", 600_000)?;
    if max_idle_ms < 1 {
        return Err(ConfigError::invalid(
            "connections.max.idle.ms",
            &max_idle_ms.to_string(),
            "must be at least 1",
        ));
    }
    let queued = p.long("queued.max.request.bytes", -1)?;
    let queued_max_request_bytes = match queued {
        -1 => None,
        n if n > 0 => Some(n as usize),
        n => {
            return Err(ConfigError::invalid(
                "queued.max.request.bytes",
                &n.to_string(),
                "must be -1 (no limit) or at least 1",
            ));
        }
    };
    Ok(ConnectionConfig {
        max_connections,
        max_per_ip,
        per_ip_overrides,
        max_idle_ms: max_idle_ms as u64,
        queued_max_request_bytes,
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::BrokerConfig;

    fn load(settings: &[&str]) -> Result<BrokerConfig, crate::config::ConfigError> {
        let s: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(None, &s)
    }

    #[test]
    fn defaults_and_overrides() {
        let c = load(&[]).unwrap().connections;
        assert_eq!(c.max_connections, i32::MAX as usize);
        assert_eq!(c.max_idle_ms, 600_000);
        assert_eq!(c.queued_max_request_bytes, None);
        let c = load(&[
            "max.connections.per.ip=0",
            "max.connections.per.ip.overrides=127.0.0.1:5, ::1:7",
        ])
        .unwrap()
        .connections;
        assert_eq!(c.limit_for("127.0.0.1".parse::<IpAddr>().unwrap()), 5);
        assert_eq!(c.limit_for("::1".parse::<IpAddr>().unwrap()), 7);
        assert_eq!(c.limit_for("10.0.0.1".parse::<IpAddr>().unwrap()), 0);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (setting, key) in [
            ("max.connections=-1", "max.connections"),
            ("max.connections.per.ip=0", "max.connections.per.ip"),
            (
                "max.connections.per.ip.overrides=127.0.0.1",
                "max.connections.per.ip.overrides",
            ),
            ("connections.max.idle.ms=0", "connections.max.idle.ms"),
            ("queued.max.request.bytes=0", "queued.max.request.bytes"),
        ] {
            let e = load(&[setting]).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{setting}: {e}");
        }
    }
}
