//! Bringing a broker up: `meta.properties`, the controller quorum (one voter when no
//! voters are configured), the cluster id, broker registration, the logs (with recovery)
//! and the replica manager's first reconciliation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Broker, Endpoint, StartupError, now_ms, offsets_topic};
use crate::config::BrokerConfig;
use crate::controller::quorum::{ClusterState, Listen, MetadataCommand, Quorum, QuorumConfig};
use crate::controller::{Metadata, meta_properties};
use crate::coordinator::GroupCoordinator;
use crate::replication::manager::ReplicaManager;
use crate::storage::{LogConfig, LogManager};

/// The directory of the replicated metadata log inside the log directory. Its name does
/// not parse as `<topic>-<partition>`, so the log manager leaves it alone.
const QUORUM_DIR: &str = "vltava-controller";

/// How long startup waits for a quorum (a majority of voters must be running).
const QUORUM_WAIT: Duration = Duration::from_secs(120);

/// Opens everything and registers this broker with the controller quorum.
pub(super) async fn open(
    config: BrokerConfig,
    endpoints: Vec<Endpoint>,
) -> Result<Arc<Broker>, StartupError> {
    std::fs::create_dir_all(&config.log_dir)?;
    let local_cluster_id = meta_properties::read_or_create(&config.log_dir, config.node_id)?;
    let quorum = start_quorum(&config).await?;
    let mut waited = Duration::ZERO;
    loop {
        match quorum.wait_for_leader(Duration::from_secs(5)).await {
            Ok(_) => break,
            Err(e) if waited < QUORUM_WAIT => {
                waited += Duration::from_secs(5);
                log::info!("waiting for the controller quorum (a majority of voters): {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let metadata = Arc::new(Metadata::new(quorum));
    if metadata.cluster_id().is_empty()
        && let Err(e) = metadata
            .propose(MetadataCommand::InitCluster {
                cluster_id: local_cluster_id.clone(),
            })
            .await
    {
        log::debug!("cluster id already set: {e}");
    }
    let endpoint = &endpoints[0];
    metadata
        .propose(MetadataCommand::RegisterBroker {
            id: config.node_id,
            host: endpoint.host.clone(),
            port: endpoint.port,
            rack: None,
            now_ms: now_ms(),
        })
        .await?;

    let logs = {
        let state = metadata.snapshot();
        let configs = topic_log_configs(&config, &state);
        Arc::new(tokio::task::block_in_place(|| {
            LogManager::open(&config.log_dir, &configs, now_ms())
        })?)
    };
    let replicas = Arc::new(ReplicaManager::new(
        config.node_id,
        logs.clone(),
        metadata.clone(),
        config.replica_lag_time_max_ms,
    ));
    let groups = GroupCoordinator::new(
        config.group.clone(),
        Box::new(offsets_topic::OffsetsTopicLog {
            replicas: replicas.clone(),
        }),
    );
    let open_file_limit = raise_open_file_limit();
    let quotas =
        super::quotas::ClientQuotas::new(config.quota_window_num, config.quota_window_size_seconds);
    let broker = Arc::new(Broker {
        effective: std::sync::RwLock::new(Arc::new(config.clone())),
        quotas,
        config,
        metadata,
        logs,
        replicas,
        groups,
        endpoints,
        topic_ops: tokio::sync::Mutex::new(()),
        open_file_limit,
        partition_budget: open_file_limit.min(u32::MAX as u64) as usize * 3
            / 4
            / super::FILES_PER_PARTITION,
    });
    broker.reconcile();
    // Logs of topics the cluster no longer has (deleted while this broker was down),
    // offline ones included. A log that cannot be removed stays, logged: it is not
    // served, and startup goes on.
    let state = broker.metadata.snapshot();
    let local = broker.logs.partitions();
    for tp in local.into_iter().chain(broker.logs.offline_partitions()) {
        let hosted = state.topics.get(&tp.topic).is_some_and(|t| {
            t.partitions
                .get(tp.partition as usize)
                .is_some_and(|p| p.replicas.contains(&broker.node_id()))
        });
        if !hosted {
            log::warn!("removing the log of {tp}, which this broker no longer hosts");
            if let Err(e) = broker.logs.delete(&tp) {
                log::error!("cannot remove the log of {tp}: {e}");
            }
        }
    }
    Ok(broker)
}

async fn start_quorum(config: &BrokerConfig) -> Result<Quorum, StartupError> {
    let dir = config.log_dir.join(QUORUM_DIR);
    let (voters, listen) = if config.quorum_voters.is_empty() {
        // A quorum of one: the listener is never used by peers, so any loopback port does.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        (vec![(config.node_id, addr)], Listen::Listener(listener))
    } else {
        let own = config
            .quorum_voters
            .iter()
            .find(|(id, _)| *id == config.node_id)
            .map(|(_, a)| *a)
            .ok_or_else(|| std::io::Error::other("node.id is not a voter"))?;
        let bind: SocketAddr = match &config.controller_listener {
            Some(l) => l.bind_addr().parse().unwrap_or(own),
            None => own,
        };
        (config.quorum_voters.clone(), Listen::Addr(bind))
    };
    let mut cfg = QuorumConfig::new(config.node_id, voters, dir)?;
    cfg.listen = listen;
    Ok(Quorum::start(cfg).await?)
}

impl Broker {
    /// Reconciles replicas with the current metadata and loads or unloads the groups of
    /// the `__consumer_offsets` partitions whose leadership changed.
    pub(super) fn reconcile(&self) {
        let state = self.metadata.snapshot();
        let broker_config = self.follow_dynamic_configs(&state);
        let configs = topic_log_configs(&broker_config, &state);
        // Creates, deletes and truncates logs, writes epoch checkpoints, replays groups.
        crate::storage::blocking(|| {
            self.replicas.reconcile(&state, &configs, now_ms());
            offsets_topic::follow_leadership(self);
        });
        // Altered topic configs reach the logs that exist already.
        self.logs.apply_configs(&configs);
    }
}

/// Each topic's log config: the broker's (effective) config under the topic's overrides
/// in `state`.
fn topic_log_configs<'a>(
    broker: &'a BrokerConfig,
    state: &'a ClusterState,
) -> impl Fn(&str) -> LogConfig + 'a {
    move |topic| {
        let overrides = state
            .topics
            .get(topic)
            .map(|t| t.configs.clone())
            .unwrap_or_default();
        crate::config::topic::log_config(broker, &overrides)
    }
}

/// Raises the soft open-file limit to the hard limit (as the JVM does for Kafka) and
/// returns the limit in force.
fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}
