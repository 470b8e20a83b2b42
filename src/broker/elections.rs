//! ElectLeaders: preferred and unclean leader elections asked for by an operator
//! (`kafka-leader-election.sh`, AdminClient `electLeaders`). Each partition's election is
//! decided on the current metadata (`controller::quorum::elect_leader`) and committed to
//! the quorum as a partition change carrying the partition epoch it was decided on.

use std::time::Duration;

use super::Broker;
use crate::controller::quorum::{
    CommandError, CommandOutput, ElectionRefusal, ElectionType, MetadataCommand, elect_leader,
};

/// Why a partition's election did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectError {
    Refused(ElectionRefusal),
    /// The quorum did not commit the change in time (REQUEST_TIMED_OUT).
    Timeout,
    /// The quorum refused or could not take the change.
    Metadata(String),
}

/// Decided-on-a-stale-state changes are decided again this many times.
const ATTEMPTS: usize = 3;

impl Broker {
    /// Elects leaders for `partitions` (`None`: every partition, leaving out those whose
    /// election is not needed, as Kafka does). One result per partition, in order.
    pub async fn elect_leaders(
        &self,
        partitions: Option<Vec<(String, i32)>>,
        election: ElectionType,
        timeout: Duration,
    ) -> Vec<((String, i32), Result<(), ElectError>)> {
        let all = partitions.is_none();
        let targets = partitions.unwrap_or_else(|| {
            let state = self.metadata.snapshot();
            state
                .topics
                .values()
                .flat_map(|t| (0..t.partitions.len() as i32).map(|p| (t.name.clone(), p)))
                .collect()
        });
        let mut results: Vec<Option<Result<(), ElectError>>> = vec![None; targets.len()];
        let deadline = tokio::time::Instant::now() + timeout;
        for _ in 0..ATTEMPTS {
            let state = self.metadata.snapshot();
            let mut batch = Vec::new();
            let mut batched = Vec::new();
            for (i, (topic, partition)) in targets.iter().enumerate() {
                if results[i].is_some() {
                    continue;
                }
                match elect_leader(&state, topic, *partition, election) {
                    Ok(cmd) => {
                        batch.push(cmd);
                        batched.push(i);
                    }
                    Err(refusal) => results[i] = Some(Err(ElectError::Refused(refusal))),
                }
            }
            if batch.is_empty() {
                break;
            }
            let proposed = tokio::time::timeout_at(
                deadline,
                self.metadata.propose(MetadataCommand::Batch(batch)),
            )
            .await;
            // Per command: `None` when it was decided on a state that changed meanwhile
            // (decided again on the new state), else its outcome.
            let outcomes: Vec<Option<Result<(), ElectError>>> = match proposed {
                Err(_) => vec![Some(Err(ElectError::Timeout)); batched.len()],
                Ok(Err(e)) => vec![Some(Err(ElectError::Metadata(e.to_string()))); batched.len()],
                Ok(Ok(CommandOutput::Batch(each))) => each
                    .into_iter()
                    .map(|r| match r {
                        Ok(_) => Some(Ok(())),
                        Err(CommandError::StalePartitionEpoch { .. }) => None,
                        Err(e) => Some(Err(ElectError::Metadata(e.to_string()))),
                    })
                    .collect(),
                Ok(Ok(other)) => {
                    let e = ElectError::Metadata(format!("unexpected answer {other:?}"));
                    vec![Some(Err(e)); batched.len()]
                }
            };
            let mut stale = false;
            for (i, outcome) in batched.into_iter().zip(outcomes) {
                match outcome {
                    Some(o) => results[i] = Some(o),
                    None => stale = true,
                }
            }
            if !stale {
                break;
            }
        }
        self.reconcile();
        targets
            .into_iter()
            .zip(results)
            .map(|(tp, r)| (tp, r.unwrap_or(Err(ElectError::Timeout))))
            .filter(|(_, r)| !(all && *r == Err(ElectError::Refused(ElectionRefusal::NotNeeded))))
            .collect()
    }
}
