//! The persisted metadata store.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::topic_name;

/// Producer ids are handed out from blocks persisted ahead of use, so a crash never
/// hands out an id twice.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// One topic's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic-level config overrides (validated before they get here).
    pub configs: BTreeMap<String, String>,
}

/// Metadata-store failures.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    TopicCollision { name: String, existing: String },
    #[error("This server does not host this topic: {0}")]
    UnknownTopic(String),
    #[error("metadata file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata file {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{path}: node.id {found} in meta.properties does not match configured node.id {configured}"
    )]
    NodeIdMismatch {
        path: PathBuf,
        found: String,
        configured: i32,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    topics: IndexMap<String, TopicMeta>,
    /// First producer id not yet reserved on disk.
    producer_id_block_end: i64,
}

/// Topics and producer ids, persisted in the log directory.
pub struct MetadataStore {
    path: PathBuf,
    cluster_id: String,
    state: RwLock<State>,
    /// (next id, end of the reserved block).
    producer_ids: std::sync::Mutex<(i64, i64)>,
}

impl MetadataStore {
    /// Opens (or initialises) the metadata in `log_dir`, checking `meta.properties`.
    pub fn open(log_dir: &Path, node_id: i32) -> Result<Self, MetadataError> {
        std::fs::create_dir_all(log_dir).map_err(|e| io(log_dir, e))?;
        let cluster_id = meta_properties(log_dir, node_id)?;
        let path = log_dir.join("vltava-metadata.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<State>(&bytes).map_err(|e| MetadataError::Corrupt {
                    path: path.clone(),
                    source: e,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io(&path, e)),
        };
        let next = state.producer_id_block_end;
        let store = MetadataStore {
            path,
            cluster_id,
            state: RwLock::new(state),
            producer_ids: std::sync::Mutex::new((next, next)),
        };
        Ok(store)
    }

    /// The cluster id from `meta.properties`.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// All topics, in creation order.
    pub fn topics(&self) -> Vec<Arc<TopicMeta>> {
        self.read().topics.values().cloned().map(Arc::new).collect()
    }

    /// A topic by name.
    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.read().topics.get(name).cloned()
    }

    /// A topic by id.
    pub fn get_by_id(&self, id: Uuid) -> Option<TopicMeta> {
        self.read().topics.values().find(|t| t.id == id).cloned()
    }

    /// Adds a topic; its name must already be valid.
    pub fn create(&self, meta: TopicMeta) -> Result<(), MetadataError> {
        let mut s = self.write();
        if s.topics.contains_key(&meta.name) {
            return Err(MetadataError::TopicExists(meta.name));
        }
        let unified = topic_name::unify_collision_chars(&meta.name);
        if let Some(existing) = s
            .topics
            .keys()
            .find(|t| topic_name::unify_collision_chars(t) == unified)
        {
            return Err(MetadataError::TopicCollision {
                name: meta.name.clone(),
                existing: existing.clone(),
            });
        }
        s.topics.insert(meta.name.clone(), meta);
        self.persist(&s)
    }

    /// Removes a topic, returning it.
    pub fn delete(&self, name: &str) -> Result<TopicMeta, MetadataError> {
        let mut s = self.write();
        let meta = s
            .topics
            .shift_remove(name)
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_string()))?;
        self.persist(&s)?;
        Ok(meta)
    }

    /// Raises a topic's partition count.
    pub fn set_partitions(&self, name: &str, count: i32) -> Result<(), MetadataError> {
        let mut s = self.write();
        let t = s
            .topics
            .get_mut(name)
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_string()))?;
        t.partitions = count;
        self.persist(&s)
    }

    /// Hands out a new producer id, never reused, even across crashes.
    pub fn allocate_producer_id(&self) -> Result<i64, MetadataError> {
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            let mut s = self.write();
            s.producer_id_block_end = ids.1 + PRODUCER_ID_BLOCK;
            self.persist(&s)?;
            ids.1 = s.producer_id_block_end;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, s: &State) -> Result<(), MetadataError> {
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| MetadataError::Corrupt {
            path: self.path.clone(),
            source: e,
        })?;
        write_atomically(&self.path, &bytes).map_err(|e| io(&self.path, e))
    }
}

fn io(path: &Path, source: std::io::Error) -> MetadataError {
    MetadataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file so that a crash leaves either the old or the new content.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads or creates Kafka's `meta.properties`, returning the cluster id.
fn meta_properties(log_dir: &Path, node_id: i32) -> Result<String, MetadataError> {
    let path = log_dir.join("meta.properties");
    match std::fs::File::open(&path) {
        Ok(f) => {
            let props = java_properties::read(std::io::BufReader::new(f)).map_err(|e| {
                io(
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                )
            })?;
            if let Some(found) = props.get("node.id")
                && found.trim() != node_id.to_string()
            {
                return Err(MetadataError::NodeIdMismatch {
                    path,
                    found: found.clone(),
                    configured: node_id,
                });
            }
            match props.get("cluster.id") {
                Some(id) if !id.is_empty() => Ok(id.clone()),
                _ => Err(io(
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "no cluster.id"),
                )),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cluster_id = base64_url_uuid(Uuid::new_v4());
            let directory_id = base64_url_uuid(Uuid::new_v4());
            let text = format!(
                "#\n#{}\nnode.id={node_id}\ndirectory.id={directory_id}\nversion=1\ncluster.id={cluster_id}\n",
                "written by vltava"
            );
            write_atomically(&path, text.as_bytes()).map_err(|e| io(&path, e))?;
            Ok(cluster_id)
        }
        Err(e) => Err(io(&path, e)),
    }
}

/// Kafka prints UUIDs as URL-safe base64 without padding (22 characters).
pub fn base64_url_uuid(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> TopicMeta {
        TopicMeta {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions: 3,
            replication_factor: 1,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn topics_and_producer_ids_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetadataStore::open(dir.path(), 1).unwrap();
        let cluster = s.cluster_id().to_string();
        assert_eq!(cluster.len(), 22);
        s.create(meta("a.b")).unwrap();
        assert!(matches!(
            s.create(meta("a.b")),
            Err(MetadataError::TopicExists(_))
        ));
        assert!(matches!(
            s.create(meta("a_b")),
            Err(MetadataError::TopicCollision { .. })
        ));
        let p1 = s.allocate_producer_id().unwrap();
        let p2 = s.allocate_producer_id().unwrap();
        assert_eq!(p2, p1 + 1);
        drop(s);
        let s = MetadataStore::open(dir.path(), 1).unwrap();
        assert_eq!(s.cluster_id(), cluster);
        assert_eq!(s.get("a.b").unwrap().partitions, 3);
        assert!(s.allocate_producer_id().unwrap() > p2);
        assert!(MetadataStore::open(dir.path(), 2).is_err());
    }

    #[test]
    fn base64_matches_kafka() {
        let id = Uuid::from_u128(0);
        assert_eq!(base64_url_uuid(id), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
