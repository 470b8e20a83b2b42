//! Cluster metadata: topics (ids, partition counts, configs), the cluster id and
//! producer-id allocation.
//!
//! Today this is a single node's metadata, persisted atomically as JSON in the log
//! directory (`vltava-metadata.json`) next to Kafka's `meta.properties`. It is the seam
//! where the replicated metadata log of a controller quorum will live; it must stay free of
//! Kafka message structs and of sockets.

mod store;
pub mod topic_name;

pub use store::{MetadataError, MetadataStore, TopicMeta, base64_url_uuid};
