//! Admission of connections and request bytes, shared by every listener of a broker:
//! `max.connections` (accepting waits for a free slot, as Kafka's acceptor does),
//! `max.connections.per.ip` and its overrides (a connection over the limit is closed at
//! once), and `queued.max.request.bytes` (readers wait while that many request bytes are
//! held between reading and answering).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ConnectionConfig;

pub struct Admission {
    config: ConnectionConfig,
    slots: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    request_bytes: Option<(Arc<Semaphore>, usize)>,
}

/// A connection's hold on its slot and its address's count, released on drop.
pub struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
    _slot: OwnedSemaphorePermit,
}

/// Tokio's semaphores hold at most this many permits.
const MAX_PERMITS: usize = Semaphore::MAX_PERMITS;

impl Admission {
    pub fn new(config: ConnectionConfig) -> Arc<Admission> {
        let request_bytes = config.queued_max_request_bytes.map(|n| {
            let n = n.min(MAX_PERMITS);
            (Arc::new(Semaphore::new(n)), n)
        });
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(config.max_connections.min(MAX_PERMITS))),
            per_ip: Mutex::new(HashMap::new()),
            request_bytes,
            config,
        })
    }

    /// Waits for a free connection slot (`max.connections`).
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed")
    }

    /// Admits a connection from `ip` with its slot, or returns the address's limit.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        slot: OwnedSemaphorePermit,
    ) -> Result<Admitted, usize> {
        let limit = self.config.limit_for(ip);
        let mut counts = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= limit {
            return Err(limit);
        }
        *n += 1;
        Ok(Admitted {
            admission: self.clone(),
            ip,
            _slot: slot,
        })
    }

    /// Holds `n` request bytes of the `queued.max.request.bytes` budget (a frame larger
    /// than the whole budget holds all of it); `None` when there is no budget.
    pub async fn request_bytes(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let (sem, total) = self.request_bytes.as_ref()?;
        let n = n.clamp(1, (*total).min(u32::MAX as usize)) as u32;
        Some(
            sem.clone()
                .acquire_many_owned(n)
                .await
                .expect("the byte semaphore is never closed"),
        )
    }

    /// How long a connection may go without a complete request.
    pub fn max_idle(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.max_idle_ms)
    }
}

impl Admitted {
    /// The admission this connection belongs to (its idle bound and byte budget).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self
            .admission
            .per_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::Admission;
    use crate::config::ConnectionConfig;

    #[tokio::test]
    async fn per_ip_counts_are_released_with_the_connection() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let a = Admission::new(ConnectionConfig {
            max_per_ip: 2,
            ..ConnectionConfig::default()
        });
        let first = a.admit(ip, a.slot().await).unwrap();
        let _second = a.admit(ip, a.slot().await).unwrap();
        assert_eq!(a.admit(ip, a.slot().await).err(), Some(2));
        let _elsewhere = a.admit(other, a.slot().await).unwrap();
        drop(first);
        assert!(a.admit(ip, a.slot().await).is_ok());
    }

    #[tokio::test]
    async fn slots_wait_until_a_connection_closes() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = Admission::new(ConnectionConfig {
            max_connections: 1,
            ..ConnectionConfig::default()
        });
        let held = a.admit(ip, a.slot().await).unwrap();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), a.slot()).await;
        assert!(waiting.is_err(), "a second slot while the first is held");
        drop(held);
        let slot = tokio::time::timeout(std::time::Duration::from_secs(5), a.slot()).await;
        assert!(slot.is_ok());
    }
}
