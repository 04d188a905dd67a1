//! The master key: where it comes from, how it is read, created and checked.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeyBytes;

/// The key-encryption key. Never stored in the store, never logged.
#[derive(Clone)]
pub struct MasterKey {
    pub(crate) key: KeyBytes,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint {})", self.fingerprint())
    }
}

/// Where the master key was looked for, in the order of DESIGN.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeyLocation {
    /// `$CREDENTIALS_DIRECTORY/master.key` (systemd `LoadCredential=`); managed outside roster.
    Credential(PathBuf),
    /// `ROSTER_MASTER_KEY_FILE` / `master_key_file`; managed outside roster.
    Configured(PathBuf),
    /// `<data_dir>/master.key`, created by roster on first start.
    DataDir(PathBuf),
}

impl MasterKeyLocation {
    /// Picks the location: systemd credential, then the configured file, then the data dir.
    pub fn resolve(configured: Option<&Path>, data_dir: &Path) -> MasterKeyLocation {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = Path::new(&dir).join("master.key");
            if path.exists() {
                return MasterKeyLocation::Credential(path);
            }
        }
        match configured {
            Some(path) => MasterKeyLocation::Configured(path.to_path_buf()),
            None => MasterKeyLocation::DataDir(data_dir.join("master.key")),
        }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        match self {
            MasterKeyLocation::Credential(p)
            | MasterKeyLocation::Configured(p)
            | MasterKeyLocation::DataDir(p) => p,
        }
    }
}

/// Why the master key could not be used. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The file does not exist and may not be created.
    #[error(
        "no master key at {0}: this data dir already holds encrypted secrets, so roster will not create a new key; restore the key file (or set ROSTER_MASTER_KEY_FILE)"
    )]
    Missing(PathBuf),
    /// The configured file does not exist (roster creates only `<data_dir>/master.key`).
    #[error("master key file {0} does not exist")]
    NotFound(PathBuf),
    /// The file exists but cannot be read.
    #[error("cannot read master key {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// Group or others may read the file.
    #[error(
        "master key {path} is readable by group or others (mode {mode:04o}); run: chmod 600 {path}"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The content is not a key.
    #[error("master key {0} is not a key: expected 32 bytes, base64 or hex encoded")]
    Malformed(PathBuf),
    /// The key is not the one that wraps this store's data keys.
    #[error(
        "master key {path} does not match this data dir (key fingerprint {found}, data dir expects {expected})"
    )]
    Mismatch {
        /// The file tried.
        path: PathBuf,
        /// Its fingerprint.
        found: String,
        /// The fingerprint recorded in the store.
        expected: String,
    },
    /// Creating the file failed.
    #[error("cannot create master key {path}: {reason}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
}

impl MasterKey {
    /// A new random master key.
    pub fn random() -> MasterKey {
        MasterKey {
            key: KeyBytes::random(),
        }
    }

    /// A short public identifier of the key (not secret: a hash prefix).
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"roster/master-fingerprint/v1");
        hasher.update(self.key.0.as_ref());
        let digest: [u8; 32] = hasher.finalize().into();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The text written to key files: base64 and a newline.
    pub fn encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", STANDARD.encode(self.key.0.as_ref())))
    }

    /// Reads a key file, refusing group/world-readable files.
    pub fn read_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MasterKeyError::Missing(path.into()),
            _ => MasterKeyError::Unreadable {
                path: path.into(),
                reason: e.to_string(),
            },
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(MasterKeyError::Permissions {
                path: path.into(),
                mode,
            });
        }
        let raw = Zeroizing::new(std::fs::read(path).map_err(|e| MasterKeyError::Unreadable {
            path: path.into(),
            reason: e.to_string(),
        })?);
        Self::decode(&raw).ok_or_else(|| MasterKeyError::Malformed(path.into()))
    }

    fn decode(raw: &[u8]) -> Option<MasterKey> {
        let from = |bytes: &[u8]| -> Option<MasterKey> {
            let arr: [u8; 32] = bytes.try_into().ok()?;
            Some(MasterKey {
                key: KeyBytes(Zeroizing::new(arr)),
            })
        };
        if raw.len() == 32 {
            return from(raw);
        }
        let text = std::str::from_utf8(raw).ok()?.trim();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
                (0..32)
                    .filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect(),
            );
            return from(&bytes);
        }
        let bytes = Zeroizing::new(STANDARD.decode(text).ok()?);
        from(&bytes)
    }

    /// Writes a new key file with mode 0600; never overwrites an existing one.
    pub fn create_file(&self, path: &Path) -> Result<(), MasterKeyError> {
        let fail = |e: std::io::Error| MasterKeyError::Create {
            path: path.into(),
            reason: e.to_string(),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(fail)?;
        file.write_all(self.encoded().as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_permission_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::random();
        key.create_file(&path).unwrap();
        assert!(key.create_file(&path).is_err(), "never overwrites");
        let read = MasterKey::read_file(&path).unwrap();
        assert_eq!(read.fingerprint(), key.fingerprint());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            MasterKey::read_file(&path),
            Err(MasterKeyError::Permissions { .. })
        ));
    }

    #[test]
    fn accepts_hex_and_rejects_garbage() {
        let hex: String = "ab".repeat(32);
        assert!(MasterKey::decode(hex.as_bytes()).is_some());
        assert!(MasterKey::decode(b"not a key").is_none());
        let debug = format!("{:?}", MasterKey::decode(hex.as_bytes()).unwrap());
        assert!(!debug.contains("abab"));
    }
}
