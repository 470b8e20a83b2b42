//! Config changes (AlterConfigs, IncrementalAlterConfigs) of topics and brokers: the new
//! overrides are validated (topic configs as CreateTopics validates them, dynamic broker
//! configs as the broker's own config parses them), committed to the controller's
//! metadata (so every broker agrees and they survive restarts) and applied to the
//! running logs when each broker reconciles with the new state.

use std::collections::BTreeMap;

use std::sync::Arc;

use super::{Broker, TopicError};
use crate::config::BrokerConfig;
use crate::config::alter::{self, ConfigChangeError};
use crate::config::dynamic::{self, DynamicLayers};
use crate::config::topic as topic_config;
use crate::controller::quorum::{ClusterState, MetadataCommand};
use crate::controller::topic_name;

impl From<ConfigChangeError> for TopicError {
    fn from(e: ConfigChangeError) -> Self {
        match e {
            ConfigChangeError::InvalidRequest(m) => TopicError::InvalidRequest(m),
            ConfigChangeError::InvalidConfig(m) => TopicError::InvalidConfig(m),
        }
    }
}

impl Broker {
    /// Replaces a topic's overrides with what `change` makes of the current ones, after
    /// validating every resulting config; with `validate_only`, commits nothing.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        change: impl FnOnce(
            &BTreeMap<String, String>,
        ) -> Result<BTreeMap<String, String>, ConfigChangeError>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        topic_name::validate(name).map_err(TopicError::InvalidTopic)?;
        // One topic change at a time: the overrides read here are the ones changed.
        let _guard = self.topic_ops.lock().await;
        let current = self
            .metadata
            .get(name)
            .ok_or_else(|| TopicError::NoSuchTopic(name.to_string()))?
            .configs;
        let next = change(&current)?;
        for (k, v) in &next {
            topic_config::validate(k, Some(v))
                .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
        }
        let changes = alter::diff(&current, &next);
        let command = |changes| MetadataCommand::AlterTopicConfigs {
            name: name.to_string(),
            changes,
        };
        self.commit_config_changes(changes, command, validate_only, || format!("topic {name}"))
            .await
    }

    /// Commits config changes (none: nothing to do) to the metadata unless
    /// `validate_only`, then reconciles: this broker's logs take the new configs now, the
    /// others' when they reconcile with the same state.
    async fn commit_config_changes(
        &self,
        changes: BTreeMap<String, Option<String>>,
        command: impl FnOnce(BTreeMap<String, Option<String>>) -> MetadataCommand,
        validate_only: bool,
        what: impl FnOnce() -> String,
    ) -> Result<(), TopicError> {
        if validate_only || changes.is_empty() {
            return Ok(());
        }
        self.metadata.propose(command(changes)).await?;
        log::info!("altered the configs of {}", what());
        self.reconcile();
        Ok(())
    }

    /// Replaces the dynamic configs of broker resource `name` ("": the cluster default)
    /// with what `change` makes of the current ones, after checking that vltava changes
    /// each key at runtime and that this broker's config parses with them.
    pub async fn alter_broker_configs(
        &self,
        name: &str,
        change: impl FnOnce(
            &BTreeMap<String, String>,
        ) -> Result<BTreeMap<String, String>, ConfigChangeError>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        dynamic::check_broker_name(name)?;
        let _guard = self.topic_ops.lock().await;
        let state = self.metadata.snapshot();
        let current = state.broker_configs.get(name).cloned().unwrap_or_default();
        let next = change(&current)?;
        let mut layers = self.dynamic_layers(&state);
        // Another broker's layer is checked as if it were this broker's.
        if name.is_empty() {
            layers.cluster_default = next.clone();
        } else {
            layers.this_broker = next.clone();
        }
        dynamic::check_layer(&self.config, &layers)?;
        let changes = alter::diff(&current, &next);
        let command = |changes| MetadataCommand::AlterBrokerConfigs {
            broker: name.to_string(),
            changes,
        };
        let what = || match name {
            "" => "the cluster default".to_string(),
            id => format!("broker {id}"),
        };
        self.commit_config_changes(changes, command, validate_only, what)
            .await
    }

    /// This broker's dynamic layers in a metadata state.
    fn dynamic_layers(&self, state: &ClusterState) -> DynamicLayers {
        let layer = |k: &str| state.broker_configs.get(k).cloned().unwrap_or_default();
        DynamicLayers {
            cluster_default: layer(""),
            this_broker: layer(&self.node_id().to_string()),
        }
    }

    /// Makes the effective config follow the dynamic broker configs of `state`, and
    /// returns it. Layers that no longer parse (they were checked when set) are logged
    /// and the config in force is kept.
    pub(super) fn follow_dynamic_configs(&self, state: &ClusterState) -> Arc<BrokerConfig> {
        let current = self.effective_config();
        let layers = self.dynamic_layers(state);
        if layers == current.dynamic {
            return current;
        }
        match dynamic::effective(&self.config, &layers) {
            Ok(c) => {
                let c = Arc::new(c);
                *self.effective.write().unwrap_or_else(|p| p.into_inner()) = c.clone();
                c
            }
            Err(e) => {
                log::error!("dynamic broker configs not applied: {e}");
                current
            }
        }
    }
}
