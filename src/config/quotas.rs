//! Client quotas as Kafka 4.0 handles them: which entities and keys exist, how an
//! alteration is validated (the controller's `ClientQuotaControlManager`, with its
//! messages), how DescribeClientQuotas filters (`ClientQuotasImage.describe`), and which
//! configured entity governs a client (`DefaultQuotaCallback`'s order of precedence).
//!
//! Owns: the rules, not the data (the quotas live in `ClusterState::client_quotas`) nor the
//! rates (`broker::quotas`). Pure: no I/O; host names of `ip` entities are resolved by the
//! caller.

use crate::controller::quorum::{ClientQuota, QuotaEntity};

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// The principal of a connection without authentication, as Kafka names it.
pub const ANONYMOUS: &str = "ANONYMOUS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Long,
    Int,
    Double,
}

/// The keys of user and client-id entities (Kafka's `userAndClientQuotaConfigs`).
const USER_CLIENT_KEYS: &[(&str, Kind)] = &[
    (PRODUCER_BYTE_RATE, Kind::Long),
    (CONSUMER_BYTE_RATE, Kind::Long),
    (REQUEST_PERCENTAGE, Kind::Double),
    (CONTROLLER_MUTATION_RATE, Kind::Double),
];

/// The keys of ip entities.
const IP_KEYS: &[(&str, Kind)] = &[(CONNECTION_CREATION_RATE, Kind::Int)];

/// A refusal, with the Kafka error it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaError {
    /// INVALID_REQUEST
    Invalid(String),
    /// UNSUPPORTED_VERSION (an entity type or match type a describe filter cannot name)
    Unsupported(String),
}

/// Checks an alteration's entity and returns it sorted by type. `resolvable` says whether
/// an `ip` entity's name is an address or a host name that resolves.
pub fn validate_entity(
    entries: &[(String, Option<String>)],
    resolvable: impl Fn(&str) -> bool,
) -> Result<QuotaEntity, String> {
    if entries.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    let mut entity: QuotaEntity = Vec::with_capacity(entries.len());
    for (kind, name) in entries {
        if entity.iter().any(|(k, _)| k == kind) {
            return Err(format!(
                "Invalid empty client quota entity, duplicate entity entry {kind}"
            ));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return Err(format!("Unhandled client quota entity type: {kind}"));
        }
        if name.as_deref() == Some("") {
            return Err(format!("Empty {kind} not supported"));
        }
        entity.push((kind.clone(), name.clone()));
    }
    entity.sort();
    let has = |k: &str| entity.iter().any(|(t, _)| t == k);
    if has(IP) {
        if has(USER) || has(CLIENT_ID) {
            // Kafka's message, missing space included.
            return Err("Invalid quota entity combination, IP entity should\
                        not be combined with User or ClientId"
                .into());
        }
        if let Some(ip) = entity[0].1.as_deref()
            && !resolvable(ip)
        {
            return Err(format!("{ip} is not a valid IP or resolvable host."));
        }
    }
    Ok(entity)
}

/// Checks a value set for `key` on `entity` (validated by [`validate_entity`]).
pub fn validate_value(entity: &QuotaEntity, key: &str, value: f64) -> Result<(), String> {
    let keys = if entity.iter().any(|(t, _)| t == IP) {
        IP_KEYS
    } else {
        USER_CLIENT_KEYS
    };
    let Some((_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(format!("Invalid configuration key {key}"));
    };
    // NaN and infinities are refused too: a quota is a positive, finite rate.
    if value.is_nan() || value <= 0.0 {
        return Err(format!("Quota {key} must be greater than 0"));
    }
    if !value.is_finite() {
        return Err(format!("Quota {key} must be a finite number"));
    }
    let (limit, name) = match kind {
        Kind::Double => return Ok(()),
        Kind::Long => (i64::MAX as f64, "a LONG"),
        Kind::Int => (i32::MAX as f64, "an INT"),
    };
    if value > limit {
        return Err(format!("Proposed value for {key} is too large for {name}."));
    }
    if (value - value.round()).abs() > 1e-6 {
        return Err(format!("{key} cannot be a fractional value."));
    }
    Ok(())
}

/// How a describe filter component matches an entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// This name (match type 0).
    Exact(String),
    /// The type's default (match type 1).
    Default,
    /// Any name, the default included (match type 2).
    Specified,
}

