//! Partitions as replicas: which this broker leads or follows (`manager`), the leader's
//! view of its followers (`leader`: ISR, high watermark), the one write path (`append`),
//! the one read path with its long poll (`read`, `purgatory`), and the follower side
//! (`fetcher`).
//!
//! Never decodes Kafka messages: it talks to other brokers through
//! `protocol::interbroker` and to clients through the handlers.

pub mod append;
pub mod delete;
pub mod fetcher;
pub mod leader;
pub mod manager;
pub mod purgatory;
pub mod read;
#[cfg(test)]
mod tests_append;
#[cfg(test)]
mod tests_read;
