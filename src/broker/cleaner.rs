//! The log cleaner threads (Kafka's `CleanerThread`s, `log.cleaner.threads` of them): each
//! cleans the dirtiest compacted log no other thread is cleaning, again at once while there
//! is work, else after `log.cleaner.backoff.ms`; reads the
//! `log.cleaner.*` settings (dynamic ones included) before every pass and throttles the
//! pass's I/O to `log.cleaner.io.max.bytes.per.second` (Kafka's `Throttler`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Broker, now_ms};
use crate::storage::StorageError;

/// How often the throttle compares the pass's rate with the limit (Kafka's 300 ms).
const THROTTLE_CHECK: Duration = Duration::from_millis(300);

/// Sleeps the cleaning thread so that its I/O stays under a rate.
struct Throttle {
    bytes_per_second: f64,
    period_start: Instant,
    bytes: u64,
}

impl Throttle {
    fn new(bytes_per_second: f64) -> Self {
        Throttle {
            bytes_per_second,
            period_start: Instant::now(),
            bytes: 0,
        }
    }

    fn note(&mut self, bytes: u64) {
        if !self.bytes_per_second.is_finite() || self.bytes_per_second <= 0.0 {
            return;
        }
        self.bytes += bytes;
        let elapsed = self.period_start.elapsed();
        if elapsed < THROTTLE_CHECK {
            return;
        }
        let needed = Duration::from_secs_f64(self.bytes as f64 / self.bytes_per_second);
        if needed > elapsed {
            std::thread::sleep((needed - elapsed).min(Duration::from_secs(10)));
        }
        self.period_start = Instant::now();
        self.bytes = 0;
    }
}

/// Runs the cleaner threads until stopped (a pass in progress stops at its next read or
/// write). `log.cleaner.threads` is read as it changes: more threads start at once, and
/// threads above the setting idle after their pass.
pub(super) async fn log_cleaner(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    if !broker.effective_config().cleaner.enable {
        log::info!("the log cleaner is disabled (log.cleaner.enable=false)");
        return;
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    loop {
        let wanted = broker.effective_config().cleaner.threads.max(0) as usize;
        while threads.len() < wanted {
            let (b, s, flag) = (broker.clone(), stop.clone(), stopping.clone());
            threads.push(tokio::spawn(cleaner_thread(b, threads.len(), s, flag)));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    stopping.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.await;
    }
}

/// One cleaner thread: a pass while there is work, else a wait of `log.cleaner.backoff.ms`.
async fn cleaner_thread(
    broker: Arc<Broker>,
    index: usize,
    mut stop: watch::Receiver<bool>,
    stopping: Arc<AtomicBool>,
) {
    loop {
        let cfg = broker.effective_config().cleaner.clone();
        let backoff = Duration::from_millis(cfg.backoff_ms.max(1) as u64);
        let mut cleaned = false;
        if index < cfg.threads.max(0) as usize {
            let (b, flag) = (broker.clone(), stopping.clone());
            let pass = tokio::task::spawn_blocking(move || {
                let mut throttle = Throttle::new(cfg.io_max_bytes_per_second);
                b.logs.clean_dirtiest(&cfg, now_ms(), &mut |n| {
                    throttle.note(n);
                    !flag.load(Ordering::Relaxed)
                })
            });
            cleaned = match pass.await {
                Ok(Ok(done)) => done.is_some(),
                Ok(Err(StorageError::LogDirOffline { .. })) => false,
                Ok(Err(e)) => {
                    log::error!("log cleaner: {e}");
                    false
                }
                Err(e) => {
                    log::error!("log cleaner task failed: {e}");
                    false
                }
            };
        }
        if stopping.load(Ordering::Relaxed) || *stop.borrow() {
            return;
        }
        if !cleaned {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
