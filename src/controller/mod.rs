//! Cluster metadata: brokers, topics, partition assignments, leaders, leader epochs and
//! ISR, held in a replicated metadata log agreed by a Raft controller quorum (`quorum`),
//! and the controller's decisions on it (placement, elections, fencing: `controller.rs`);
//! the cluster features it finalizes (`features`).
//!
//! `Metadata` is the broker's view: reads from the latest applied state, writes as
//! proposals. Nothing here knows Kafka message structs or client sockets.

pub mod active;
pub mod features;
pub mod meta_properties;
mod metadata;
pub mod quorum;
pub mod topic_name;

pub use meta_properties::base64_url_uuid;
pub use metadata::{Metadata, MetadataError, TopicMeta};