/// A filter component as the wire has it: match type 0 (exact, with a match string),
/// 1 (default, without), 2 (specified, without).
pub fn filter_component(
    kind: &str,
    match_type: i8,
    name: Option<&str>,
) -> Result<Match, QuotaError> {
    match (match_type, name) {
        (0, Some(n)) => Ok(Match::Exact(n.to_string())),
        (0, None) => Err(QuotaError::Invalid(
            "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
        )),
        (1, None) => Ok(Match::Default),
        (1, Some(_)) => Err(QuotaError::Invalid(
            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.".into(),
        )),
        (2, None) => Ok(Match::Specified),
        (2, Some(_)) => Err(QuotaError::Invalid(
            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.".into(),
        )),
        (other, _) => Err(QuotaError::Unsupported(format!(
            "Unknown match type {other} for entity type {kind}"
        ))),
    }
}

/// The quotas matching a describe filter. With `strict`, an entity must have exactly the
/// filter's types; otherwise it may have more.
pub fn describe<'a>(
    quotas: &'a [ClientQuota],
    filter: &[(String, Match)],
    strict: bool,
) -> Result<Vec<&'a ClientQuota>, QuotaError> {
    for (i, (kind, _)) in filter.iter().enumerate() {
        if kind.is_empty() {
            return Err(QuotaError::Invalid("Invalid empty entity type.".into()));
        }
        if filter[..i].iter().any(|(k, _)| k == kind) {
            return Err(QuotaError::Invalid(format!(
                "Entity type {kind} cannot appear more than once in the filter."
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return Err(QuotaError::Unsupported(format!(
                "Unsupported entity type {kind}"
            )));
        }
    }
    let has = |k: &str| filter.iter().any(|(t, _)| t == k);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(QuotaError::Invalid(
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component."
                .into(),
        ));
    }
    let matches = |q: &ClientQuota| {
        if strict && q.entity.len() != filter.len() {
            return false;
        }
        filter.iter().all(|(kind, m)| {
            let Some((_, name)) = q.entity.iter().find(|(t, _)| t == kind) else {
                return false;
            };
            match m {
                Match::Exact(n) => name.as_deref() == Some(n.as_str()),
                Match::Default => name.is_none(),
                Match::Specified => true,
            }
        })
    };
    Ok(quotas.iter().filter(|q| matches(q)).collect())
}

/// Whose rate a quota is measured on: the user and/or client id of the entity that
/// governs the client ("" where the entity has no such type), as Kafka's metric tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorKey {
    pub user: String,
    pub client_id: String,
}

