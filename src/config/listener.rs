//! `listeners` / `advertised.listeners` parsing (`NAME://host:port,...`).

use std::collections::HashMap;

use super::ConfigError;

/// One client listener. Only the PLAINTEXT security protocol is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, e.g. `PLAINTEXT`.
    pub name: String,
    /// Host to bind or advertise; empty means every interface.
    pub host: String,
    /// Port; 0 binds an ephemeral port (and advertises the one bound).
    pub port: u16,
}

impl Listener {
    /// The host clients are told: an empty or wildcard bind host becomes `localhost`.
    pub fn advertised_host(&self) -> &str {
        match self.host.as_str() {
            "" | "0.0.0.0" | "::" => "localhost",
            h => h,
        }
    }

    /// The address to bind.
    pub fn bind_addr(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            h if h.contains(':') => format!("[{}]:{}", h, self.port),
            h => format!("{}:{}", h, self.port),
        }
    }
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
pub(super) fn parse_protocol_map(v: Option<&str>) -> Result<HashMap<String, String>, ConfigError> {
    let mut map: HashMap<String, String> = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
        .iter()
        .map(|p| (p.to_string(), p.to_string()))
        .collect();
    if let Some(v) = v {
        for entry in super::split_list(v) {
            let (name, proto) = entry.split_once(':').ok_or_else(|| {
                ConfigError::invalid(
                    "listener.security.protocol.map",
                    v,
                    format!("entry {entry:?} is not NAME:PROTOCOL"),
                )
            })?;
            map.insert(name.trim().to_uppercase(), proto.trim().to_uppercase());
        }
    }
    Ok(map)
}

/// Parses a listener list: the client listeners, or with `controllers` the controller
/// listeners (those named in `controller.listener.names`).
pub fn parse_listeners(
    key: &str,
    value: &str,
    protocol_map: &HashMap<String, String>,
    controller_names: &[String],
    controllers: bool,
) -> Result<Vec<Listener>, ConfigError> {
    let mut out = Vec::new();
    for entry in super::split_list(value) {
        let (name, rest) = entry.split_once("://").ok_or_else(|| {
            ConfigError::invalid(key, value, format!("{entry:?} is not NAME://host:port"))
        })?;
        let name = name.trim().to_uppercase();
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| ConfigError::invalid(key, value, format!("{entry:?} has no port")))?;
        let port: u16 = port.parse().map_err(|_| {
            ConfigError::invalid(key, value, format!("{entry:?} has an invalid port"))
        })?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if controller_names.contains(&name) != controllers {
            continue;
        }
        let protocol = protocol_map.get(&name).ok_or_else(|| {
            ConfigError::invalid(
                key,
                value,
                format!("listener {name} has no entry in listener.security.protocol.map"),
            )
        })?;
        if protocol != "PLAINTEXT" {
            return Err(ConfigError::invalid(
                key,
                value,
                format!(
                    "security protocol {protocol} of listener {name} is not supported (only PLAINTEXT)"
                ),
            ));
        }
        if out.iter().any(|l: &Listener| l.name == name) {
            return Err(ConfigError::invalid(
                key,
                value,
                format!("listener name {name} appears twice"),
            ));
        }
        out.push(Listener { name, host, port });
    }
    Ok(out)
}
