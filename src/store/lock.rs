//! The claim of one process on a store file: an exclusive advisory lock on `<store>.lock`,
//! held by a running gateway for its whole life and by the offline commands that write or
//! read the store as a whole (`talon sessions export|import`).
//!
//! Guarantees: while one holder has it, another process's [`StoreLock::acquire`] fails at once
//! (it never waits) with [`StoreLockError::Held`], so a CLI command refuses clearly instead of
//! becoming a second writer beside the gateway's group-commit writer. The lock is the kernel's
//! (`flock` on Unix): it goes away when the holder exits, however it exits, so a crashed
//! gateway never leaves a stale lock behind. The file itself is left in place, empty.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// A held lock; dropping it releases the claim.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum StoreLockError {
    /// Another process (a running gateway, or another command) holds it.
    Held(PathBuf),
    /// The lock file could not be created or locked.
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for StoreLockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Held(p) => write!(
                f,
                "the store is in use by another process ({} is locked): stop the gateway using this data \
                 directory first",
                p.display()
            ),
            Self::Io(p, e) => write!(f, "cannot lock {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for StoreLockError {}

impl StoreLock {
    /// The lock file of the store at `store_path`.
    #[must_use]
    pub fn path_for(store_path: &Path) -> PathBuf {
        let mut name = store_path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Take the lock of the store at `store_path` (its directory is created if missing).
    ///
    /// # Errors
    /// [`StoreLockError::Held`] when another process holds it; [`StoreLockError::Io`] otherwise.
    pub fn acquire(store_path: &Path) -> Result<Self, StoreLockError> {
        let path = Self::path_for(store_path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreLockError::Io(path.clone(), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreLockError::Io(path.clone(), e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(StoreLockError::Held(path)),
            Err(TryLockError::Error(e)) => Err(StoreLockError::Io(path, e)),
        }
    }

    /// Where the lock file is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}
