//! The controller quorum: cluster metadata held in a replicated log agreed by Raft
//! (openraft 0.9), in combined mode — every broker is also a controller voter.
//!
//! - `state` — `ClusterState`, `MetadataCommand`, deterministic `apply`.
//! - `decisions` — placement and elections as pure functions returning commands.
//! - `storage` / `state_machine` — the Raft log, vote and snapshots on disk.
//! - `network` — controller RPC over TCP, proposal forwarding.
//! - `voters` — `controller.quorum.voters` parsing.
//!
//! `Quorum` is the whole public surface: start a node, propose commands (from any node; they
//! are forwarded to the leader), watch the applied state, ask who leads. Owns no Kafka
//! concepts beyond the metadata model and must never import `kafka_protocol`.
//!
//! Membership: the voter set is fixed at first start. Every voter calls openraft's
//! `initialize` with the same configured voters when its directory is empty; that is safe
//! (same config everywhere) and "already initialized" is ignored. Changing
//! `controller.quorum.voters` later is not applied (a warning is logged).

mod decisions;
mod describe;
mod network;
mod state;
mod state_machine;
mod storage;
mod voters;

#[cfg(test)]
mod tests_cluster;
#[cfg(test)]
mod tests_pure;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use decisions::{
    ElectionRefusal, ElectionType, PlacementError, elect_leader, on_broker_fenced,
    on_broker_unfenced, on_replicas_offline, place_replicas, preferred_leader_elections,
};
pub use describe::{QuorumDescription, ReplicaProgress};
pub use state::{
    BrokerInfo, ClientQuota, ClusterState, CommandError, CommandOutput, CommandResult,
    MetadataCommand, PartitionInfo, QuotaEntity, QuotaValue, TopicInfo, UNCLEAN_LEADER_ELECTION,
};
pub use voters::parse_voters;

use describe::PeerContacts;
use network::{CallError, NetworkFactory, PeerClient, ProposeRefused, Request, Response};

