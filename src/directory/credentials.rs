//! SCIM credentials: bearer tokens (hash only) and basic client secrets (sealed),
//! and the authentication of SCIM requests against them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::{Directory, DirectoryError, audit_row};
use crate::crypto::token::{
    ct_eq, generate_secret, generate_token, hash_token, random_id, token_hint,
};
use crate::crypto::{Keyring, SealContext};
use crate::store::Tx;
use crate::store::records::{CredentialKind, CredentialRecord, TenantRecord};

/// Longest grace period for a rotated token: one week.
pub const MAX_GRACE_MINUTES: f64 = 7.0 * 24.0 * 60.0;
const MIN_SECRET_LEN: usize = 16;
const MAX_SECRET_LEN: usize = 256;

/// Where a credential's sealed secret lives (bound into the ciphertext's AAD).
pub(crate) fn secret_context(cred: &CredentialRecord) -> SealContext<'static> {
    SealContext {
        table: "credentials",
        record: format!("{}/{}", cred.tenant, cred.id),
        field: "secret",
    }
}

/// A rotation's grace period in seconds, checked (0 to `MAX_GRACE_MINUTES`).
pub(crate) fn grace_seconds(grace_minutes: f64) -> Result<i64, DirectoryError> {
    if !grace_minutes.is_finite() || !(0.0..=MAX_GRACE_MINUTES).contains(&grace_minutes) {
        return Err(DirectoryError::Invalid(format!(
            "grace period must be between 0 and {MAX_GRACE_MINUTES} minutes"
        )));
    }
    Ok((grace_minutes * 60.0).round() as i64)
}

/// The basic-auth client id of a tenant.
pub fn client_id_for(slug: &str) -> String {
    format!("roster_scim_{slug}")
}

pub(crate) fn create_basic_in(
    tx: &mut Tx,
    ring: &Keyring,
    tenant: &TenantRecord,
) -> Result<(), DirectoryError> {
    let now = crate::now_unix();
    let mut cred = CredentialRecord {
        id: format!("basic_{}", random_id()),
        tenant: tenant.id,
        kind: CredentialKind::Basic,
        created: now,
        updated: now,
        token_hash: Vec::new(),
        hint: None,
        expires_at: None,
        client_id: Some(client_id_for(&tenant.slug)),
        sealed_secret: Vec::new(),
        name: None,
        scopes: Vec::new(),
        previous_hash: Vec::new(),
    };
    let secret = generate_secret();
    cred.sealed_secret = ring.seal(&secret_context(&cred), secret.as_bytes())?;
    tx.put_credential(&cred)?;
    Ok(())
}

/// A freshly generated bearer token; the only time its value exists outside the IdP.
pub struct NewToken {
    /// The token itself: show once, never store.
    pub token: Zeroizing<String>,
    /// The stored credential (hash and hint only).
    pub credential: CredentialRecord,
    /// How many older tokens were ended or given an expiry.
    pub superseded: usize,
}

/// The basic credentials of a tenant, for display.
pub struct BasicCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret, only when revealed.
    pub secret: Option<Zeroizing<String>>,
    /// The SCIM endpoint to pair them with.
    pub endpoint: String,
}

/// Who a SCIM request is, once authenticated.
#[derive(Clone, Debug)]
pub struct ScimPrincipal {
    /// The tenant the credential belongs to (and the URL names).
    pub tenant: TenantRecord,
    /// The credential used.
    pub credential_id: String,
}

