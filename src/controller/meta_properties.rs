//! Kafka's `meta.properties` in the log directory (cluster id, node id), and small helpers
//! for files that must be replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Problems with `meta.properties`.
#[derive(Debug, thiserror::Error)]
pub enum MetaPropertiesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
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

fn io(path: &Path, source: std::io::Error) -> MetaPropertiesError {
    MetaPropertiesError::Io {
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
pub fn read_or_create(log_dir: &Path, node_id: i32) -> Result<String, MetaPropertiesError> {
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
                return Err(MetaPropertiesError::NodeIdMismatch {
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

    #[test]
    fn cluster_id_is_kept_and_node_id_checked() {
        let dir = tempfile::tempdir().unwrap();
        let id = read_or_create(dir.path(), 1).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(read_or_create(dir.path(), 1).unwrap(), id);
        assert!(read_or_create(dir.path(), 2).is_err());
    }

    #[test]
    fn base64_matches_kafka() {
        assert_eq!(
            base64_url_uuid(Uuid::from_u128(0)),
            "AAAAAAAAAAAAAAAAAAAAAA"
        );
    }
}
