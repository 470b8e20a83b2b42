//! openraft's `RaftStateMachine` over `ClusterState`, with snapshots on disk
//! (`snapshot.json` in the quorum directory: snapshot meta + the state, replaced atomically).
//!
//! Owns: applying committed entries to `ClusterState` in log order, publishing each new state
//! on a `watch` channel, building/installing snapshots. At startup the state is the last
//! snapshot; openraft then re-applies the committed log after it.
//!
//! Must never: decide anything (apply is `ClusterState::apply`), or hold its lock across an
//! `.await`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::TypeConfig;
use super::state::{ClusterState, CommandOutput, CommandResult};
use super::storage::write_atomic;

const SNAPSHOT_FILE: &str = "snapshot.json";

type NodeId = u64;
type StorageResult<T> = Result<T, StorageError<NodeId>>;

#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    state: ClusterState,
}

/// The state machine; cheap to clone (clones share state), and its own snapshot builder.
#[derive(Clone)]
pub(crate) struct StateMachineStore {
    inner: Arc<Mutex<SmInner>>,
}

struct SmInner {
    dir: PathBuf,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    state: ClusterState,
    snapshot: Option<StoredSnapshot>,
    snapshot_seq: u64,
    tx: watch::Sender<Arc<ClusterState>>,
}

impl StateMachineStore {
    /// Loads the last snapshot from `dir`, if any.
    pub(crate) fn open(dir: &Path) -> io::Result<StateMachineStore> {
        let snapshot: Option<StoredSnapshot> = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(io::Error::other)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let (last_applied, membership, state) = match &snapshot {
            Some(s) => (
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
                s.state.clone(),
            ),
            None => (None, StoredMembership::default(), ClusterState::default()),
        };
        let (tx, _) = watch::channel(Arc::new(state.clone()));
        Ok(StateMachineStore {
            inner: Arc::new(Mutex::new(SmInner {
                dir: dir.to_path_buf(),
                last_applied,
                membership,
                state,
                snapshot,
                snapshot_seq: 0,
                tx,
            })),
        })
    }

    /// A receiver of every new state.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.lock().tx.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, SmInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SmInner {
    fn publish(&self) {
        self.tx.send_replace(Arc::new(self.state.clone()));
    }

    fn save(&mut self, snap: StoredSnapshot) -> io::Result<()> {
        let json = serde_json::to_vec(&snap).map_err(io::Error::other)?;
        write_atomic(&self.dir, SNAPSHOT_FILE, &json)?;
        self.snapshot = Some(snap);
        Ok(())
    }
}

fn snapshot_err(e: io::Error) -> StorageError<NodeId> {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let mut inner = self.lock();
        inner.snapshot_seq += 1;
        let snapshot_id = match inner.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, inner.snapshot_seq),
            None => format!("none-{}", inner.snapshot_seq),
        };
        let snap = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
                snapshot_id,
            },
            state: inner.state.clone(),
        };
        inner.save(snap.clone()).map_err(snapshot_err)?;
        Ok(Snapshot {
            meta: snap.meta,
            snapshot: Box::new(snap.state),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<CommandResult>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let mut results = Vec::new();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => Ok(CommandOutput::Applied),
                EntryPayload::Normal(cmd) => inner.state.apply(cmd),
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), m);
                    Ok(CommandOutput::Applied)
                }
            };
            results.push(result);
        }
        inner.publish();
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<ClusterState>> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<ClusterState>,
    ) -> StorageResult<()> {
        let mut inner = self.lock();
        let snap = StoredSnapshot {
            meta: meta.clone(),
            state: *snapshot,
        };
        inner.save(snap.clone()).map_err(snapshot_err)?;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.state = snap.state;
        inner.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let inner = self.lock();
        Ok(inner.snapshot.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(s.state),
        }))
    }
}