/// Why a SCIM request was refused.
#[derive(Debug)]
pub enum AuthFailure {
    /// No valid credential of this tenant (401). The reason is for logs only.
    Unauthorized(&'static str),
    /// Valid credential, but the tenant's SCIM is deactivated (403).
    Inactive(Box<ScimPrincipal>),
    /// The lookup itself failed (500).
    Internal(DirectoryError),
}

fn basic_of(
    tx_view: &crate::store::View<'_, '_>,
    tenant: u64,
) -> Result<CredentialRecord, DirectoryError> {
    tx_view
        .credentials_of(tenant)?
        .into_iter()
        .find(|c| c.kind == CredentialKind::Basic)
        .ok_or_else(|| DirectoryError::NotFound("the tenant has no basic credentials".into()))
}

impl Directory {
    /// Generates a new bearer token. Older tokens stop working now, or after
    /// `grace_minutes` (a migration window while the IdP is updated).
    pub fn create_token(
        &self,
        slug: &str,
        grace_minutes: f64,
        actor: &str,
    ) -> Result<NewToken, DirectoryError> {
        let grace_secs = grace_seconds(grace_minutes)?;
        self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let now = crate::now_unix();
            let mut superseded = 0;
            for mut old in tx.view().credentials_of(tenant.id)? {
                if old.kind != CredentialKind::Bearer {
                    continue;
                }
                let already_ended = old.expires_at.is_some_and(|t| t <= now);
                if already_ended || grace_secs == 0 {
                    tx.delete_credential(&old)?;
                } else {
                    let until = now + grace_secs;
                    old.expires_at = Some(old.expires_at.map_or(until, |t| t.min(until)));
                    old.updated = now;
                    tx.put_credential(&old)?;
                }
                if !already_ended {
                    superseded += 1;
                }
            }
            let token = generate_token();
            let credential = CredentialRecord {
                id: format!("tok_{}", random_id()),
                tenant: tenant.id,
                kind: CredentialKind::Bearer,
                created: now,
                updated: now,
                token_hash: hash_token(&token).to_vec(),
                hint: Some(token_hint(&token)),
                expires_at: None,
                client_id: None,
                sealed_secret: Vec::new(),
                name: None,
                scopes: Vec::new(),
                previous_hash: Vec::new(),
            };
            tx.put_credential(&credential)?;
            let action = if superseded == 0 {
                "token.generated"
            } else {
                "token.rotated"
            };
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                action,
                Some(format!(
                    "credential {}; {superseded} older token(s) end in {grace_minutes} min",
                    credential.id
                )),
            ))?;
            Ok(NewToken {
                token,
                credential,
                superseded,
            })
        })
    }

    /// The bearer tokens of a tenant (hash, hint and expiry only).
    pub fn tokens(&self, slug: &str) -> Result<Vec<CredentialRecord>, DirectoryError> {
        self.credentials_of_kind(slug, CredentialKind::Bearer)
    }

    /// A tenant's credentials of one kind.
    pub(crate) fn credentials_of_kind(
        &self,
        slug: &str,
        kind: CredentialKind,
    ) -> Result<Vec<CredentialRecord>, DirectoryError> {
        let view = self.store.read()?;
        let tenant = view
            .tenant_by_slug(slug)?
            .ok_or_else(|| super::no_such_tenant(slug))?;
        Ok(view
            .credentials_of(tenant.id)?
            .into_iter()
            .filter(|c| c.kind == kind)
            .collect())
    }

    /// The basic credentials; with `reveal`, the secret too (audited).
    pub fn basic_credentials(
        &self,
        slug: &str,
        reveal: bool,
        actor: &str,
    ) -> Result<BasicCredentials, DirectoryError> {
        let keys = self.keys_read();
        let view = self.store.read()?;
        let tenant = view
            .tenant_by_slug(slug)?
            .ok_or_else(|| super::no_such_tenant(slug))?;
        let cred = basic_of(&view, tenant.id)?;
        drop(view);
        let secret = if reveal {
            let plain = keys
                .ring
                .open(&secret_context(&cred), &cred.sealed_secret)?;
            let text = String::from_utf8(plain.to_vec())
                .map_err(|_| DirectoryError::Invalid("stored secret is not text".into()))?;
            self.audit(audit_row(
                Some(tenant.id),
                actor,
                "secret.revealed",
                Some(format!("credential {}", cred.id)),
            ))?;
            Some(Zeroizing::new(text))
        } else {
            None
        };
        Ok(BasicCredentials {
            client_id: cred.client_id.unwrap_or_else(|| client_id_for(slug)),
            secret,
            endpoint: self.scim_endpoint(slug),
        })
    }

    /// Replaces the basic-auth secret with one chosen by the admin.
    pub fn set_basic_secret(
        &self,
        slug: &str,
        secret: &str,
        actor: &str,
    ) -> Result<(), DirectoryError> {
        let secret = secret.trim_end_matches(['\r', '\n']);
        let len = secret.chars().count();
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&len)
            || secret.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(DirectoryError::Invalid(format!(
                "the secret must be {MIN_SECRET_LEN}-{MAX_SECRET_LEN} printable characters without spaces"
            )));
        }
        let keys = self.keys_read();
        self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let mut cred = basic_of(&tx.view(), tenant.id)?;
            cred.sealed_secret = keys.ring.seal(&secret_context(&cred), secret.as_bytes())?;
            cred.updated = crate::now_unix();
            tx.put_credential(&cred)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "secret.changed",
                Some(format!("credential {}", cred.id)),
            ))?;
            Ok(())
        })
    }

    /// Authenticates a SCIM request for the tenant named in its URL.
    pub fn authenticate_scim(
        &self,
        slug: &str,
        authorization: Option<&str>,
    ) -> Result<ScimPrincipal, AuthFailure> {
        let internal = |e: DirectoryError| AuthFailure::Internal(e);
        let Some(header) = authorization else {
            return Err(AuthFailure::Unauthorized("no credentials"));
        };
        let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
        let value = value.trim();
        let Some(entry) = self.tenant_entry(slug).map_err(internal)? else {
            return Err(AuthFailure::Unauthorized("unknown tenant"));
        };
        let credential_id = if scheme.eq_ignore_ascii_case("bearer") {
            let hash = hash_token(value);
            // Every stored hash is compared in full (constant time each).
            let mut found = None;
            for (stored, id, expires_at) in &entry.bearer {
                if ct_eq(stored, &hash) {
                    found = Some((id, *expires_at));
                }
            }
            let (id, expires_at) = found.ok_or(AuthFailure::Unauthorized("unknown token"))?;
            if expires_at.is_some_and(|t| t <= crate::now_unix()) {
                return Err(AuthFailure::Unauthorized("token expired"));
            }
            id.clone()
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(value)
                    .map_err(|_| AuthFailure::Unauthorized("malformed basic credentials"))?,
            );
            let text = std::str::from_utf8(&decoded)
                .map_err(|_| AuthFailure::Unauthorized("malformed basic credentials"))?;
            let (client_id, secret) = text
                .split_once(':')
                .ok_or(AuthFailure::Unauthorized("malformed basic credentials"))?;
            let cred = entry
                .basic
                .as_ref()
                .ok_or(AuthFailure::Unauthorized("no basic credentials"))?;
            let stored = {
                let keys = self.keys_read();
                keys.ring
                    .open(&secret_context(cred), &cred.sealed_secret)
                    .map_err(|e| internal(e.into()))?
            };
            let expected_id = cred.client_id.clone().unwrap_or_default();
            // Evaluate both comparisons: no early exit on the client id.
            let id_ok = ct_eq(client_id.as_bytes(), expected_id.as_bytes());
            let secret_ok = ct_eq(secret.as_bytes(), &stored);
            if !(id_ok & secret_ok) {
                return Err(AuthFailure::Unauthorized("wrong client id or secret"));
            }
            cred.id.clone()
        } else {
            return Err(AuthFailure::Unauthorized(
                "unsupported authorization scheme",
            ));
        };
        let principal = ScimPrincipal {
            tenant: entry.tenant.clone(),
            credential_id,
        };
        if !principal.tenant.scim_active {
            return Err(AuthFailure::Inactive(Box::new(principal)));
        }
        Ok(principal)
    }
}
