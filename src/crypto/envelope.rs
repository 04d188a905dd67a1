//! Sealing and opening secrets under data keys, and wrapping data keys under the master key.

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::MasterKey;

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SECRET_DOMAIN: &[u8] = b"roster/secret/v1";
const DEK_DOMAIN: &[u8] = b"roster/dek/v1";

/// 32 bytes of key material, zeroized on drop, never printed.
#[derive(Clone)]
pub struct KeyBytes(pub(crate) Zeroizing<[u8; 32]>);

impl KeyBytes {
    /// Fresh random key material.
    pub fn random() -> KeyBytes {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        KeyBytes(key)
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes(<redacted>)")
    }
}

/// Why a seal or open failed. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The bytes are not a ciphertext of a known format.
    #[error("malformed ciphertext")]
    Format,
    /// The ciphertext names a data key the keyring does not hold.
    #[error("ciphertext is sealed under unknown or retired data key {0}")]
    UnknownKey(u32),
    /// Authentication failed: tampered, moved between rows, or the wrong key.
    #[error("ciphertext failed authentication (data key {0})")]
    Open(u32),
    /// Encryption failed (should not happen).
    #[error("encryption failed")]
    Seal,
}

/// Where a sealed value lives; bound into its AAD.
#[derive(Clone, Debug)]
pub struct SealContext<'a> {
    /// Table name.
    pub table: &'a str,
    /// Record key within the table.
    pub record: String,
    /// Field within the record.
    pub field: &'a str,
}

fn push_lp(aad: &mut Vec<u8>, part: &[u8]) {
    // Length prefixes keep ("ab","c") and ("a","bc") apart.
    aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
    aad.extend_from_slice(part);
}

fn aad(domain: &[u8], header: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(domain);
    out.extend_from_slice(header);
    for part in parts {
        push_lp(&mut out, part);
    }
    out
}

fn seal_raw(
    key: &KeyBytes,
    key_id: u32,
    domain: &[u8],
    parts: &[&[u8]],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(FORMAT_V1);
    out.extend_from_slice(&key_id.to_be_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    let aad = aad(domain, &out[..HEADER_LEN], parts);
    let cipher = XChaCha20Poly1305::new(&(*key.0).into());
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Seal)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The data key id a ciphertext names, if it is well formed.
pub fn key_id_of(blob: &[u8]) -> Result<u32, CryptoError> {
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || blob[0] != FORMAT_V1 {
        return Err(CryptoError::Format);
    }
    Ok(u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]))
}

fn open_raw(
    key: &KeyBytes,
    domain: &[u8],
    parts: &[&[u8]],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key_id = key_id_of(blob)?;
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Format)?;
    let aad = aad(domain, header, parts);
    XChaCha20Poly1305::new(&(*key.0).into())
        .decrypt(&nonce, Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Open(key_id))
}

/// Seals a data key under the master key (bound to its id and the master fingerprint).
pub fn wrap_dek(master: &MasterKey, id: u32, dek: &KeyBytes) -> Result<Vec<u8>, CryptoError> {
    let fp = master.fingerprint();
    seal_raw(
        &master.key,
        id,
        DEK_DOMAIN,
        &[fp.as_bytes()],
        dek.0.as_ref(),
    )
}

/// Opens a data key wrapped by `wrap_dek`.
pub fn unwrap_dek(master: &MasterKey, id: u32, wrapped: &[u8]) -> Result<KeyBytes, CryptoError> {
    if key_id_of(wrapped)? != id {
        return Err(CryptoError::Open(id));
    }
    let fp = master.fingerprint();
    let plain = open_raw(&master.key, DEK_DOMAIN, &[fp.as_bytes()], wrapped)?;
    let bytes: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Format)?;
    Ok(KeyBytes(Zeroizing::new(bytes)))
}

/// The usable data keys: one active (seals), any others only open.
#[derive(Clone, Debug)]
pub struct Keyring {
    deks: BTreeMap<u32, KeyBytes>,
    active: u32,
}

impl Keyring {
    /// A keyring of the given keys with `active` sealing new values.
    pub fn new(deks: BTreeMap<u32, KeyBytes>, active: u32) -> Keyring {
        Keyring { deks, active }
    }

    /// Id of the data key that seals new values.
    pub fn active_id(&self) -> u32 {
        self.active
    }

    /// Seals `plaintext` for the given location under the active data key.
    pub fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .deks
            .get(&self.active)
            .ok_or(CryptoError::UnknownKey(self.active))?;
        seal_raw(
            key,
            self.active,
            SECRET_DOMAIN,
            &[
                ctx.table.as_bytes(),
                ctx.record.as_bytes(),
                ctx.field.as_bytes(),
            ],
            plaintext,
        )
    }

    /// Opens a value sealed for exactly this location.
    pub fn open(
        &self,
        ctx: &SealContext<'_>,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let id = key_id_of(blob)?;
        let key = self.deks.get(&id).ok_or(CryptoError::UnknownKey(id))?;
        open_raw(
            key,
            SECRET_DOMAIN,
            &[
                ctx.table.as_bytes(),
                ctx.record.as_bytes(),
                ctx.field.as_bytes(),
            ],
            blob,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(BTreeMap::from([(7, KeyBytes::random())]), 7)
    }

    fn ctx(record: &str) -> SealContext<'_> {
        SealContext {
            table: "credentials",
            record: record.to_string(),
            field: "secret",
        }
    }

    #[test]
    fn seal_open_round_trip_and_header() {
        let ring = ring();
        let blob = ring.seal(&ctx("1/a"), b"hunter2").unwrap();
        assert_eq!(key_id_of(&blob).unwrap(), 7);
        assert_eq!(
            ring.open(&ctx("1/a"), &blob).unwrap().as_slice(),
            b"hunter2"
        );
        assert!(!blob.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn tampered_or_moved_ciphertext_fails() {
        let ring = ring();
        let blob = ring.seal(&ctx("1/a"), b"hunter2").unwrap();
        assert_eq!(ring.open(&ctx("1/b"), &blob), Err(CryptoError::Open(7)));
        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(ring.open(&ctx("1/a"), &tampered), Err(CryptoError::Open(7)));
        let mut relabeled = blob.clone();
        relabeled[4] = 8;
        assert_eq!(
            ring.open(&ctx("1/a"), &relabeled),
            Err(CryptoError::UnknownKey(8))
        );
        assert_eq!(
            ring.open(&ctx("1/a"), &blob[..10]),
            Err(CryptoError::Format)
        );
    }

    #[test]
    fn dek_wrap_needs_the_same_master() {
        let master = MasterKey::random();
        let dek = KeyBytes::random();
        let wrapped = wrap_dek(&master, 3, &dek).unwrap();
        assert_eq!(*unwrap_dek(&master, 3, &wrapped).unwrap().0, *dek.0);
        assert!(unwrap_dek(&MasterKey::random(), 3, &wrapped).is_err());
        assert!(unwrap_dek(&master, 4, &wrapped).is_err());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = KeyBytes(Zeroizing::new([0xAB; 32]));
        let text = format!(
            "{key:?} {:?}",
            Keyring::new(BTreeMap::from([(1, key.clone())]), 1)
        );
        assert!(!text.to_lowercase().contains("ab, ") && !text.contains("171"));
        assert!(text.contains("redacted"));
    }
}
