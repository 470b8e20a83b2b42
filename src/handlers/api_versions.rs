//! ApiVersions (key 18): the version table generated from the registry, and (v3+) the
//! cluster's supported and finalized features.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::APIS;
use crate::broker::Broker;
use crate::controller::features;
use crate::protocol::{self, Request};

pub async fn handle(
    _broker: &Broker,
    req: &Request,
    msg: ApiVersionsRequest,
) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default().with_api_keys(api_keys());
    if req.version >= 3 {
        resp = with_features(resp, req.version);
    }
    if req.version >= 3
        && (!valid_software_field(msg.client_software_name.as_str())
            || !valid_software_field(msg.client_software_version.as_str()))
    {
        resp.error_code = ResponseError::InvalidRequest.code();
    }
    resp
}

/// The supported and finalized features (KIP-584), as a Kafka 4.0 broker lists them: the
/// supported ones whose minimum is 0 only from v4 (KIP-1022: older clients refuse a
/// minimum of 0), the finalized ones above level 0, each with its level as both bounds.
fn with_features(resp: ApiVersionsResponse, version: i16) -> ApiVersionsResponse {
    let name = |n: &'static str| StrBytes::from_static_str(n);
    resp.with_supported_features(
        features::SUPPORTED
            .iter()
            .filter(|(_, min, _)| version >= 4 || *min > 0)
            .map(|(n, min, max)| {
                SupportedFeatureKey::default()
                    .with_name(name(n))
                    .with_min_version(*min)
                    .with_max_version(*max)
            })
            .collect(),
    )
    .with_finalized_features_epoch(features::FINALIZED_EPOCH)
    .with_finalized_features(
        features::finalized()
            .into_iter()
            .map(|(n, level)| {
                FinalizedFeatureKey::default()
                    .with_name(name(n))
                    .with_min_version_level(level)
                    .with_max_version_level(level)
            })
            .collect(),
    )
}

fn api_keys() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.min)
                .with_max_version(a.max)
        })
        .collect()
}

/// Kafka's rule for client software names and versions: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((&first, rest)) = b.split_first() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && rest.last().is_none_or(|c| c.is_ascii_alphanumeric())
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

/// The answer to an ApiVersions request of a version we do not know: the v0 layout with
/// UNSUPPORTED_VERSION and our ApiVersions range, so any client can read it and retry.
pub fn unsupported_version(correlation_id: i32) -> Bytes {
    let range = APIS
        .iter()
        .find(|a| a.key == ApiKey::ApiVersions)
        .map(|a| (a.min, a.max))
        .unwrap_or((0, 0));
    let body = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(range.0)
                .with_max_version(range.1),
        ]);
    protocol::encode_response(ApiKey::ApiVersions, 0, correlation_id, &body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_version_matches_kafka_bytes() {
        // Apache Kafka 4.0's answer to ApiVersions v99 (correlation id 4).
        let expected: &[u8] = &[0, 0, 0, 4, 0, 0x23, 0, 0, 0, 1, 0, 0x12, 0, 0, 0, 4];
        assert_eq!(&unsupported_version(4)[..], expected);
    }

    #[test]
    fn software_names() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.0.2"));
        assert!(valid_software_field("a"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("x y"));
    }
}
