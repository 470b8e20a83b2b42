//! Client quota enforcement, as Kafka's `ClientQuotaManager`s: produce bytes, fetch bytes
//! and request time are measured per governing entity (`config::quotas::governing`) as a
//! rate over `quota.window.num` samples of `quota.window.size.seconds`, and a client above
//! its quota is told to wait: the throttle time is the time until the measured rate would
//! be back at the quota, `(rate - quota) / quota × window`, capped at one window for
//! request time. The response carries it in `throttle_time_ms` and the connection reads
//! nothing more from the client until it has passed (Kafka mutes the channel).
//!
//! Without any quota set nothing is measured. Rates of clients idle for an hour are
//! forgotten, as Kafka expires inactive sensors.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use super::Broker;
use crate::config::quotas::{self, ANONYMOUS, IP, SensorKey};
use crate::controller::quorum::{ClientQuota, MetadataCommand, QuotaEntity, QuotaValue};

/// One entity's changes of an AlterClientQuotas request.
#[derive(Debug, Clone)]
pub struct QuotaAlteration {
    /// (entity type, name; `None` for the type's default), as the request lists them.
    pub entity: Vec<(String, Option<String>)>,
    /// (key, value; `None` removes the key).
    pub ops: Vec<(String, Option<f64>)>,
}

/// Why an entity's changes were not made.
#[derive(Debug, thiserror::Error)]
pub enum AlterQuotaError {
    /// INVALID_REQUEST
    #[error("{0}")]
    Invalid(String),
    /// The change could not be committed to the metadata.
    #[error("{0}")]
    Metadata(String),
}

/// How long an `ip` entity's host name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Broker {
    /// Validates every alteration as Kafka's controller does and, unless `validate_only`,
    /// commits the valid ones to the metadata together; one result per alteration, in order.
    pub async fn alter_client_quotas(
        &self,
        alterations: &[QuotaAlteration],
        validate_only: bool,
    ) -> Vec<Result<(), AlterQuotaError>> {
        let mut resolvable = BTreeMap::new();
        for a in alterations {
            for (kind, name) in &a.entity {
                if let (IP, Some(host)) = (kind.as_str(), name) {
                    resolvable.insert(host.clone(), resolves(host).await);
                }
            }
        }
        let state = self.metadata.snapshot();
        let mut seen: Vec<QuotaEntity> = Vec::new();
        let mut commands = Vec::new();
        // Ok(true): changes to commit; Ok(false): nothing to change.
        let mut results: Vec<Result<bool, AlterQuotaError>> = Vec::new();
        for a in alterations {
            let checked = check_alteration(a, &state.client_quotas, |h| {
                resolvable.get(h).copied().unwrap_or(false)
            });
            let result = match checked {
                Err(msg) => Err(AlterQuotaError::Invalid(msg)),
                Ok((entity, _)) if seen.contains(&entity) => Err(AlterQuotaError::Invalid(
                    format!("Ignoring duplicate entity {}", display(&a.entity)),
                )),
                Ok((entity, changes)) => {
                    seen.push(entity.clone());
                    let changed = !changes.is_empty();
                    if changed {
                        commands.push(MetadataCommand::AlterClientQuotas { entity, changes });
                    }
                    Ok(changed)
                }
            };
            results.push(result);
        }
        let committed = if validate_only || commands.is_empty() {
            Ok(())
        } else {
            let batch = MetadataCommand::Batch(commands);
            self.metadata
                .propose(batch)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        results
            .into_iter()
            .map(|r| match (r, &committed) {
                (Err(e), _) => Err(e),
                (Ok(true), Err(e)) => Err(AlterQuotaError::Metadata(e.clone())),
                (Ok(_), _) => Ok(()),
            })
            .collect()
    }
}

/// Kafka's `ClientQuotaEntity` as its messages print it.
fn display(entity: &[(String, Option<String>)]) -> String {
    let entries: Vec<String> = entity
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", entries.join(", "))
}

