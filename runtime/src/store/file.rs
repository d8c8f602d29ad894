//! One JSON file holding many keyed credentials.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{LOCK_TIMEOUT, StoreError, TokenStore};
use crate::Credentials;

/// Credentials in one JSON file (`{"key": {...credentials...}, ...}`).
///
/// - writes are atomic: a temporary file in the same directory, `fsync`, `rename`, then
///   `fsync` of the directory, so a crash leaves the old or the new file, never a mix;
/// - the file is created with mode 0600;
/// - writers of several processes take an advisory lock (`<file>.lock`) around each
///   read-modify-write, and refreshes take a second one (`<file>.refresh.lock`);
/// - symbolic links are refused, for the file and its lock files.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

type Map = BTreeMap<String, Credentials>;

fn io(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Io { path: path.display().to_string(), reason: e.to_string() }
}

fn refuse_symlink(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(StoreError::Symlink(path.display().to_string())),
        _ => Ok(()),
    }
}

/// Open (creating) a lock file and take an exclusive advisory lock on it, waiting with
/// `try_lock` so that the async caller is never blocked and a timeout applies.
async fn exclusive(path: PathBuf) -> Result<File, StoreError> {
    refuse_symlink(&path)?;
    let file = open_private(&path, false).map_err(|e| io(&path, &e))?;
    let start = Instant::now();
    let mut wait = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if start.elapsed() > LOCK_TIMEOUT {
                    return Err(StoreError::LockTimeout(path.display().to_string()));
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path, &e)),
        }
    }
}

fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NOFOLLOW: the final path component must not be a symbolic link.
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

impl FileStore {
    /// A store at `path`; the file is created on the first save.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    fn read(&self) -> Result<Map, StoreError> {
        refuse_symlink(&self.path)?;
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(io(&self.path, &e)),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { path: self.path.display().to_string(), reason: e.to_string() })
    }

    /// Replace the file with `map`, atomically.
    fn write(&self, map: &Map) -> Result<(), StoreError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = self.sibling(&format!(".tmp.{}.{}", std::process::id(), fastrand::u64(..)));
        let result = (|| {
            let mut file = open_private(&tmp, true)?;
            serde_json::to_writer_pretty(&mut file, map).map_err(std::io::Error::other)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| io(&self.path, &e))
    }

    async fn modify(&self, f: impl FnOnce(&mut Map) -> bool) -> Result<bool, StoreError> {
        refuse_symlink(&self.path)?;
        let _lock = exclusive(self.sibling(".lock")).await?;
        let mut map = self.read()?;
        let changed = f(&mut map);
        if changed {
            self.write(&map)?;
        }
        Ok(changed)
    }
}

impl TokenStore for FileStore {
    type Lock = File;

    async fn load(&self, key: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self.read()?.remove(key))
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        self.modify(|map| {
            map.insert(key.to_owned(), credentials.clone());
            true
        })
        .await
        .map(|_| ())
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.modify(|map| map.remove(key).is_some()).await
    }

    async fn lock(&self, _key: &str) -> Result<File, StoreError> {
        exclusive(self.sibling(".refresh.lock")).await
    }
}