/// The quota on `key` that governs `user` with `client_id`, in Kafka's order of
/// precedence (user and client id, user with the default client id, user, the default
/// user with the client id, the defaults of both, the default user, the client id, the
/// default client id), and the key of the rate it is measured on.
pub fn governing(
    quotas: &[ClientQuota],
    key: &str,
    user: &str,
    client_id: &str,
) -> Option<(SensorKey, f64)> {
    // Per entity type: absent (None), the default (Some(None)) or this name.
    type Part<'a> = Option<Option<&'a str>>;
    let lookup = |u: Part, c: Part| {
        let mut entity: QuotaEntity = Vec::with_capacity(2);
        if let Some(c) = c {
            entity.push((CLIENT_ID.to_string(), c.map(str::to_string)));
        }
        if let Some(u) = u {
            entity.push((USER.to_string(), u.map(str::to_string)));
        }
        let i = quotas.binary_search_by(|q| q.entity.cmp(&entity)).ok()?;
        quotas[i].values.get(key).map(|v| v.0)
    };
    let (u, c) = (Some(user), Some(client_id));
    let order: [(Part, Part); 8] = [
        (Some(u), Some(c)),
        (Some(u), Some(None)),
        (Some(u), None),
        (Some(None), Some(c)),
        (Some(None), Some(None)),
        (Some(None), None),
        (None, Some(c)),
        (None, Some(None)),
    ];
    order.into_iter().find_map(|(uu, cc)| {
        let bound = lookup(uu, cc)?;
        let sensor = SensorKey {
            user: if uu.is_some() { user } else { "" }.to_string(),
            client_id: if cc.is_some() { client_id } else { "" }.to_string(),
        };
        Some((sensor, bound))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controller::quorum::QuotaValue;

    fn entity(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        let mut e: QuotaEntity = parts
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        e.sort();
        e
    }

    fn quota(parts: &[(&str, Option<&str>)], key: &str, v: f64) -> ClientQuota {
        ClientQuota {
            entity: entity(parts),
            values: BTreeMap::from([(key.to_string(), QuotaValue(v))]),
        }
    }

    #[test]
    fn entities_and_values_are_refused_with_kafkas_messages() {
        let any = |_: &str| true;
        let raw = |parts: &[(&str, Option<&str>)]| -> Vec<(String, Option<String>)> {
            parts
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect()
        };
        for (parts, msg) in [
            (vec![], "Invalid empty client quota entity"),
            (
                vec![("user", Some("a")), ("user", Some("b"))],
                "Invalid empty client quota entity, duplicate entity entry user",
            ),
            (
                vec![("group", Some("a"))],
                "Unhandled client quota entity type: group",
            ),
            (vec![("user", Some(""))], "Empty user not supported"),
            (
                vec![("ip", Some("127.0.0.1")), ("user", None)],
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ),
        ] {
            assert_eq!(validate_entity(&raw(&parts), any).unwrap_err(), msg);
        }
        let ip = raw(&[("ip", Some("notanip"))]);
        assert_eq!(
            validate_entity(&ip, |_| false).unwrap_err(),
            "notanip is not a valid IP or resolvable host."
        );
        let user = entity(&[("user", Some("alice"))]);
        let ip = entity(&[("ip", None)]);
        for (e, key, v, msg) in [
            (&user, "bogus", 1.0, "Invalid configuration key bogus"),
            (
                &user,
                "connection_creation_rate",
                1.0,
                "Invalid configuration key connection_creation_rate",
            ),
            (
                &ip,
                "producer_byte_rate",
                1.0,
                "Invalid configuration key producer_byte_rate",
            ),
            (
                &user,
                "producer_byte_rate",
                0.0,
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                &user,
                "producer_byte_rate",
                -1.0,
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                &user,
                "producer_byte_rate",
                1.5,
                "producer_byte_rate cannot be a fractional value.",
            ),
            (
                &user,
                "consumer_byte_rate",
                1e300,
                "Proposed value for consumer_byte_rate is too large for a LONG.",
            ),
            (
                &ip,
                "connection_creation_rate",
                3e9,
                "Proposed value for connection_creation_rate is too large for an INT.",
            ),
        ] {
            assert_eq!(validate_value(e, key, v).unwrap_err(), msg);
        }
        assert!(validate_value(&user, "request_percentage", 0.5).is_ok());
        assert!(validate_value(&ip, "connection_creation_rate", 10.0).is_ok());
    }

    #[test]
    fn describe_filters_exactly_by_default_or_by_type() {
        let quotas = {
            let mut q = vec![
                quota(&[("user", Some("alice"))], PRODUCER_BYTE_RATE, 1.0),
                quota(
                    &[("user", Some("alice")), ("client-id", Some("app"))],
                    PRODUCER_BYTE_RATE,
                    2.0,
                ),
                quota(&[("client-id", None)], REQUEST_PERCENTAGE, 3.0),
                quota(
                    &[("user", None), ("client-id", None)],
                    PRODUCER_BYTE_RATE,
                    4.0,
                ),
                quota(&[("ip", Some("127.0.0.1"))], CONNECTION_CREATION_RATE, 5.0),
            ];
            q.sort_by(|a, b| a.entity.cmp(&b.entity));
            q
        };
        let values = |filter: &[(&str, Match)], strict| -> Vec<f64> {
            let filter: Vec<(String, Match)> = filter
                .iter()
                .map(|(k, m)| (k.to_string(), m.clone()))
                .collect();
            let mut v: Vec<f64> = describe(&quotas, &filter, strict)
                .unwrap()
                .iter()
                .flat_map(|q| q.values.values().map(|v| v.0))
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        assert_eq!(
            values(&[("user", Match::Specified)], false),
            vec![1.0, 2.0, 4.0]
        );
        assert_eq!(values(&[("user", Match::Specified)], true), vec![1.0]);
        assert_eq!(
            values(&[("user", Match::Exact("alice".into()))], false),
            vec![1.0, 2.0]
        );
        assert_eq!(values(&[("user", Match::Default)], true), Vec::<f64>::new());
        assert_eq!(
            values(&[("client-id", Match::Default)], false),
            vec![3.0, 4.0]
        );
        assert_eq!(values(&[], false).len(), 5);
        assert_eq!(values(&[], true), Vec::<f64>::new());
        let bad = |filter: Vec<(String, Match)>| describe(&quotas, &filter, false).unwrap_err();
        assert!(matches!(
            bad(vec![("group".into(), Match::Specified)]),
            QuotaError::Unsupported(_)
        ));
        assert!(matches!(
            bad(vec![
                ("ip".into(), Match::Specified),
                ("user".into(), Match::Specified)
            ]),
            QuotaError::Invalid(_)
        ));
        assert!(matches!(
            filter_component("user", 0, None),
            Err(QuotaError::Invalid(_))
        ));
        assert!(matches!(
            filter_component("user", 7, None),
            Err(QuotaError::Unsupported(_))
        ));
    }

    #[test]
    fn the_most_specific_entity_governs_and_names_the_sensor() {
        let mut quotas = vec![
            quota(&[("client-id", None)], PRODUCER_BYTE_RATE, 8.0),
            quota(&[("client-id", Some("app"))], PRODUCER_BYTE_RATE, 7.0),
            quota(&[("user", None)], PRODUCER_BYTE_RATE, 6.0),
            quota(&[("user", Some("alice"))], PRODUCER_BYTE_RATE, 3.0),
            quota(
                &[("user", Some("alice")), ("client-id", Some("app"))],
                PRODUCER_BYTE_RATE,
                1.0,
            ),
            quota(
                &[("user", Some("bob")), ("client-id", Some("app"))],
                CONSUMER_BYTE_RATE,
                9.0,
            ),
        ];
        quotas.sort_by(|a, b| a.entity.cmp(&b.entity));
        let g = |user, client| governing(&quotas, PRODUCER_BYTE_RATE, user, client);
        let key = |u: &str, c: &str| SensorKey {
            user: u.into(),
            client_id: c.into(),
        };
        assert_eq!(g("alice", "app"), Some((key("alice", "app"), 1.0)));
        assert_eq!(g("alice", "other"), Some((key("alice", ""), 3.0)));
        // bob's own entity sets another key: the default user governs.
        assert_eq!(g("bob", "app"), Some((key("bob", ""), 6.0)));
        quotas.retain(|q| !q.entity.iter().any(|(t, _)| t == USER));
        let g = |user, client| governing(&quotas, PRODUCER_BYTE_RATE, user, client);
        assert_eq!(g("bob", "app"), Some((key("", "app"), 7.0)));
        assert_eq!(g("bob", "x"), Some((key("", "x"), 8.0)));
        assert_eq!(governing(&quotas, CONSUMER_BYTE_RATE, "bob", "x"), None);
    }
}
