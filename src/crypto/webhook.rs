//! Webhook signing secrets and signatures, per the Standard Webhooks scheme:
//! the secret is `whsec_` + base64 of 32 random bytes, and a message is signed
//! with HMAC-SHA256 over `"{id}.{timestamp}.{body}"` keyed by those bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Prefix of a webhook signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_webhook_secret() -> Zeroizing<String> {
    use rand::RngCore;
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(key.as_ref())))
}

/// The `webhook-signature` value of a message: `v1,<base64 HMAC-SHA256>`.
/// `None` when the secret is not a `whsec_` secret.
pub fn webhook_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = Zeroizing::new(STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            webhook_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(webhook_signature("nope", "a", 1, b"").is_none());
        let fresh = generate_webhook_secret();
        assert!(fresh.starts_with(SECRET_PREFIX));
        assert!(webhook_signature(&fresh, "a", 1, b"{}").is_some());
    }
}