openraft::declare_raft_types!(
    /// openraft's type configuration for the metadata log.
    pub(crate) TypeConfig:
        D = MetadataCommand,
        R = CommandResult,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = ClusterState,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Where the controller listener comes from.
#[derive(Debug)]
pub enum Listen {
    /// Bind this address (e.g. `0.0.0.0:9193`).
    Addr(SocketAddr),
    /// Use an already bound listener (tests bind port 0 first to learn the addresses).
    Listener(std::net::TcpListener),
}

/// Configuration of one controller node.
#[derive(Debug)]
pub struct QuorumConfig {
    /// This node's id (`node.id`); must be one of `voters`.
    pub node_id: i32,
    /// All voters, this node included (`controller.quorum.voters`).
    pub voters: Vec<(i32, SocketAddr)>,
    pub listen: Listen,
    /// Directory of the metadata log, e.g. `<log.dir>/__cluster_metadata-0`.
    pub dir: PathBuf,
    /// Election timeout range (min, max), ms.
    pub election_timeout_ms: (u64, u64),
    /// Leader heartbeat interval, ms; also the time limit of one replication RPC.
    pub heartbeat_ms: u64,
    /// A snapshot is taken every this many applied entries, and the log before it purged.
    pub snapshot_every: u64,
    /// Time limit of `propose`, leader discovery and forwarding included.
    pub propose_timeout: Duration,
}

impl QuorumConfig {
    /// Defaults for a local cluster: election timeout 1000–2000 ms, heartbeat 200 ms,
    /// snapshot every 1000 entries, proposals time out after 10 s; listens on this node's
    /// address in `voters`.
    pub fn new(
        node_id: i32,
        voters: Vec<(i32, SocketAddr)>,
        dir: impl Into<PathBuf>,
    ) -> Result<QuorumConfig, QuorumError> {
        let own = voters
            .iter()
            .find(|(id, _)| *id == node_id)
            .map(|(_, a)| *a)
            .ok_or_else(|| QuorumError::Config(format!("node {node_id} is not a voter")))?;
        Ok(QuorumConfig {
            node_id,
            voters,
            listen: Listen::Addr(own),
            dir: dir.into(),
            election_timeout_ms: (1000, 2000),
            heartbeat_ms: 200,
            snapshot_every: 1000,
            propose_timeout: Duration::from_secs(10),
        })
    }
}

/// Errors of the quorum API.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("invalid quorum configuration: {0}")]
    Config(String),
    #[error("metadata log storage: {0}")]
    Storage(#[source] io::Error),
    #[error("controller listener: {0}")]
    Listen(#[source] io::Error),
    #[error("raft: {0}")]
    Raft(String),
    /// No answer in time: no leader (e.g. a minority is left), or the leader could not commit.
    /// A timed-out command may still be applied later.
    #[error("no quorum answer within {0:?}")]
    Timeout(Duration),
    /// The connection to the leader broke after the command was sent: it may or may not be
    /// applied.
    #[error("outcome unknown: {0}")]
    Indeterminate(String),
    #[error("the quorum node has stopped")]
    Stopped,
}

/// A running controller node.
pub struct Quorum {
    node_id: u64,
    raft: Raft<TypeConfig>,
    state_rx: watch::Receiver<Arc<ClusterState>>,
    active_rx: watch::Receiver<Option<i32>>,
    contacts: Arc<PeerContacts>,
    tasks: Vec<JoinHandle<()>>,
    propose_timeout: Duration,
}

impl Quorum {
    /// Opens the log in `cfg.dir`, starts Raft and the controller listener, and on a
    /// pristine directory initializes the membership with `cfg.voters`.
    pub async fn start(cfg: QuorumConfig) -> Result<Quorum, QuorumError> {
        let config = raft_config(&cfg)?;
        let node_id = cfg.node_id as u64;
        let members: BTreeMap<u64, BasicNode> = cfg
            .voters
            .iter()
            .map(|(id, addr)| (*id as u64, BasicNode::new(addr.to_string())))
            .collect();
        let listener = match cfg.listen {
            Listen::Addr(addr) => std::net::TcpListener::bind(addr).map_err(QuorumError::Listen)?,
            Listen::Listener(l) => l,
        };
        listener
            .set_nonblocking(true)
            .map_err(QuorumError::Listen)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(QuorumError::Listen)?;

        std::fs::create_dir_all(&cfg.dir).map_err(QuorumError::Storage)?;
        let log_store = storage::LogStore::open(&cfg.dir).map_err(QuorumError::Storage)?;
        let sm = state_machine::StateMachineStore::open(&cfg.dir).map_err(QuorumError::Storage)?;
        let state_rx = sm.subscribe();
        let contacts = Arc::new(PeerContacts::new());
        let network = NetworkFactory {
            contacts: contacts.clone(),
        };
        let raft = Raft::new(node_id, Arc::new(config), network, log_store, sm)
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;

        let (active_tx, active_rx) = watch::channel(None);
        let tasks = vec![
            tokio::spawn(network::serve(listener, raft.clone(), contacts.clone())),
            tokio::spawn(track_active(raft.clone(), active_tx, contacts.clone())),
        ];
        let quorum = Quorum {
            node_id,
            raft,
            state_rx,
            active_rx,
            contacts,
            tasks,
            propose_timeout: cfg.propose_timeout,
        };
        quorum.initialize(members).await?;
        Ok(quorum)
    }

    async fn initialize(&self, members: BTreeMap<u64, BasicNode>) -> Result<(), QuorumError> {
        let initialized = self.raft.is_initialized().await;
        if initialized.map_err(|e| QuorumError::Raft(e.to_string()))? {
            let stored = self.raft.metrics().borrow().membership_config.clone();
            let stored: BTreeMap<u64, BasicNode> =
                stored.nodes().map(|(id, n)| (*id, n.clone())).collect();
            if stored != members {
                log::warn!(
                    "controller.quorum.voters differs from the stored voter set {stored:?}; \
                     the stored set is used"
                );
            }
            return Ok(());
        }
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.node_id as i32
    }

    /// Proposes `cmd`, forwarding it to the leader when this node is not, and returns its
    /// result once committed, applied on the leader and applied on this node (so `state()`
    /// already reflects it). Waits for a leader up to `propose_timeout`.
    pub async fn propose(&self, cmd: MetadataCommand) -> Result<CommandResult, QuorumError> {
        let deadline = Instant::now() + self.propose_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(QuorumError::Timeout(self.propose_timeout));
            }
            let leader = self.raft.metrics().borrow().current_leader;
            let outcome = match leader {
                None => Retry,
                Some(l) if l == self.node_id => {
                    let local = network::propose_local(&self.raft, cmd.clone());
                    match tokio::time::timeout(remaining, local).await {
                        Err(_) => return Err(QuorumError::Timeout(self.propose_timeout)),
                        Ok(r) => refused(r)?,
                    }
                }
                Some(l) => self.forward(l, &cmd, remaining).await?,
            };
            match outcome {
                Done((r, index)) => {
                    self.wait_applied(index, deadline).await;
                    return Ok(r);
                }
                Retry => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits until this node has applied the entry at `index` (or the deadline passes: the
    /// entry is committed anyway, this node is only slow).
    async fn wait_applied(&self, index: u64, deadline: Instant) {
        let mut metrics = self.raft.metrics();
        let applied = metrics.wait_for(|m| m.last_applied.is_some_and(|a| a.index >= index));
        let _ = tokio::time::timeout_at(deadline, applied).await;
    }

    async fn forward(
        &self,
        leader: u64,
        cmd: &MetadataCommand,
        remaining: Duration,
    ) -> Result<Outcome, QuorumError> {
        let Some(addr) = self.leader_addr(leader) else {
            return Ok(Retry);
        };
        let mut client = PeerClient::new(leader, addr);
        match client.call(&Request::Propose(cmd.clone()), remaining).await {
            Ok(Response::Propose(r)) => refused(r),
            Ok(_) => Err(QuorumError::Indeterminate("mismatched response".into())),
            Err(CallError::Connect(_)) => Ok(Retry),
            Err(CallError::Timeout) => Err(QuorumError::Timeout(self.propose_timeout)),
            Err(CallError::Io(e)) => Err(QuorumError::Indeterminate(e.to_string())),
        }
    }

    /// The quorum as its leader describes it (Kafka's DescribeQuorum), asked of the leader
    /// when this node is not; waits for a leader up to `propose_timeout`.
    pub async fn describe(&self) -> Result<QuorumDescription, QuorumError> {
        let deadline = Instant::now() + self.propose_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(QuorumError::Timeout(self.propose_timeout));
            }
            let leader = self.raft.metrics().borrow().current_leader;
            let answer = match leader {
                None => Err(ProposeRefused::NotLeader(None)),
                Some(l) if l == self.node_id => network::describe_local(&self.raft, &self.contacts),
                Some(l) => match self.leader_addr(l) {
                    None => Err(ProposeRefused::NotLeader(None)),
                    Some(addr) => {
                        let mut client = PeerClient::new(l, addr);
                        match client.call(&Request::Describe, remaining).await {
                            Ok(Response::Describe(r)) => r,
                            Ok(_) => {
                                return Err(QuorumError::Indeterminate(
                                    "mismatched response".into(),
                                ));
                            }
                            Err(CallError::Timeout) => {
                                return Err(QuorumError::Timeout(self.propose_timeout));
                            }
                            Err(_) => Err(ProposeRefused::NotLeader(None)),
                        }
                    }
                },
            };
            match answer {
                Ok(d) => return Ok(d),
                Err(ProposeRefused::Stopped(_)) => return Err(QuorumError::Stopped),
                Err(ProposeRefused::NotLeader(_)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
            }
        }
    }

    fn leader_addr(&self, leader: u64) -> Option<String> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// The applied cluster state, updated on every apply.
    pub fn state(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.state_rx.clone()
    }

    /// The leader this node knows of (it may not have finished taking over yet).
    pub fn leader(&self) -> Option<i32> {
        self.raft
            .metrics()
            .borrow()
            .current_leader
            .map(|l| l as i32)
    }

    /// True when this node is the leader *and* has applied the whole log up to its own
    /// term's first entry, so `state()` is complete: the moment to run controller decisions.
    pub fn is_leader(&self) -> bool {
        *self.active_rx.borrow() == Some(self.node_id as i32)
    }

    /// The id of the active controller as seen by this node (`Some(id)` only on the active
    /// node itself; followers see `None`). Changes when this node gains or loses leadership.
    pub fn active_controller(&self) -> watch::Receiver<Option<i32>> {
        self.active_rx.clone()
    }

    /// Waits until some leader is known, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<i32, QuorumError> {
        let mut metrics = self.raft.metrics();
        let wait = metrics.wait_for(|m| m.current_leader.is_some());
        match tokio::time::timeout(timeout, wait).await {
            Err(_) => Err(QuorumError::Timeout(timeout)),
            Ok(Err(_)) => Err(QuorumError::Stopped),
            Ok(Ok(m)) => Ok(m.current_leader.map_or(-1, |l| l as i32)),
        }
    }

    /// Resolves when Raft stops by itself (a fatal error: its log or vote could not be
    /// written or read), with the reason. Never resolves while the node runs.
    pub async fn failed(&self) -> String {
        let mut metrics = self.raft.metrics();
        let stopped = metrics.wait_for(|m| m.running_state.is_err()).await;
        match stopped {
            Ok(m) => match &m.running_state {
                Err(fatal) => fatal.to_string(),
                Ok(()) => "stopped".to_string(),
            },
            Err(_) => "stopped".to_string(),
        }
    }

    /// Stops Raft and the listener. The directory can be reopened by `start`.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        if let Err(e) = self.raft.shutdown().await {
            log::warn!("controller quorum shutdown: {e}");
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for Quorum {
    /// Dropping without `shutdown` stops the listener; Raft stops once its last handle goes.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What one propose attempt gave.
enum Outcome {
    /// The result and the entry's log index.
    Done((CommandResult, u64)),
    Retry,
}
use Outcome::{Done, Retry};

fn refused(r: Result<(CommandResult, u64), ProposeRefused>) -> Result<Outcome, QuorumError> {
    match r {
        Ok(r) => Ok(Done(r)),
        Err(ProposeRefused::NotLeader(_)) => Ok(Retry),
        Err(ProposeRefused::Stopped(_)) => Err(QuorumError::Stopped),
    }
}

/// Publishes `Some(self)` while this node is leader and has applied an entry of its own term,
/// and keeps `contacts` following this node's term and log end.
async fn track_active(
    raft: Raft<TypeConfig>,
    tx: watch::Sender<Option<i32>>,
    contacts: Arc<PeerContacts>,
) {
    let mut metrics = raft.metrics();
    loop {
        let active = {
            let m = metrics.borrow_and_update();
            contacts.observe(m.current_term, m.last_log_index);
            let applied_own_term = m
                .last_applied
                .is_some_and(|id| id.leader_id.term == m.current_term);
            (m.state == ServerState::Leader && applied_own_term).then_some(m.id as i32)
        };
        tx.send_if_modified(|cur| {
            let changed = *cur != active;
            *cur = active;
            changed
        });
        if metrics.changed().await.is_err() {
            tx.send_replace(None);
            return;
        }
    }
}

fn raft_config(cfg: &QuorumConfig) -> Result<Config, QuorumError> {
    if cfg.node_id < 0 || !cfg.voters.iter().any(|(id, _)| *id == cfg.node_id) {
        return Err(QuorumError::Config(format!(
            "node.id {} is not in controller.quorum.voters",
            cfg.node_id
        )));
    }
    for (i, (id, _)) in cfg.voters.iter().enumerate() {
        if *id < 0 || cfg.voters[..i].iter().any(|(v, _)| v == id) {
            return Err(QuorumError::Config(format!(
                "voter id {id} is negative or listed twice"
            )));
        }
    }
    let (min, max) = cfg.election_timeout_ms;
    if cfg.heartbeat_ms == 0 || min <= cfg.heartbeat_ms || max <= min {
        return Err(QuorumError::Config(format!(
            "need 0 < heartbeat ({}) < election timeout min ({min}) < max ({max})",
            cfg.heartbeat_ms
        )));
    }
    let config = Config {
        cluster_name: "vltava-metadata".to_string(),
        election_timeout_min: min,
        election_timeout_max: max,
        heartbeat_interval: cfg.heartbeat_ms,
        install_snapshot_timeout: max,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every.max(1)),
        max_in_snapshot_log_to_keep: cfg.snapshot_every.max(1),
        purge_batch_size: 1,
        ..Default::default()
    };
    config
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))
}
