//! Human passwords (SCIM `password`, console admins): argon2id, PHC strings.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use super::CryptoError;

/// Hashes a password with argon2id at the crate's (OWASP-minimum) defaults.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| CryptoError::Seal)
}

/// Whether `password` matches a PHC hash made by `hash_password`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("1mz050nq").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("1mz050nq"));
        assert!(verify_password("1mz050nq", &h));
        assert!(!verify_password("other", &h));
    }
}
