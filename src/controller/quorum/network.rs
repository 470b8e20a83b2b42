//! Controller-to-controller RPC over TCP: openraft's `RaftNetwork` (client side), the server
//! that feeds incoming RPCs to the local `Raft`, and proposal forwarding to the leader.
//!
//! Wire format: every message is a frame `[len: u32 BE][serde_json]`, a `Request` from the
//! client and one `Response` back, in order, on a connection the client may reuse.
//!
//! Owns: framing, connection reuse, per-call time limits, mapping I/O failures to openraft's
//! `Unreachable` (cannot connect) / `NetworkError` (failed mid-call) / `Timeout`.
//! Must never: decide anything about Raft state, or keep a connection after an error (a late
//! answer would be read as the answer to the next request).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed,
    StreamingError, Timeout, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{
    BasicNode, OptionalSend, RPCTypes, Raft, RaftNetwork, RaftNetworkFactory, Snapshot,
    SnapshotMeta, Vote,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::TypeConfig;
use super::describe::{self, PeerContacts, QuorumDescription};
use super::state::{ClusterState, CommandResult, MetadataCommand};

type NodeId = u64;

/// Largest frame accepted (a full metadata snapshot must fit).
const MAX_FRAME: usize = 256 * 1024 * 1024;
/// Time limit for establishing a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// An RPC from one controller to another.
#[derive(Serialize, Deserialize)]
pub(crate) enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// A whole snapshot (the metadata state is small).
    Snapshot {
        vote: Vote<NodeId>,
        meta: SnapshotMeta<NodeId, BasicNode>,
        state: Box<ClusterState>,
    },
    /// A metadata command for the leader to propose.
    Propose(MetadataCommand),
    /// The quorum as the leader sees it.
    Describe,
}

/// The answer to a `Request`, same variant.
#[derive(Serialize, Deserialize)]
pub(crate) enum Response {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<SnapshotResponse<NodeId>, Fatal<NodeId>>),
    /// The result and the log index of the applied command.
    Propose(Result<(CommandResult, u64), ProposeRefused>),
    Describe(Result<QuorumDescription, ProposeRefused>),
}

/// Why a node did not propose a forwarded command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ProposeRefused {
    /// Not the leader; the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// The Raft node has stopped.
    Stopped(String),
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    Connect(io::Error),
    Io(io::Error),
    Timeout,
}

impl CallError {
    fn into_rpc<E: std::error::Error>(
        self,
        action: RPCTypes,
        target: NodeId,
        timeout: Duration,
    ) -> RPCError<NodeId, BasicNode, E> {
        match self {
            CallError::Connect(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Io(e) => RPCError::Network(NetworkError::new(&e)),
            CallError::Timeout => RPCError::Timeout(Timeout {
                action,
                id: 0,
                target,
                timeout,
            }),
        }
    }
}

async fn write_frame<T: Serialize>(stream: &mut TcpStream, msg: &T) -> io::Result<()> {
    let json = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(json.len() + 4);
    buf.extend_from_slice(&(json.len() as u32).to_be_bytes());
    buf.extend_from_slice(&json);
    stream.write_all(&buf).await
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a frame.
async fn read_frame<T: for<'de> Deserialize<'de>>(stream: &mut TcpStream) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is too large"),
        ));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A client to one peer, reusing one connection while it works.
pub(crate) struct PeerClient {
    target: NodeId,
    addr: String,
    conn: Option<TcpStream>,
    /// Where a replication client notes the follower's answers (None: a forwarding client).
    contacts: Option<Arc<PeerContacts>>,
}

impl PeerClient {
    pub(crate) fn new(target: NodeId, addr: String) -> PeerClient {
        PeerClient {
            target,
            addr,
            conn: None,
            contacts: None,
        }
    }

    /// Sends `req` and waits for the answer, all within `timeout`.
    pub(crate) async fn call(
        &mut self,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let result = tokio::time::timeout(timeout, self.call_inner(req)).await;
        let result = result.unwrap_or(Err(CallError::Timeout));
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn call_inner(&mut self, req: &Request) -> Result<Response, CallError> {
        if self.conn.is_none() {
            let connect = TcpStream::connect(&self.addr);
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| CallError::Connect(io::ErrorKind::TimedOut.into()))?
                .map_err(CallError::Connect)?;
            stream.set_nodelay(true).map_err(CallError::Connect)?;
            self.conn = Some(stream);
        }
        let Some(stream) = self.conn.as_mut() else {
            return Err(CallError::Connect(io::ErrorKind::NotConnected.into()));
        };
        write_frame(stream, req).await.map_err(CallError::Io)?;
        match read_frame(stream).await {
            Ok(Some(resp)) => Ok(resp),
            Ok(None) => Err(CallError::Io(io::ErrorKind::UnexpectedEof.into())),
            Err(e) => Err(CallError::Io(e)),
        }
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        let e = io::Error::new(io::ErrorKind::InvalidData, "mismatched response");
        RPCError::Network(NetworkError::new(&e))
    }
}

