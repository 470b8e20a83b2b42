//! Parsing of Kafka's `controller.quorum.voters` (`id@host:port,id@host:port,...`).
//!
//! Owns: the syntax and its error messages. Must never: resolve names through the network
//! beyond the standard resolver, or accept duplicate ids.

use std::net::{SocketAddr, ToSocketAddrs};

/// Parses `controller.quorum.voters`, e.g. `1@127.0.0.1:9192,2@localhost:9193`, into
/// `(node id, address)` pairs sorted by id. Host names are resolved once, here.
pub fn parse_voters(s: &str) -> Result<Vec<(i32, SocketAddr)>, String> {
    let mut voters = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let (id, addr) = part
            .split_once('@')
            .ok_or_else(|| format!("voter `{part}` must look like id@host:port"))?;
        let id: i32 = id
            .trim()
            .parse()
            .map_err(|_| format!("voter `{part}`: `{id}` is not a node id"))?;
        if id < 0 {
            return Err(format!("voter `{part}`: node id must not be negative"));
        }
        let addr = resolve(addr.trim()).map_err(|e| format!("voter `{part}`: {e}"))?;
        if voters.iter().any(|(v, _)| *v == id) {
            return Err(format!("voter id {id} is listed twice"));
        }
        voters.push((id, addr));
    }
    if voters.is_empty() {
        return Err("controller.quorum.voters lists no voter".to_string());
    }
    voters.sort_by_key(|(id, _)| *id);
    Ok(voters)
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("`{addr}` has no :port"))?;
    if host.is_empty() {
        return Err(format!("`{addr}` has no host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("`{port}` is not a port number"))?;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_syntax() {
        let v = parse_voters("2@127.0.0.1:9193, 1@127.0.0.1:9192,3@localhost:9194").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], (1, "127.0.0.1:9192".parse().unwrap()));
        assert_eq!(v[1].0, 2);
        assert_eq!(v[2].0, 3);
        assert_eq!(v[2].1.port(), 9194);
    }

    #[test]
    fn rejects_bad_input_clearly() {
        for (bad, needle) in [
            ("", "no voter"),
            ("1:9192", "id@host:port"),
            ("x@127.0.0.1:1", "not a node id"),
            ("-1@127.0.0.1:1", "negative"),
            ("1@127.0.0.1", "no :port"),
            ("1@127.0.0.1:99999", "not a port"),
            ("1@:9192", "no host"),
            ("1@127.0.0.1:1,1@127.0.0.1:2", "twice"),
        ] {
            let err = parse_voters(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
