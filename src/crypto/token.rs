//! Random tokens, secrets and ids; token hashing and constant-time comparison.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Prefix of every SCIM bearer token, so secret scanners can recognise them.
pub const TOKEN_PREFIX: &str = "rst_";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Characters needed for 32 bytes in base62 (62^43 > 2^256).
const B62_LEN_32: usize = 43;

/// Base62 of a big-endian byte string, left-padded to `width`.
fn base62(bytes: &[u8], width: usize) -> String {
    let mut digits = Vec::with_capacity(width);
    let mut num: Vec<u8> = bytes.to_vec();
    while num.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for byte in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        digits.push(BASE62[rem as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut buf = Zeroizing::new([0u8; N]);
    rand::rng().fill_bytes(buf.as_mut());
    buf
}

/// A new SCIM bearer token: `rst_` + 32 random bytes in base62.
pub fn generate_token() -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        base62(random_bytes::<32>().as_ref(), B62_LEN_32)
    ))
}

/// A new random secret (basic-auth client secrets): 32 random bytes in base62.
pub fn generate_secret() -> Zeroizing<String> {
    Zeroizing::new(base62(random_bytes::<32>().as_ref(), B62_LEN_32))
}

/// A new random identifier (not secret): 16 random bytes in base62.
pub fn random_id() -> String {
    base62(random_bytes::<16>().as_ref(), 22)
}

/// SHA-256 of a token: what the store keeps instead of the token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two secrets in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A non-secret hint of a token for display: its prefix (up to the first
/// `_`) and last four characters.
pub fn token_hint(token: &str) -> String {
    let prefix = token
        .split_once('_')
        .map_or(TOKEN_PREFIX.to_string(), |(p, _)| format!("{p}_"));
    let tail: String = token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let t = generate_token();
        assert!(t.starts_with("rst_"));
        assert_eq!(t.len(), 4 + 43);
        assert!(t[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(*t, *generate_token());
    }

    #[test]
    fn base62_known_values() {
        assert_eq!(base62(&[0, 0], 3), "000");
        assert_eq!(base62(&[0, 62], 1), "10");
        assert_eq!(base62(&[0xff; 32], 43).len(), 43);
    }

    #[test]
    fn compare_and_hint() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert_eq!(token_hint("rst_abcdefgh"), "rst_…efgh");
        assert_eq!(token_hint("rcs_abcdefgh"), "rcs_…efgh");
    }
}
