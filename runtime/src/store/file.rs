//! One JSON file holding many keyed credentials.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{LOCK_TIMEOUT, StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// Credentials in one JSON file (`{"key": {...credentials...}, ...}`).
///
/// - writes are atomic: a temporary file in the same directory, `fsync`, `rename`, then
///   `fsync` of the directory, so a crash leaves the old or the new file, never a mix;
/// - the file is created with mode 0600;
/// - writers of several processes take an advisory lock (`<file>.lock`) around each
///   read-modify-write, and refreshes take one per key (`<file>.refresh.<hash>.lock`);
/// - symbolic links are refused, for the file and its lock files: every open uses
///   `O_NOFOLLOW`, so there is no window between a check and the open;
/// - a directory that others may write to (group or world writable, without the sticky
///   bit) is refused, since anyone who can write there can replace the file;
/// - an entry's [`Version`] is a hash of its content, so [`TokenStore::save_if`] refuses to
///   overwrite credentials that changed since they were read.
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

/// An open that followed no symbolic link failed with `ELOOP`: say so as such.
fn open_error(path: &Path, e: &std::io::Error) -> StoreError {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return StoreError::Symlink(path.display().to_string());
    }
    io(path, e)
}

/// The directory holding the file must not be writable by others (unless sticky, like
/// `/tmp`): whoever can write there can replace the file between two of our operations.
fn check_directory(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir, &e)),
        };
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(StoreError::Io {
                path: dir.display().to_string(),
                reason: format!(
                    "the directory is writable by other users (mode {:o}); refusing to keep credentials there",
                    mode & 0o7777
                ),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// 64-bit FNV-1a.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// An entry's version: a hash of its JSON, which serialises deterministically.
fn version_of(credentials: &Credentials) -> Version {
    Version::new(fnv(&serde_json::to_vec(credentials).unwrap_or_default()))
}

/// Open (creating) a lock file and take an exclusive advisory lock on it, waiting with
/// `try_lock` so that the async caller is never blocked and a timeout applies.
async fn exclusive(path: PathBuf) -> Result<File, StoreError> {
    let file = open_private(&path, false).map_err(|e| open_error(&path, &e))?;
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
                wait = (wait * 2).min(Duration::from_millis(10));
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

/// A store file's contents: empty (or only white space) is an empty store.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Map, StoreError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt { path: path.display().to_string(), reason: e.to_string() })
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

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn read(&self) -> Result<Map, StoreError> {
        use std::io::Read as _;
        check_directory(&self.dir())?;
        let mut options = OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let mut bytes = Vec::new();
        match options.open(&self.path) {
            Ok(mut file) => file.read_to_end(&mut bytes).map_err(|e| io(&self.path, &e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(open_error(&self.path, &e)),
        };
        parse(&self.path, &bytes)
    }

    /// Replace the file with `map`, atomically.
    fn write(&self, map: &Map) -> Result<(), StoreError> {
        let dir = self.dir();
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

    async fn modify<T>(&self, f: impl FnOnce(&mut Map) -> Result<(T, bool), StoreError>) -> Result<T, StoreError> {
        check_directory(&self.dir())?;
        refuse_symlink(&self.path)?;
        let _lock = exclusive(self.sibling(".lock")).await?;
        let mut map = self.read()?;
        let (value, changed) = f(&mut map)?;
        if changed {
            self.write(&map)?;
        }
        Ok(value)
    }
}

impl TokenStore for FileStore {
    type Lock = File;

    async fn load(&self, key: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self.read()?.remove(key))
    }

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self.read()?.remove(key).map(|credentials| Stored { version: version_of(&credentials), credentials }))
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        self.modify(|map| {
            map.insert(key.to_owned(), credentials.clone());
            Ok(((), true))
        })
        .await
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        self.modify(|map| {
            if map.get(key).map(version_of) != expected {
                return Err(StoreError::Conflict(key.to_owned()));
            }
            map.insert(key.to_owned(), credentials.clone());
            Ok((version_of(credentials), true))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.modify(|map| {
            let removed = map.remove(key).is_some();
            Ok((removed, removed))
        })
        .await
    }

    async fn lock(&self, key: &str) -> Result<File, StoreError> {
        check_directory(&self.dir())?;
        // One lock file per key (named by a hash of it), so keys refresh independently.
        exclusive(self.sibling(&format!(".refresh.{:016x}.lock", fnv(key.as_bytes())))).await
    }
}