/// One alteration checked against the current quotas: the entity, sorted, and the changes
/// that change something (removing a key that is not set is no change).
fn check_alteration(
    a: &QuotaAlteration,
    current: &[ClientQuota],
    resolvable: impl Fn(&str) -> bool,
) -> Result<(QuotaEntity, BTreeMap<String, Option<QuotaValue>>), String> {
    let mut ops: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for (key, value) in &a.ops {
        if ops.insert(key, *value).is_some() {
            return Err(format!(
                "Duplicate quota key {key} not updating quota for this entity {}",
                display(&a.entity)
            ));
        }
    }
    let entity = quotas::validate_entity(&a.entity, resolvable)?;
    let existing = current
        .binary_search_by(|q| q.entity.cmp(&entity))
        .ok()
        .map(|i| &current[i].values);
    let mut changes = BTreeMap::new();
    for (key, value) in ops {
        let now = existing.and_then(|v| v.get(key));
        match value {
            None if now.is_some() => {
                changes.insert(key.to_string(), None);
            }
            None => {}
            Some(v) => {
                quotas::validate_value(&entity, key, v)?;
                if now != Some(&QuotaValue(v)) {
                    changes.insert(key.to_string(), Some(QuotaValue(v)));
                }
            }
        }
    }
    Ok((entity, changes))
}

/// Is `host` an address, or a name that resolves (Kafka's `InetAddress.getByName`)?
async fn resolves(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(mut addrs)) => addrs.next().is_some(),
        _ => false,
    }
}

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// Bytes of produced record batches per second (`producer_byte_rate`).
    Produce,
    /// Bytes of fetched record batches per second (`consumer_byte_rate`).
    Fetch,
    /// Percentage of one thread's time spent on the client's requests
    /// (`request_percentage`).
    Request,
}

impl QuotaKind {
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => quotas::PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => quotas::CONSUMER_BYTE_RATE,
            QuotaKind::Request => quotas::REQUEST_PERCENTAGE,
        }
    }
}

/// A rate idle this long is forgotten (Kafka's inactive sensor expiration).
const INACTIVE_MS: i64 = 3_600_000;
/// Idle rates are looked for once the table holds this many.
const SWEEP_AT: usize = 1024;

/// The broker's measured client rates.
pub struct ClientQuotas {
    window_ms: i64,
    samples: usize,
    rates: Mutex<HashMap<(QuotaKind, SensorKey), SampledRate>>,
}

impl ClientQuotas {
    pub fn new(window_num: u32, window_size_seconds: u32) -> ClientQuotas {
        ClientQuotas {
            window_ms: i64::from(window_size_seconds.max(1)) * 1000,
            samples: window_num.max(1) as usize,
            rates: Mutex::new(HashMap::new()),
        }
    }

    /// The quota of `kind` governing `client_id` (of the unauthenticated principal) and the
    /// rate it is measured on; `None` without one.
    fn governing(
        quotas: &[ClientQuota],
        kind: QuotaKind,
        client_id: &str,
    ) -> Option<(SensorKey, f64)> {
        if quotas.is_empty() {
            return None;
        }
        quotas::governing(quotas, kind.key(), ANONYMOUS, client_id)
    }

    /// Records `value` for `client_id` (of the unauthenticated principal) against the
    /// quota of `kind` in `quotas`, and returns how long the client must wait, in ms.
    pub fn record(
        &self,
        quotas: &[ClientQuota],
        kind: QuotaKind,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> u64 {
        let Some((sensor, bound)) = Self::governing(quotas, kind, client_id) else {
            return 0;
        };
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if rates.len() >= SWEEP_AT {
            rates.retain(|_, r| now_ms - r.last_ms < INACTIVE_MS);
        }
        let rate = rates
            .entry((kind, sensor))
            .or_insert_with(|| SampledRate::new(self.samples));
        rate.record(value, now_ms, self.window_ms);
        let window = rate.window_size(now_ms, self.window_ms, self.samples);
        let observed = rate.total(now_ms, self.window_ms, self.samples) * 1000.0 / window as f64;
        if observed <= bound {
            return 0;
        }
        let throttle = ((observed - bound) / bound * window as f64) as u64;
        match kind {
            QuotaKind::Request => throttle.min(self.window_ms as u64),
            QuotaKind::Produce | QuotaKind::Fetch => throttle,
        }
    }

    /// Takes back a value [`record`](Self::record)ed for a response that was not sent.
    pub fn unrecord(
        &self,
        quotas: &[ClientQuota],
        kind: QuotaKind,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) {
        let Some((sensor, _)) = Self::governing(quotas, kind, client_id) else {
            return;
        };
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rate) = rates.get_mut(&(kind, sensor)) {
            rate.record(-value, now_ms, self.window_ms);
        }
    }

