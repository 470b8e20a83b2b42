//! Cluster features (KIP-584) as Kafka 4.0 names them: what vltava supports and has
//! finalized, and the checks of an UpdateFeatures request.
//!
//! vltava implements one level of each: `metadata.version` 4.0-IV3 (level 25, the level
//! a Kafka 4.0 cluster formats with), and level 0 of `kraft.version` (a static voter set),
//! `group.version` (no KIP-848 consumer groups), `transaction.version` and
//! `eligible.leader.replicas.version`. So every update Kafka would accept and vltava can
//! honour is to the level in force, and any other is refused as Kafka refuses a level its
//! controller does not support. A feature vltava comes to serve at a new level gets a
//! wider range here and a metadata command to record the finalized level.
//! Must never: advertise a level whose behaviour vltava does not have.

/// (name, min, max) of every feature vltava knows.
pub const SUPPORTED: &[(&str, i16, i16)] = &[
    ("eligible.leader.replicas.version", 0, 0),
    ("group.version", 0, 0),
    ("kraft.version", 0, 0),
    ("metadata.version", METADATA_VERSION, METADATA_VERSION),
    ("transaction.version", 0, 0),
];

/// `metadata.version` 4.0-IV3.
pub const METADATA_VERSION: i16 = 25;

/// The epoch of the finalized features (Kafka's metadata offset of their last change;
/// they never change here).
pub const FINALIZED_EPOCH: i64 = 0;

/// The finalized level of a known feature (0: not enabled).
pub fn finalized_level(name: &str) -> Option<i16> {
    SUPPORTED.iter().find(|(n, _, _)| *n == name).map(|_| {
        if name == "metadata.version" {
            METADATA_VERSION
        } else {
            0
        }
    })
}

/// The finalized features Kafka lists in ApiVersions: those above level 0.
pub fn finalized() -> Vec<(&'static str, i16)> {
    SUPPORTED
        .iter()
        .filter_map(|(n, _, _)| finalized_level(n).filter(|l| *l > 0).map(|l| (*n, l)))
        .collect()
}

/// How an update may move a level (UpdateFeatures' upgrade_type; v0's allow_downgrade is
/// a safe downgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    /// From UpdateFeatures' upgrade_type field (1, 2, 3).
    pub fn from_code(code: i8) -> Option<UpgradeType> {
        match code {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// Checks one update of `name` to `level` on controller `node_id`, with Kafka's
/// messages (`QuorumFeatures.reasonNotLocallySupported`, `FeatureControlManager`).
pub fn check_update(node_id: i32, name: &str, level: i16, kind: UpgradeType) -> Result<(), String> {
    let invalid = |why: String| format!("Invalid update version {level} for feature {name}. {why}");
    let Some(&(_, min, max)) = SUPPORTED.iter().find(|(n, _, _)| *n == name) else {
        return Err(invalid(format!(
            "Local controller {node_id} does not support this feature."
        )));
    };
    if level < min || level > max {
        return Err(invalid(format!(
            "Local controller {node_id} only supports versions {min}-{max}"
        )));
    }
    let current = finalized_level(name).unwrap_or(0);
    if level < current && kind == UpgradeType::Upgrade {
        return Err(invalid(
            "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_levels_in_force_are_accepted() {
        assert!(check_update(1, "metadata.version", 25, UpgradeType::Upgrade).is_ok());
        assert!(check_update(1, "group.version", 0, UpgradeType::SafeDowngrade).is_ok());
        assert_eq!(
            check_update(1, "group.version", 1, UpgradeType::Upgrade).unwrap_err(),
            "Invalid update version 1 for feature group.version. Local controller 1 only supports versions 0-0"
        );
        assert_eq!(
            check_update(3, "bogus.version", 1, UpgradeType::Upgrade).unwrap_err(),
            "Invalid update version 1 for feature bogus.version. Local controller 3 does not support this feature."
        );
        assert!(check_update(1, "metadata.version", 24, UpgradeType::UnsafeDowngrade).is_err());
        assert_eq!(finalized(), vec![("metadata.version", 25)]);
    }
}
