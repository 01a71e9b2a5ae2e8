//! Where model archives live, behind one small interface (`execution.md` §7.2): an archive is
//! addressed by FATE's storage key (`{model_id}/{model_version}/{role}/{party_id}/{task_name}/
//! {output_key}`) and the task version that wrote it, so a rerun never overwrites the model of
//! an earlier run (W-exec-9). The metas are in the database (`t_model_meta`); a store only
//! keeps bytes.
//!
//! Engines: `file` (default; `<model_store.file.path>/<storage key>/<version>.tar`). An
//! S3-compatible engine fits the same trait (see `docs/compat.md`).

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub trait ModelStore: Send + Sync + 'static {
    /// The engine name recorded in `t_model_meta.f_storage_engine`.
    fn engine(&self) -> &'static str;

    /// Stores an archive, replacing any under the same key and version; all or nothing.
    fn put(&self, key: &str, version: i64, bytes: &[u8]) -> io::Result<()>;

    /// The archive, or `NotFound`.
    fn get(&self, key: &str, version: i64) -> io::Result<Vec<u8>>;

    /// Removes an archive; a missing one is not an error.
    fn delete(&self, key: &str, version: i64) -> io::Result<()>;
}

/// [`ModelStore::get`] from async code, on the blocking pool (archives are files).
pub async fn get(store: &Arc<dyn ModelStore>, key: &str, version: i64) -> io::Result<Vec<u8>> {
    let (store, key) = (store.clone(), key.to_string());
    crate::blocking::io(move || store.get(&key, version)).await
}

/// [`ModelStore::put`] from async code, on the blocking pool.
pub async fn put(
    store: &Arc<dyn ModelStore>,
    key: &str,
    version: i64,
    bytes: Vec<u8>,
) -> io::Result<()> {
    let (store, key) = (store.clone(), key.to_string());
    crate::blocking::io(move || store.put(&key, version, &bytes)).await
}

/// [`ModelStore::delete`] from async code, on the blocking pool.
pub async fn delete(store: &Arc<dyn ModelStore>, key: &str, version: i64) -> io::Result<()> {
    let (store, key) = (store.clone(), key.to_string());
    crate::blocking::io(move || store.delete(&key, version)).await
}

/// Archives as files under a directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `<dir>/<key>/<version>.tar`. A key is FATE's `a/b/c/d/e/f`: plain names only, so that
    /// no key reaches outside the directory.
    pub fn path(&self, key: &str, version: i64) -> io::Result<PathBuf> {
        let rel = Path::new(key);
        let plain = !key.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, Component::Normal(s) if !s.is_empty()));
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("model key {key:?} is not a relative path of plain names"),
            ));
        }
        Ok(self.dir.join(rel).join(format!("{version}.tar")))
    }
}

impl ModelStore for FileStore {
    fn engine(&self) -> &'static str {
        "file"
    }

    fn put(&self, key: &str, version: i64, bytes: &[u8]) -> io::Result<()> {
        write_atomically(&self.path(key, version)?, bytes)
    }

    fn get(&self, key: &str, version: i64) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(key, version)?)
    }

    fn delete(&self, key: &str, version: i64) -> io::Result<()> {
        match std::fs::remove_file(self.path(key, version)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes a file aside and renames it into place, so a reader never sees half of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        let key = "m/0/guest/9999/train_0/output_model";
        s.put(key, 0, b"zero").unwrap();
        s.put(key, 1, b"one").unwrap();
        assert_eq!(s.get(key, 0).unwrap(), b"zero");
        assert_eq!(s.get(key, 1).unwrap(), b"one");
        s.delete(key, 0).unwrap();
        s.delete(key, 0).unwrap();
        assert_eq!(s.get(key, 0).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn keys_cannot_leave_the_directory() {
        let s = FileStore::new("/tmp/x");
        for bad in ["", "../a", "a/../../b", "/abs", "a//b"] {
            if bad == "a//b" {
                // `Path` collapses `//`: still inside.
                assert!(s.path(bad, 0).is_ok());
                continue;
            }
            assert!(s.path(bad, 0).is_err(), "{bad}");
        }
    }
}
