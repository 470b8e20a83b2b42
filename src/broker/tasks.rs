//! Starting and stopping the broker, and its periodic background work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Broker, Endpoint, StartupError, now_ms};
use crate::config::BrokerConfig;
use crate::net;

/// How often the recovery-point and log-start-offset checkpoints are written
/// (Kafka's `log.flush.offset.checkpoint.interval.ms` default).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// How often segments rolled since the last pass are fsynced.
const ROLLED_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Runs a broker until `shutdown` completes, then stops cleanly (flushes and writes
/// the clean-shutdown marker so the next start skips recovery).
pub async fn run(
    config: BrokerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartupError> {
    for key in &config.ignored {
        log::info!("config key `{key}` is accepted but has no effect in vltava");
    }
    for key in &config.unknown {
        log::warn!("unknown config key `{key}` is ignored");
    }
    let bound = net::bind(&config.listeners).await?;
    let endpoints = advertised_endpoints(&config, &bound);
    let broker = Arc::new(tokio::task::block_in_place(|| {
        Broker::open(config, endpoints)
    })?);
    log::info!(
        "vltava node {} of cluster {} serving log dir {}",
        broker.node_id(),
        broker.metadata.cluster_id(),
        broker.config.log_dir.display()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    for b in bound {
        log::info!("listening on {}://{}", b.listener.name, b.local_addr);
        servers.push(tokio::spawn(net::serve(broker.clone(), b, stop_rx.clone())));
    }
    let housekeeping = tokio::spawn(housekeeping(broker.clone(), stop_rx.clone()));
    let group_timers = tokio::spawn(group_timers(broker.clone(), stop_rx.clone()));

    shutdown.await;
    log::info!("shutting down");
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
    }
    let _ = housekeeping.await;
    let _ = group_timers.await;
    let logs = broker.logs.clone();
    tokio::task::spawn_blocking(move || logs.shutdown())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    log::info!("shut down cleanly");
    Ok(())
}

/// Advertised endpoints: `advertised.listeners` (or `listeners`), with port 0 replaced by
/// the port actually bound for the listener of the same name.
fn advertised_endpoints(config: &BrokerConfig, bound: &[net::BoundListener]) -> Vec<Endpoint> {
    config
        .advertised_listeners
        .iter()
        .map(|l| {
            let bound_port = bound
                .iter()
                .find(|b| b.listener.name == l.name)
                .map(|b| b.local_addr.port());
            let port = match (l.port, bound_port) {
                (0, Some(p)) => p,
                (p, _) => p,
            };
            Endpoint {
                listener: l.name.clone(),
                host: l.advertised_host().to_string(),
                port,
            }
        })
        .collect()
}

/// Retention, time-based flushes and checkpoints, until stopped.
async fn housekeeping(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let retention_every = Duration::from_millis(broker.config.retention_check_interval_ms);
    let flush_every = Duration::from_millis(
        broker
            .config
            .log_flush_scheduler_interval_ms
            .min(24 * 3_600_000),
    );
    let mut retention = tokio::time::interval(retention_every);
    let mut flush = tokio::time::interval(flush_every);
    let mut checkpoint = tokio::time::interval(CHECKPOINT_INTERVAL);
    let mut rolled = tokio::time::interval(ROLLED_FLUSH_INTERVAL);
    rolled.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut offsets_expiry = tokio::time::interval(Duration::from_millis(
        broker.config.offsets_retention_check_interval_ms,
    ));
    offsets_expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let logs = broker.logs.clone();
        let result = tokio::select! {
            _ = retention.tick() => {
                tokio::task::spawn_blocking(move || logs.run_retention(now_ms())).await
            }
            _ = flush.tick() => {
                tokio::task::spawn_blocking(move || logs.flush_due(now_ms())).await
            }
            _ = rolled.tick() => {
                tokio::task::spawn_blocking(move || logs.flush_rolled()).await
            }
            _ = checkpoint.tick() => {
                tokio::task::spawn_blocking(move || logs.checkpoint()).await
            }
            _ = offsets_expiry.tick() => {
                let b = broker.clone();
                tokio::task::spawn_blocking(move || {
                    b.groups.expire_offsets(now_ms());
                    Ok(())
                })
                .await
            }
            _ = stop.changed() => return,
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("log housekeeping failed: {e}"),
            Err(e) => log::error!("log housekeeping task failed: {e}"),
        }
    }
}

/// Drives the group coordinator's timers (join/sync deadlines, session expiry): sleeps
/// until the earliest deadline, or until a request moved the timers.
async fn group_timers(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = now_ms();
        let next = broker.groups.tick(now);
        let wait = next.map(|t| (t - now).clamp(1, 1000)).unwrap_or(1000) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = broker.groups.timers_changed.notified() => {}
            _ = stop.changed() => return,
        }
    }
}
