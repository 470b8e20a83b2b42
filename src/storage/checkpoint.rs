//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `replication-offset-checkpoint`): line 1 version `0`,
//! line 2 entry count, then `topic partition offset` lines.
//!
//! Owns: reading and atomically writing (tmp + fsync + rename + dir fsync) these files.
//! Must never: fail startup on a malformed file (it is reported and treated as empty,
//! which only costs a longer recovery).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::Path;

use super::TopicPartition;
use super::error::{IoContext, StorageError};

pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_FILE: &str = "log-start-offset-checkpoint";
/// High watermarks (Kafka's `replication-offset-checkpoint`).
pub(crate) const REPLICATION_OFFSET_FILE: &str = "replication-offset-checkpoint";

/// The entry lines of a Kafka checkpoint file: line 1 is the version (`0`), line 2 the
/// number of entries, then exactly that many entry lines.
pub(crate) fn entry_lines(text: &str) -> Result<Vec<&str>, String> {
    let mut lines = text.lines();
    let version = lines.next().ok_or("missing version")?;
    if version.trim() != "0" {
        return Err(format!("unsupported version {version:?}"));
    }
    let count: usize = lines
        .next()
        .ok_or("missing count")?
        .trim()
        .parse()
        .map_err(|e| format!("count: {e}"))?;
    let entries: Vec<&str> = lines.take(count).collect();
    if entries.len() != count {
        return Err(format!("expected {count} entries, found {}", entries.len()));
    }
    Ok(entries)
}

fn parse(text: &str) -> Result<HashMap<TopicPartition, i64>, String> {
    let lines = entry_lines(text)?;
    let count = lines.len();
    let mut out = HashMap::new();
    for line in lines {
        let mut parts = line.split_whitespace();
        let (Some(topic), Some(part), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("malformed line {line:?}"));
        };
        let partition: i32 = part
            .parse()
            .map_err(|e| format!("partition in {line:?}: {e}"))?;
        let offset: i64 = offset
            .parse()
            .map_err(|e| format!("offset in {line:?}: {e}"))?;
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    if out.len() != count {
        return Err(format!("expected {count} entries, found {}", out.len()));
    }
    Ok(out)
}

/// Reads a checkpoint file; missing or malformed files yield an empty map.
pub(crate) fn read(path: &Path) -> Result<HashMap<TopicPartition, i64>, StorageError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) if e.kind() == ErrorKind::InvalidData => String::new(),
        Err(e) => {
            return Err(StorageError::IoAt {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    match parse(&text) {
        Ok(map) => Ok(map),
        Err(reason) => {
            let err = StorageError::BadCheckpoint {
                path: path.to_path_buf(),
                reason,
            };
            log::warn!("{err}; ignoring it (full recovery)");
            Ok(HashMap::new())
        }
    }
}

/// Atomically replaces `path` with the given entries.
pub(crate) fn write(path: &Path, entries: &[(TopicPartition, i64)]) -> Result<(), StorageError> {
    let mut text = format!("0\n{}\n", entries.len());
    for (tp, offset) in entries {
        text.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, offset));
    }
    write_atomic(path, &text)
}

/// Atomically replaces `path` with `text`: tmp file, fsync, rename, directory fsync.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(text.as_bytes()).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    fs::rename(&tmp, path).at(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// fsyncs a directory so renames and creations in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(RECOVERY_POINT_FILE);
        assert!(read(&p).unwrap().is_empty());
        let entries = vec![
            (TopicPartition::new("a-b", 3), 42),
            (TopicPartition::new("x", 0), 7),
        ];
        write(&p, &entries).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "0\n2\na-b 3 42\nx 0 7\n");
        let back = read(&p).unwrap();
        assert_eq!(back[&TopicPartition::new("a-b", 3)], 42);
        fs::write(&p, "0\n3\na 1 2\n").unwrap();
        assert!(read(&p).unwrap().is_empty());
        fs::write(&p, "garbage").unwrap();
        assert!(read(&p).unwrap().is_empty());
    }
}