    /// The most a fetch of `client_id` may return at once: what its quota allows in the
    /// window less one sample (Kafka's `getMaxValueInQuotaWindow`); `None` without a quota.
    pub fn fetch_cap(&self, quotas: &[ClientQuota], client_id: &str) -> Option<usize> {
        let (_, bound) = Self::governing(quotas, QuotaKind::Fetch, client_id)?;
        let seconds = (self.samples.saturating_sub(1)) as f64 * self.window_ms as f64 / 1000.0;
        Some((bound * seconds).clamp(1.0, usize::MAX as f64) as usize)
    }
}

/// Kafka's `Rate` over a `SampledStat`: values summed in samples of one window each, the
/// oldest dropped once they are `samples` windows old.
#[derive(Debug)]
struct SampledRate {
    /// (start of the sample, sum of its values)
    windows: VecDeque<(i64, f64)>,
    last_ms: i64,
}

impl SampledRate {
    fn new(samples: usize) -> SampledRate {
        SampledRate {
            windows: VecDeque::with_capacity(samples),
            last_ms: 0,
        }
    }

    fn record(&mut self, value: f64, now_ms: i64, window_ms: i64) {
        let current = self
            .windows
            .back()
            .is_some_and(|(start, _)| now_ms < start + window_ms);
        if !current {
            self.windows.push_back((now_ms, 0.0));
        }
        if let Some((_, sum)) = self.windows.back_mut() {
            *sum += value;
        }
        self.last_ms = now_ms;
    }

    fn purge(&mut self, now_ms: i64, window_ms: i64, samples: usize) {
        let expire = window_ms * samples as i64;
        while self
            .windows
            .front()
            .is_some_and(|(start, _)| start + expire <= now_ms)
            || self.windows.len() > samples
        {
            self.windows.pop_front();
        }
    }

    fn total(&mut self, now_ms: i64, window_ms: i64, samples: usize) -> f64 {
        self.purge(now_ms, window_ms, samples);
        self.windows.iter().map(|(_, v)| v).sum()
    }

    /// The time the rate is measured over, ms: since the oldest sample, but at least
    /// `samples - 1` whole windows (so a first burst is not measured over a few ms).
    fn window_size(&mut self, now_ms: i64, window_ms: i64, samples: usize) -> i64 {
        self.purge(now_ms, window_ms, samples);
        let oldest = self.windows.front().map_or(now_ms, |(start, _)| *start);
        let mut elapsed = now_ms - oldest;
        let full = elapsed / window_ms;
        let min_full = samples as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * window_ms;
        }
        elapsed.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controller::quorum::QuotaValue;

    fn client_quota(client: Option<&str>, key: &str, v: f64) -> Vec<ClientQuota> {
        vec![ClientQuota {
            entity: vec![("client-id".to_string(), client.map(str::to_string))],
            values: BTreeMap::from([(key.to_string(), QuotaValue(v))]),
        }]
    }

    #[test]
    fn a_client_above_its_byte_rate_waits_until_the_rate_is_back() {
        let q = ClientQuotas::new(11, 1);
        let quotas = client_quota(Some("slow"), "producer_byte_rate", 1000.0);
        // 5 000 bytes at once: measured over 10 windows that is 500 B/s, within the quota.
        assert_eq!(q.record(&quotas, QuotaKind::Produce, "slow", 5000.0, 0), 0);
        // 20 000 more: 2 500 B/s over 10 s, 1.5 times too much: wait 15 s.
        let t = q.record(&quotas, QuotaKind::Produce, "slow", 20_000.0, 0);
        assert_eq!(t, 15_000);
        // Other clients and other kinds are not limited.
        assert_eq!(q.record(&quotas, QuotaKind::Produce, "fast", 1e9, 0), 0);
        assert_eq!(q.record(&quotas, QuotaKind::Fetch, "slow", 1e9, 0), 0);
        // Once the samples have expired, the client is within its quota again.
        assert_eq!(
            q.record(&quotas, QuotaKind::Produce, "slow", 10.0, 12_000),
            0
        );
    }

    #[test]
    fn request_time_throttles_at_most_one_window_and_fetches_are_capped() {
        let q = ClientQuotas::new(11, 1);
        let quotas = client_quota(None, "request_percentage", 10.0);
        // 5 s of one thread within 10 s: 50 % against 10 %.
        assert_eq!(q.record(&quotas, QuotaKind::Request, "any", 500.0, 0), 1000);
        let quotas = client_quota(None, "consumer_byte_rate", 1000.0);
        assert_eq!(q.fetch_cap(&quotas, "c"), Some(10_000));
        assert_eq!(q.fetch_cap(&[], "c"), None);
    }
}
