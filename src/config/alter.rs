//! Config changes as AlterConfigs and IncrementalAlterConfigs ask for them, applied to a
//! resource's current overrides the way Kafka's controller applies them
//! (`ConfigurationControlManager`): the result is the resource's new set of overrides,
//! which the caller validates as a whole and commits.

use std::collections::BTreeMap;

/// One IncrementalAlterConfigs operation (`config_operation` 0–3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(Option<String>),
    Delete,
    /// Adds list items not there yet (LIST configs only).
    Append(Option<String>),
    /// Removes list items (LIST configs only).
    Subtract(Option<String>),
}

impl ConfigOp {
    /// The operation for a wire code and value; `None` for an unknown code.
    pub fn from_wire(code: i8, value: Option<String>) -> Option<Self> {
        Some(match code {
            0 => ConfigOp::Set(value),
            1 => ConfigOp::Delete,
            2 => ConfigOp::Append(value),
            3 => ConfigOp::Subtract(value),
            _ => return None,
        })
    }

    fn name(&self) -> &'static str {
        match self {
            ConfigOp::Set(_) => "SET",
            ConfigOp::Delete => "DELETE",
            ConfigOp::Append(_) => "APPEND",
            ConfigOp::Subtract(_) => "SUBTRACT",
        }
    }
}

/// Why a change was refused, with Kafka's error class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigChangeError {
    /// INVALID_REQUEST
    #[error("{0}")]
    InvalidRequest(String),
    /// INVALID_CONFIG
    #[error("{0}")]
    InvalidConfig(String),
}

/// What the schema tells about a key: whether it is a LIST, and its default.
pub trait ConfigSchema {
    fn is_list(&self, key: &str) -> bool;
    fn default_of(&self, key: &str) -> Option<String>;

    /// Kafka's message for APPEND or SUBTRACT (`op`) to a key that is not a LIST.
    fn not_a_list(&self, key: &str, op: &str) -> String {
        format!("Can't {op} to key {key} because its type is not LIST.")
    }
}

/// Kafka refuses a request that names a key twice for one resource.
pub fn check_duplicate_keys<'a>(
    keys: impl Iterator<Item = &'a str>,
) -> Result<(), ConfigChangeError> {
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(ConfigChangeError::InvalidRequest(
                "Error due to duplicate config keys".into(),
            ));
        }
    }
    Ok(())
}

/// IncrementalAlterConfigs: the new overrides after `ops`, in order.
pub fn apply_incremental(
    current: &BTreeMap<String, String>,
    ops: &[(String, ConfigOp)],
    schema: &dyn ConfigSchema,
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    check_duplicate_keys(ops.iter().map(|(k, _)| k.as_str()))?;
    let mut next = current.clone();
    for (key, op) in ops {
        let value = match op {
            ConfigOp::Delete => {
                next.remove(key);
                continue;
            }
            ConfigOp::Set(v) | ConfigOp::Append(v) | ConfigOp::Subtract(v) => {
                v.as_ref().ok_or_else(|| {
                    ConfigChangeError::InvalidRequest(format!(
                        "Null value not supported for : {key}"
                    ))
                })?
            }
        };
        if matches!(op, ConfigOp::Set(_)) {
            next.insert(key.clone(), value.clone());
            continue;
        }
        if !schema.is_list(key) {
            return Err(ConfigChangeError::InvalidConfig(
                schema.not_a_list(key, op.name()),
            ));
        }
        let mut items: Vec<String> = match next.get(key).cloned().or_else(|| schema.default_of(key))
        {
            Some(v) => split_list(&v),
            None => Vec::new(),
        };
        let given = split_list(value);
        if matches!(op, ConfigOp::Append(_)) {
            for v in given {
                if !items.contains(&v) {
                    items.push(v);
                }
            }
        } else {
            items.retain(|v| !given.contains(v));
        }
        next.insert(key.clone(), items.join(","));
    }
    Ok(next)
}

/// AlterConfigs (the legacy API): the given configs replace every override.
pub fn apply_replacement(
    configs: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    check_duplicate_keys(configs.iter().map(|(k, _)| k.as_str()))?;
    configs
        .iter()
        .map(|(k, v)| match v {
            Some(v) => Ok((k.clone(), v.clone())),
            None => Err(ConfigChangeError::InvalidRequest(format!(
                "Null value not supported for : {k}"
            ))),
        })
        .collect()
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The changes that turn `old` into `new` (`None`: removed), as the metadata stores them.
pub fn diff(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let mut changes: BTreeMap<String, Option<String>> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    changes.extend(
        old.keys()
            .filter(|k| !new.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Schema;

    impl ConfigSchema for Schema {
        fn is_list(&self, key: &str) -> bool {
            key == "cleanup.policy"
        }
        fn default_of(&self, key: &str) -> Option<String> {
            (key == "cleanup.policy").then(|| "delete".to_string())
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn op(k: &str, o: ConfigOp) -> (String, ConfigOp) {
        (k.to_string(), o)
    }

    #[test]
    fn set_delete_append_subtract() {
        let current = map(&[("retention.ms", "1000"), ("segment.ms", "5")]);
        let next = apply_incremental(
            &current,
            &[
                op("retention.ms", ConfigOp::Set(Some("2000".into()))),
                op("segment.ms", ConfigOp::Delete),
                op("cleanup.policy", ConfigOp::Append(Some("compact".into()))),
            ],
            &Schema,
        )
        .unwrap();
        assert_eq!(
            next,
            map(&[
                ("retention.ms", "2000"),
                ("cleanup.policy", "delete,compact")
            ]),
            "APPEND starts from the default when there is no override"
        );
        let next = apply_incremental(
            &next,
            &[op(
                "cleanup.policy",
                ConfigOp::Subtract(Some("delete".into())),
            )],
            &Schema,
        )
        .unwrap();
        assert_eq!(next["cleanup.policy"], "compact");
        assert_eq!(diff(&current, &next).get("segment.ms"), Some(&None));
        assert_eq!(
            diff(&current, &next).get("cleanup.policy"),
            Some(&Some("compact".to_string()))
        );
        assert_eq!(
            diff(&current, &next).get("retention.ms"),
            Some(&Some("2000".to_string()))
        );
        assert!(diff(&next, &next).is_empty());
    }

    #[test]
    fn refusals() {
        let none = BTreeMap::new();
        assert!(matches!(
            apply_incremental(&none, &[op("retention.ms", ConfigOp::Append(Some("1".into())))], &Schema),
            Err(ConfigChangeError::InvalidConfig(m)) if m.contains("not LIST")
        ));
        assert!(matches!(
            apply_incremental(&none, &[op("retention.ms", ConfigOp::Set(None))], &Schema),
            Err(ConfigChangeError::InvalidRequest(_))
        ));
        assert!(matches!(
            apply_incremental(
                &none,
                &[op("a", ConfigOp::Delete), op("a", ConfigOp::Delete)],
                &Schema
            ),
            Err(ConfigChangeError::InvalidRequest(m)) if m.contains("duplicate")
        ));
        assert_eq!(
            apply_replacement(&[("a".into(), Some("1".into()))]).unwrap(),
            map(&[("a", "1")])
        );
        assert!(apply_replacement(&[("a".into(), None)]).is_err());
    }
}
