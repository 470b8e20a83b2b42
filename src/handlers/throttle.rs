//! `throttle_time_ms` of every served response, set in one place: a response carries the
//! longest of the throttle times its request earned (byte rate, set by the produce and fetch
//! handlers, and request time, set by dispatch).

use kafka_protocol::messages::*;

use crate::protocol::frame::FileParts;

pub(super) trait Throttled {
    /// The response's throttle time, ms.
    fn get(&self) -> i32;
    /// Raises the throttle time to `ms` if it is lower.
    fn raise(&mut self, ms: i32);
}

macro_rules! throttled {
    ($($ty:ty),* $(,)?) => {
        $(impl Throttled for $ty {
            fn get(&self) -> i32 {
                self.throttle_time_ms
            }
            fn raise(&mut self, ms: i32) {
                self.throttle_time_ms = self.throttle_time_ms.max(ms);
            }
        })*
    };
}

throttled!(
    ProduceResponse,
    FetchResponse,
    ListOffsetsResponse,
    MetadataResponse,
    ApiVersionsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    DeleteRecordsResponse,
    InitProducerIdResponse,
    DescribeConfigsResponse,
    AlterConfigsResponse,
    IncrementalAlterConfigsResponse,
    CreatePartitionsResponse,
    DescribeClusterResponse,
    DescribeLogDirsResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    FindCoordinatorResponse,
    JoinGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
    DescribeGroupsResponse,
    ListGroupsResponse,
    DeleteGroupsResponse,
    OffsetDeleteResponse,
    OffsetForLeaderEpochResponse,
    DescribeTopicPartitionsResponse,
    ElectLeadersResponse,
    UpdateFeaturesResponse,
    DescribeClientQuotasResponse,
    AlterClientQuotasResponse,
    DescribeUserScramCredentialsResponse,
);

/// DescribeQuorum has no throttle time (Kafka forwards it to the controller unthrottled).
impl Throttled for DescribeQuorumResponse {
    fn get(&self) -> i32 {
        0
    }
    fn raise(&mut self, _ms: i32) {}
}

/// acks=0: no response to carry a throttle time.
impl<T: Throttled> Throttled for Option<T> {
    fn get(&self) -> i32 {
        self.as_ref().map_or(0, T::get)
    }
    fn raise(&mut self, ms: i32) {
        if let Some(r) = self {
            r.raise(ms);
        }
    }
}

impl Throttled for (FetchResponse, FileParts) {
    fn get(&self) -> i32 {
        self.0.get()
    }
    fn raise(&mut self, ms: i32) {
        self.0.raise(ms);
    }
}
