//! UpdateFeatures (key 57, v0-v2): every update checked against the features vltava
//! supports (`controller::features`); the request succeeds only if all pass, as Kafka's
//! controller applies a request's updates together. A level that passes is the level in
//! force, so nothing is written to the metadata.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::controller::features::{self, UpgradeType};
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: UpdateFeaturesRequest,
) -> UpdateFeaturesResponse {
    let names: Vec<StrBytes> = msg
        .feature_updates
        .iter()
        .map(|u| u.feature.clone())
        .collect();
    let outcome = check_all(broker.node_id(), req.version, &msg);
    let (code, message) = match &outcome {
        Ok(()) => (0, None),
        Err((code, message)) => (code.code(), Some(StrBytes::from_string(message.clone()))),
    };
    // v2 answers with the top-level error alone (KIP-1022); before, each feature repeats it.
    let results = if req.version >= 2 {
        Vec::new()
    } else {
        names
            .into_iter()
            .map(|feature| {
                UpdatableFeatureResult::default()
                    .with_feature(feature)
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect()
    };
    UpdateFeaturesResponse::default()
        .with_error_code(code)
        .with_error_message(message)
        .with_results(results)
}

fn check_all(
    node_id: i32,
    version: i16,
    msg: &UpdateFeaturesRequest,
) -> Result<(), (ResponseError, String)> {
    let mut seen = BTreeSet::new();
    for u in &msg.feature_updates {
        let name = u.feature.as_str();
        if !seen.insert(name) {
            return Err((
                ResponseError::InvalidRequest,
                format!("Feature {name} was specified more than once."),
            ));
        }
        let kind = if version == 0 {
            if u.allow_downgrade {
                UpgradeType::SafeDowngrade
            } else {
                UpgradeType::Upgrade
            }
        } else {
            UpgradeType::from_code(u.upgrade_type).ok_or_else(|| {
                (
                    ResponseError::InvalidRequest,
                    format!(
                        "Unknown upgrade type {} for feature {name}.",
                        u.upgrade_type
                    ),
                )
            })?
        };
        features::check_update(node_id, name, u.max_version_level, kind)
            .map_err(|m| (ResponseError::InvalidUpdateVersion, m))?;
    }
    Ok(())
}
