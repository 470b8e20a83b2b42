//! vltava: a Kafka wire-protocol compatible broker.
//!
//! Codemap (see ARCHITECTURE.md for the invariants):
//! - `config`: `server.properties` parsing, defaults, validation; topic configs.
//! - `net`: listeners, per-connection tasks, framing, in-order responses.
//! - `protocol`: request headers, response encoding, produce-batch validation, the
//!   inter-broker client.
//! - `handlers`: one file per Kafka API; the registry is the only version table.
//! - `broker`: shared state and topic operations; startup, shutdown, housekeeping.
//! - `controller`: cluster metadata in a replicated log agreed by a Raft controller quorum.
//! - `coordinator`: consumer groups and offsets, durable in `__consumer_offsets`.
//! - `replication`: leaders and followers, ISR, high watermark, follower fetching, purgatory.
//! - `format`: the v2 record-batch format shared by wire and disk (below protocol and storage).
//! - `storage`: Kafka's on-disk log (segments, indexes, recovery, retention, checkpoints).

pub mod broker;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod format;
pub mod fuzz;
pub mod handlers;
pub mod net;
pub mod protocol;
pub mod replication;
pub mod storage;
