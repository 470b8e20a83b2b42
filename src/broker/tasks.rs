//! Starting and stopping the broker, and its periodic background work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Broker, Endpoint, StartupError, now_ms};
use crate::config::BrokerConfig;
use crate::controller::quorum::MetadataCommand;
use crate::net;
use crate::storage::StorageError;

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
    tokio::pin!(shutdown);
    let bound = net::bind(&config.listeners).await?;
    let endpoints = advertised_endpoints(&config, &bound);
    // Startup may wait long for a quorum: a signal meanwhile stops it (what is on disk
    // is then as after a crash, and the next start recovers it).
    let broker = tokio::select! {
        opened = super::startup::open(config, endpoints) => opened?,
        _ = &mut shutdown => {
            log::info!("stopped before startup finished");
            return Ok(());
        }
    };
    log::info!(
        "vltava node {} of cluster {} serving log dir {}",
        broker.node_id(),
        broker.metadata.cluster_id(),
        broker.config.log_dir.display()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let admission = net::Admission::new(broker.config.connections.clone());
    for b in bound {
        log::info!("listening on {}://{}", b.listener.name, b.local_addr);
        servers.push(tokio::spawn(net::serve(
            broker.clone(),
            b,
            admission.clone(),
            stop_rx.clone(),
        )));
    }
    let housekeeping = tokio::spawn(housekeeping(broker.clone(), stop_rx.clone()));
    let cleaner = tokio::spawn(super::cleaner::log_cleaner(broker.clone(), stop_rx.clone()));
    let group_timers = tokio::spawn(group_timers(broker.clone(), stop_rx.clone()));
    let follow = tokio::spawn(follow_metadata(broker.clone(), stop_rx.clone()));
    let heartbeats = tokio::spawn(heartbeats(broker.clone(), stop_rx.clone()));
    let log_dir = tokio::spawn(watch_log_dir(broker.clone(), stop_rx.clone()));
    let controller = tokio::spawn(crate::controller::active::run(
        broker.metadata.clone(),
        crate::controller::active::ControllerTimings {
            session_timeout_ms: broker.config.broker_session_timeout_ms,
            auto_leader_rebalance: broker.config.auto_leader_rebalance,
            imbalance_check_ms: broker.config.leader_imbalance_check_ms,
        },
        stop_rx.clone(),
    ));

    // A controller whose metadata log cannot be written is fatal, as in Kafka (which
    // halts): a broker serving a frozen view of the cluster would send clients to
    // leaders that have moved. Stopping lets the others fence it and clients move on.
    let controller_failure = tokio::select! {
        _ = &mut shutdown => None,
        reason = broker.metadata.quorum().failed() => Some(reason),
    };
    match &controller_failure {
        Some(reason) => log::error!("the controller stopped: {reason}; stopping the broker"),
        None => log::info!("shutting down"),
    }
    // Kafka's controlled shutdown: clients fail over at once.
    fence_self(&broker, "before shutdown").await;
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
    }
    let _ = housekeeping.await;
    let _ = cleaner.await;
    let _ = group_timers.await;
    let _ = follow.await;
    let _ = heartbeats.await;
    let _ = log_dir.await;
    let _ = controller.await;
    broker.replicas.shutdown();
    let logs = broker.logs.clone();
    let closed = tokio::task::spawn_blocking(move || logs.shutdown())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(reason) = controller_failure {
        if let Err(e) = closed {
            log::error!("closing the logs: {e}");
        }
        return Err(StartupError::ControllerStopped(reason));
    }
    closed?;
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
            // said once, by `LogDirHealth`
            Ok(Err(StorageError::LogDirOffline { .. })) => {}
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

/// Reconciles replicas (and coordinator ownership) with every applied metadata state,
/// and shrinks lagging ISRs.
async fn follow_metadata(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut state = broker.metadata.watch();
    let isr_every =
        Duration::from_millis((broker.config.replica_lag_time_max_ms / 2).clamp(100, 5000) as u64);
    let mut isr_check = tokio::time::interval(isr_every);
    isr_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                broker.reconcile();
            }
            _ = isr_check.tick() => broker.replicas.check_isr(now_ms()),
            _ = stop.changed() => return,
        }
    }
}

/// Tells the controller this broker is alive, every `broker.heartbeat.interval.ms`.
async fn heartbeats(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(broker.config.broker_heartbeat_interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if broker.logs.health().is_offline() {
            return; // see `watch_log_dir`
        }
        move_offline_replicas(&broker).await;
        let id = broker.node_id();
        let state = broker.metadata.snapshot();
        let cmd = match state.brokers.get(&id) {
            // Fenced while unreachable: register again (unfences, new broker epoch).
            Some(b) if b.fenced => {
                let e = broker.endpoint();
                MetadataCommand::RegisterBroker {
                    id,
                    host: e.host.clone(),
                    port: e.port,
                    rack: None,
                    now_ms: now_ms(),
                }
            }
            _ => MetadataCommand::BrokerHeartbeat {
                id,
                now_ms: now_ms(),
            },
        };
        if let Err(e) = broker.metadata.propose(cmd).await {
            log::warn!("heartbeat to the controller failed: {e}");
        }
    }
}

/// Proposes fencing this broker with new leaders for what it led (bounded; a lone
/// broker skips it): Kafka's controlled shutdown, and what a broker whose log directory
/// failed does. `when` says why, for the log.
async fn fence_self(broker: &Broker, when: &str) {
    let state = broker.metadata.snapshot();
    if state.live_brokers().len() <= 1 {
        return;
    }
    let id = broker.node_id();
    let mut batch = vec![MetadataCommand::FenceBroker { id }];
    batch.extend(crate::controller::quorum::on_broker_fenced(&state, id));
    let propose = broker.metadata.propose(MetadataCommand::Batch(batch));
    match tokio::time::timeout(Duration::from_secs(5), propose).await {
        Ok(Ok(_)) => log::info!("fenced, leaderships moved away {when}"),
        Ok(Err(e)) => log::warn!("fencing this broker {when} refused: {e}"),
        Err(_) => log::warn!("fencing this broker {when} timed out"),
    }
}

/// Kafka halts a broker whose last log directory failed. This one stays up, so that
/// Metadata sends clients to the new leaders while its own partitions answer
/// KAFKA_STORAGE_ERROR, but it leaves the cluster: it stops following leaders, fences
/// itself and sends no more heartbeats (which would unfence it). A restart, once the
/// disk is fixed, recovers the directory.
async fn watch_log_dir(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut failure = broker.logs.health().subscribe();
    tokio::select! {
        failed = failure.wait_for(|f| f.is_some()) => {
            if failed.is_err() {
                return;
            }
        }
        _ = stop.changed() => return,
    }
    broker.replicas.shutdown();
    fence_self(&broker, "after its log directory went offline").await;
}

/// Hands over the partitions whose logs failed to load at startup: this broker leaves
/// their ISRs and another replica leads what it led (`on_replicas_offline`).
async fn move_offline_replicas(broker: &Broker) {
    let offline = broker.logs.offline_partitions();
    if offline.is_empty() {
        return;
    }
    let state = broker.metadata.snapshot();
    let moves = crate::controller::quorum::on_replicas_offline(&state, broker.node_id(), |t, p| {
        offline.iter().any(|tp| tp.topic == t && tp.partition == p)
    });
    if moves.is_empty() {
        return;
    }
    log::info!(
        "handing over {} offline partition(s) to other replicas",
        moves.len()
    );
    if let Err(e) = broker.metadata.propose(MetadataCommand::Batch(moves)).await {
        log::warn!("handing over offline partitions refused: {e}");
    }
}