/// Creates a `PeerClient` per target from the address in the membership; the clients note
/// their followers' answers in `contacts`.
pub(crate) struct NetworkFactory {
    pub(crate) contacts: Arc<PeerContacts>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        let mut client = PeerClient::new(target, node.addr.clone());
        client.contacts = Some(self.contacts.clone());
        client
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let ttl = option.hard_ttl();
        let last_index = rpc
            .entries
            .last()
            .map(|e| e.log_id.index)
            .or(rpc.prev_log_id.map(|l| l.index));
        match self.call(&Request::AppendEntries(rpc), ttl).await {
            Ok(Response::AppendEntries(r)) => {
                if let (Ok(AppendEntriesResponse::Success), Some(c)) = (&r, &self.contacts) {
                    c.answered(self.target, last_index);
                }
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc(RPCTypes::AppendEntries, self.target, ttl)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let ttl = option.hard_ttl();
        match self.call(&Request::Vote(rpc), ttl).await {
            Ok(Response::Vote(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc(RPCTypes::Vote, self.target, ttl)),
        }
    }

    #[allow(deprecated)]
    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        // Never called: snapshots are sent whole by `full_snapshot`.
        let e = io::Error::other("chunked snapshots are not supported");
        Err(RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let ttl = option.hard_ttl();
        let req = Request::Snapshot {
            vote,
            meta: snapshot.meta,
            state: snapshot.snapshot,
        };
        let res = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            res = self.call(&req, ttl) => res,
        };
        match res {
            Ok(Response::Snapshot(r)) => {
                r.map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => {
                let e = io::Error::new(io::ErrorKind::InvalidData, "mismatched response");
                Err(StreamingError::Network(NetworkError::new(&e)))
            }
            Err(CallError::Connect(e)) => Err(StreamingError::Unreachable(Unreachable::new(&e))),
            Err(CallError::Io(e)) => Err(StreamingError::Network(NetworkError::new(&e))),
            Err(CallError::Timeout) => Err(StreamingError::Timeout(Timeout {
                action: RPCTypes::InstallSnapshot,
                id: 0,
                target: self.target,
                timeout: ttl,
            })),
        }
    }
}

/// Accepts controller connections and serves them until the task is aborted (aborting also
/// ends every connection task, which live in the `JoinSet`).
pub(crate) async fn serve(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    contacts: Arc<PeerContacts>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let raft = raft.clone();
                    let contacts = contacts.clone();
                    conns.spawn(async move {
                        if let Err(e) = serve_conn(stream, raft, &contacts).await {
                            log::debug!("controller connection from {peer}: {e}");
                        }
                    });
                }
                Err(e) => {
                    log::warn!("controller listener accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next() => {}
        }
    }
}

async fn serve_conn(
    mut stream: TcpStream,
    raft: Raft<TypeConfig>,
    contacts: &PeerContacts,
) -> io::Result<()> {
    while let Some(req) = read_frame::<Request>(&mut stream).await? {
        let resp = match req {
            Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::Snapshot { vote, meta, state } => {
                let snapshot = Snapshot {
                    meta,
                    snapshot: state,
                };
                Response::Snapshot(raft.install_full_snapshot(vote, snapshot).await)
            }
            Request::Propose(cmd) => Response::Propose(propose_local(&raft, cmd).await),
            Request::Describe => Response::Describe(describe_local(&raft, contacts)),
        };
        write_frame(&mut stream, &resp).await?;
    }
    Ok(())
}

/// Proposes `cmd` on this node, which must be the leader; returns the result and the log
/// index of the entry once applied here.
pub(crate) async fn propose_local(
    raft: &Raft<TypeConfig>,
    cmd: MetadataCommand,
) -> Result<(CommandResult, u64), ProposeRefused> {
    match raft.client_write(cmd).await {
        Ok(resp) => Ok((resp.data, resp.log_id.index)),
        Err(e) => match e.forward_to_leader() {
            Some(f) => Err(ProposeRefused::NotLeader(f.leader_id)),
            None => Err(ProposeRefused::Stopped(e.to_string())),
        },
    }
}

/// The quorum described by this node, which must be the leader.
pub(crate) fn describe_local(
    raft: &Raft<TypeConfig>,
    contacts: &PeerContacts,
) -> Result<QuorumDescription, ProposeRefused> {
    let metrics = raft.metrics();
    let m = metrics.borrow();
    if let Err(fatal) = &m.running_state {
        return Err(ProposeRefused::Stopped(fatal.to_string()));
    }
    describe::describe(&m, contacts).ok_or(ProposeRefused::NotLeader(m.current_leader))
}
