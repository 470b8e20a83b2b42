//! Partition state beyond the log itself. Today: the purgatory where long-poll fetches
//! wait for appends. Leader epochs, ISR and the follower fetcher will live here.
//!
//! Must never decode Kafka messages; it works on log-end-offset notifications only.

pub mod append;
pub mod fetcher;
pub mod leader;
pub mod manager;
pub mod purgatory;
#[cfg(test)]
mod tests_append;
