//! Cryptography: the only module that imports chacha20poly1305 (and argon2).
//!
//! Ciphertext format (`envelope`): `0x01 ‖ key id (u32 BE) ‖ nonce (24) ‖
//! XChaCha20-Poly1305(ciphertext ‖ tag)`. The AAD is a domain string, the
//! 5-byte header and the length-prefixed (table, record, field) of the value,
//! so a ciphertext moved to another row, field or key id fails to open.
//!
//! Key hierarchy: a 32-byte master key outside the store wraps the data keys
//! (`keyring` table); data keys seal secrets. Rotating the data key re-seals
//! every secret in one write transaction and destroys the old key; rotating the
//! master key re-wraps the data keys only.

pub mod envelope;
pub mod master;
pub mod password;
pub mod token;
pub mod webhook;

pub use envelope::{CryptoError, KeyBytes, Keyring, SealContext};
pub use master::{MasterKey, MasterKeyError, MasterKeyLocation};
