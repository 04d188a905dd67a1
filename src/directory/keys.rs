//! Key management: loading the keyring at start, data-key rotation (re-seal
//! everything, one transaction), master-key rotation (re-wrap data keys), status
//! and the integrity check of every sealed secret.
//!
//! State machine of a data key: Active → Retired. Exactly one key is Active.
//! Rotation adds key N+1 as Active, re-seals every secret under it and retires
//! (and destroys) the others, all in one write transaction: after a crash the
//! store holds either the old or the new state, never a mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Directory, DirectoryError, KeyState, audit_row, credentials};
use crate::crypto::envelope::{key_id_of, unwrap_dek, wrap_dek};
use crate::crypto::{KeyBytes, Keyring, MasterKey, MasterKeyError, MasterKeyLocation};
use crate::store::records::{DekRecord, DekState};
use crate::store::{Store, StoreError};

const FINGERPRINT_KEY: &str = "master_fingerprint";
const ROTATED_AT_KEY: &str = "keys_rotated_at";

/// What a data-key rotation did.
#[derive(Clone, Debug)]
pub struct RotationReport {
    /// The new active data key.
    pub new_key_id: u32,
    /// Keys retired by this rotation.
    pub retired: Vec<u32>,
    /// Secrets re-sealed under the new key.
    pub resealed: usize,
}

/// One data key and how many secrets it seals.
#[derive(Clone, Debug)]
pub struct KeyStatus {
    /// The key record (material omitted by the caller's formatting).
    pub dek: DekRecord,
    /// Sealed secrets naming this key id.
    pub secrets: usize,
}

fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Loads (or, for a new store, creates) the master key and the data keys.
pub(crate) fn load(store: &Store, location: MasterKeyLocation) -> Result<KeyState, DirectoryError> {
    let view = store.read()?;
    let deks = view.deks()?;
    let expected = view
        .meta_get(FINGERPRINT_KEY)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    drop(view);
    let path = location.path().to_path_buf();

    if deks.is_empty() && expected.is_none() {
        // A new store: use the key file if there is one, else create it (data dir only).
        let master = match MasterKey::read_file(&path) {
            Ok(key) => key,
            Err(MasterKeyError::Missing(_))
                if matches!(location, MasterKeyLocation::DataDir(_)) =>
            {
                let key = MasterKey::random();
                key.create_file(&path)?;
                key
            }
            Err(MasterKeyError::Missing(p)) => return Err(MasterKeyError::NotFound(p).into()),
            Err(e) => return Err(e.into()),
        };
        let dek = KeyBytes::random();
        let record = DekRecord {
            id: 1,
            state: DekState::Active,
            created: crate::now_unix(),
            retired_at: None,
            wrapped: wrap_dek(&master, 1, &dek)?,
        };
        store.write(|tx| {
            tx.put_dek(&record)?;
            tx.meta_put(FINGERPRINT_KEY, master.fingerprint().as_bytes())
        })?;
        return Ok(KeyState {
            master,
            location,
            ring: Keyring::new(BTreeMap::from([(1, dek)]), 1),
        });
    }

    let master = match read_matching(&path, expected.as_deref()) {
        Ok(key) => key,
        Err(first) => {
            // A master rotation that stopped between its commit and the file rename
            // leaves the new key beside the old one: finish it.
            let pending = pending_path(&path);
            match (&location, read_matching(&pending, expected.as_deref())) {
                (MasterKeyLocation::DataDir(_), Ok(key)) => {
                    std::fs::rename(&pending, &path).map_err(|e| MasterKeyError::Create {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    key
                }
                _ => return Err(first),
            }
        }
    };
    let mut ring = BTreeMap::new();
    let mut active = None;
    for dek in deks.iter().filter(|d| d.state == DekState::Active) {
        ring.insert(dek.id, unwrap_dek(&master, dek.id, &dek.wrapped)?);
        active = Some(active.map_or(dek.id, |a: u32| a.max(dek.id)));
    }
    let active =
        active.ok_or_else(|| StoreError::Corrupt("the keyring has no active data key".into()))?;
    Ok(KeyState {
        master,
        location,
        ring: Keyring::new(ring, active),
    })
}

fn read_matching(path: &Path, expected: Option<&str>) -> Result<MasterKey, DirectoryError> {
    let key = MasterKey::read_file(path)?;
    match expected {
        Some(fp) if fp != key.fingerprint() => Err(MasterKeyError::Mismatch {
            path: path.into(),
            found: key.fingerprint(),
            expected: fp.to_string(),
        }
        .into()),
        _ => Ok(key),
    }
}

impl Directory {
    /// Rotates the data key: new key, every secret re-sealed, old keys retired.
    pub fn rotate_data_key(&self, actor: &str) -> Result<RotationReport, DirectoryError> {
        // Held across the transaction and the swap: nothing seals under the old key meanwhile.
        let mut keys = self.keys_write();
        let (report, new_ring) = self.store.write(|tx| {
            let deks = tx.view().deks()?;
            let new_id = deks.iter().map(|d| d.id).max().unwrap_or(0) + 1;
            let new_key = KeyBytes::random();
            let now = crate::now_unix();
            let new_ring = Keyring::new(BTreeMap::from([(new_id, new_key.clone())]), new_id);

            let mut resealed = 0;
            for mut cred in tx.view().all_credentials()? {
                if cred.sealed_secret.is_empty() {
                    continue;
                }
                let ctx = credentials::secret_context(&cred);
                let plain = keys.ring.open(&ctx, &cred.sealed_secret)?;
                cred.sealed_secret = new_ring.seal(&ctx, &plain)?;
                tx.put_credential(&cred)?;
                resealed += 1;
            }
            for mut hook in tx.view().webhooks(None)? {
                let ctx = super::webhooks::webhook_secret_context(&hook);
                let plain = keys.ring.open(&ctx, &hook.sealed_secret)?;
                hook.sealed_secret = new_ring.seal(&ctx, &plain)?;
                tx.put_webhook(&hook)?;
                resealed += 1;
            }
            let mut providers = Directory::sso_providers_in(tx)?;
            for p in providers.iter_mut() {
                let ctx = super::sso::provider_secret_context(p);
                let plain = keys.ring.open(&ctx, &p.sealed_client_secret)?;
                p.sealed_client_secret = new_ring.seal(&ctx, &plain)?;
                resealed += 1;
            }
            if !providers.is_empty() {
                Directory::sso_providers_put(tx, &providers)?;
            }
            let mut retired = Vec::new();
            for mut dek in deks.into_iter().filter(|d| d.state == DekState::Active) {
                dek.state = DekState::Retired;
                dek.retired_at = Some(now);
                dek.wrapped.clear();
                retired.push(dek.id);
                tx.put_dek(&dek)?;
            }
            tx.put_dek(&DekRecord {
                id: new_id,
                state: DekState::Active,
                created: now,
                retired_at: None,
                wrapped: wrap_dek(&keys.master, new_id, &new_key)?,
            })?;
            tx.meta_put(ROTATED_AT_KEY, now.to_string().as_bytes())?;
            tx.append_audit(&audit_row(
                None,
                actor,
                "keys.rotated",
                Some(format!(
                    "data key {new_id} active; retired {retired:?}; re-encrypted {resealed} secret(s)"
                )),
            ))?;
            Ok::<_, DirectoryError>((
                RotationReport {
                    new_key_id: new_id,
                    retired,
                    resealed,
                },
                new_ring,
            ))
        })?;
        keys.ring = new_ring;
        Ok(report)
    }

    /// Re-wraps the data keys under a new master key read from `new_key_file`.
    /// Returns a note on what the operator must do with the key file, if anything.
    pub fn rotate_master_key(
        &self,
        new_key_file: &Path,
        actor: &str,
    ) -> Result<String, DirectoryError> {
        let new_master = MasterKey::read_file(new_key_file).map_err(|e| match e {
            MasterKeyError::Missing(p) => MasterKeyError::NotFound(p),
            other => other,
        })?;
        let mut keys = self.keys_write();
        if new_master.fingerprint() == keys.master.fingerprint() {
            return Err(DirectoryError::Invalid(
                "the new master key is the key already in use".into(),
            ));
        }
        // For the data-dir key, stage the new key beside the old one first: a crash
        // after the commit is finished at the next start (see `load`).
        let staged = match &keys.location {
            MasterKeyLocation::DataDir(path) => {
                let pending = pending_path(path);
                if pending.exists() {
                    std::fs::remove_file(&pending).map_err(|e| MasterKeyError::Create {
                        path: pending.clone(),
                        reason: e.to_string(),
                    })?;
                }
                new_master.create_file(&pending)?;
                Some((pending, path.clone()))
            }
            _ => None,
        };
        let rewrapped = self.store.write(|tx| {
            let mut count = 0;
            for mut dek in tx.view().deks()? {
                if dek.state != DekState::Active {
                    continue;
                }
                let material = unwrap_dek(&keys.master, dek.id, &dek.wrapped)?;
                dek.wrapped = wrap_dek(&new_master, dek.id, &material)?;
                tx.put_dek(&dek)?;
                count += 1;
            }
            tx.meta_put(FINGERPRINT_KEY, new_master.fingerprint().as_bytes())?;
            tx.append_audit(&audit_row(
                None,
                actor,
                "keys.master_rotated",
                Some(format!(
                    "master key {} replaced by {}; {count} data key(s) re-wrapped",
                    keys.master.fingerprint(),
                    new_master.fingerprint()
                )),
            ))?;
            Ok::<_, DirectoryError>(count)
        })?;
        keys.master = new_master;
        let note = match staged {
            Some((pending, path)) => {
                std::fs::rename(&pending, &path).map_err(|e| MasterKeyError::Create {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                format!(
                    "re-wrapped {rewrapped} data key(s); {} now holds the new master key",
                    path.display()
                )
            }
            None => format!(
                "re-wrapped {rewrapped} data key(s); point the master key setting ({}) at {} before the next start",
                keys.location.path().display(),
                new_key_file.display()
            ),
        };
        Ok(note)
    }

    /// Every data key with the number of secrets sealed under it, and the last rotation time.
    pub fn key_status(&self) -> Result<(Vec<KeyStatus>, Option<i64>), DirectoryError> {
        let view = self.store.read()?;
        let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
        for cred in view.all_credentials()? {
            if !cred.sealed_secret.is_empty() {
                let id = key_id_of(&cred.sealed_secret).unwrap_or(0);
                *counts.entry(id).or_default() += 1;
            }
        }
        for hook in view.webhooks(None)? {
            let id = key_id_of(&hook.sealed_secret).unwrap_or(0);
            *counts.entry(id).or_default() += 1;
        }
        drop(view);
        for p in self.sso_providers()? {
            let id = key_id_of(&p.sealed_client_secret).unwrap_or(0);
            *counts.entry(id).or_default() += 1;
        }
        let view = self.store.read()?;
        let rotated_at = view
            .meta_get(ROTATED_AT_KEY)?
            .and_then(|b| String::from_utf8_lossy(&b).parse().ok());
        let status = view
            .deks()?
            .into_iter()
            .map(|dek| KeyStatus {
                secrets: counts.get(&dek.id).copied().unwrap_or(0),
                dek,
            })
            .collect();
        Ok((status, rotated_at))
    }

    /// The master key's public fingerprint.
    pub fn master_fingerprint(&self) -> String {
        self.keys_read().master.fingerprint()
    }

    /// Opens every sealed secret; returns how many were checked, or the first failure.
    pub fn check_secrets(&self) -> Result<usize, DirectoryError> {
        let keys = self.keys_read();
        let view = self.store.read()?;
        let mut checked = 0;
        for cred in view.all_credentials()? {
            if cred.sealed_secret.is_empty() {
                continue;
            }
            keys.ring
                .open(&credentials::secret_context(&cred), &cred.sealed_secret)
                .map_err(|e| {
                    DirectoryError::Invalid(format!(
                        "secret of credential {} (tenant {}) does not open: {e}",
                        cred.id, cred.tenant
                    ))
                })?;
            checked += 1;
        }
        for hook in view.webhooks(None)? {
            keys.ring
                .open(
                    &super::webhooks::webhook_secret_context(&hook),
                    &hook.sealed_secret,
                )
                .map_err(|e| {
                    DirectoryError::Invalid(format!(
                        "secret of webhook {} (tenant {}) does not open: {e}",
                        hook.id, hook.tenant
                    ))
                })?;
            checked += 1;
        }
        drop(view);
        for p in self.sso_providers()? {
            keys.ring
                .open(
                    &super::sso::provider_secret_context(&p),
                    &p.sealed_client_secret,
                )
                .map_err(|e| {
                    DirectoryError::Invalid(format!(
                        "client secret of identity provider {} does not open: {e}",
                        p.id
                    ))
                })?;
            checked += 1;
        }
        Ok(checked)
    }
}
