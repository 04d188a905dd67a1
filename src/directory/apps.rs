//! API clients of applications (OAuth 2.0 client credentials, RFC 6749 §4.4)
//! and the short-lived access tokens they get. A client's secret is stored as
//! its SHA-256 (it is 32 random bytes: no dictionary to guess from); access
//! tokens live in memory only, for `access_token_lifetime` (15 minutes by
//! default): a restart ends them and clients ask for a new one, as they do
//! when one expires.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::{Directory, DirectoryError, audit_row};
use crate::crypto::token::{ct_eq, generate_secret, hash_token, random_id, token_hint};
use crate::store::records::{CredentialKind, CredentialRecord, TenantRecord};

/// The scopes a client can hold.
pub const SCOPES: [&str; 2] = ["directory:read", "events:read"];
/// Most live access tokens kept; past it, expired ones go, then the oldest.
const MAX_ACCESS_TOKENS: usize = 100_000;

/// A client just created or rotated: the secret is shown once.
pub struct NewAppClient {
    /// The client id (not secret).
    pub client_id: String,
    /// The client secret, shown once.
    pub client_secret: Zeroizing<String>,
    /// The stored client.
    pub record: CredentialRecord,
}

/// An access token just issued.
pub struct IssuedToken {
    /// The bearer token.
    pub access_token: Zeroizing<String>,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// Why a token request was refused (RFC 6749 §5.2 error codes).
#[derive(Debug)]
pub enum TokenRefusal {
    /// Unknown client, wrong secret or revoked client.
    InvalidClient,
    /// A scope the client does not hold.
    InvalidScope(String),
    /// A fault inside the server.
    Internal(DirectoryError),
}

/// An application's request, authenticated by its access token.
#[derive(Clone, Debug)]
pub struct AppPrincipal {
    /// The client's tenant.
    pub tenant: TenantRecord,
    /// The client id.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

#[derive(Clone)]
struct Grant {
    tenant: u64,
    credential_id: String,
    client_id: String,
    scopes: Vec<String>,
    expires_at: i64,
}

/// Live access tokens, by SHA-256.
#[derive(Default)]
pub struct AccessTokens(Mutex<HashMap<[u8; 32], Grant>>);

impl AccessTokens {
    fn insert(&self, hash: [u8; 32], grant: Grant) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ACCESS_TOKENS {
            let now = crate::now_unix();
            map.retain(|_, g| g.expires_at > now);
            if map.len() >= MAX_ACCESS_TOKENS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, g)| g.expires_at)
                    .map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(hash, grant);
    }

    fn get(&self, hash: &[u8; 32]) -> Option<Grant> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash).cloned()
    }

    fn forget_client(&self, credential_id: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, g| g.credential_id != credential_id);
    }
}

/// Checks and normalises a scope list (`directory:read,events:read` or space-separated).
pub fn parse_scopes(text: &str) -> Result<Vec<String>, DirectoryError> {
    let mut scopes: Vec<String> = Vec::new();
    for s in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !SCOPES.contains(&s) {
            return Err(DirectoryError::Invalid(format!(
                "unknown scope {s:?}: the scopes are {}",
                SCOPES.join(", ")
            )));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    if scopes.is_empty() {
        return Err(DirectoryError::Invalid("give at least one scope".into()));
    }
    Ok(scopes)
}

/// The tenant id a client id names (`rc_<tenant>_<random>`).
fn tenant_of_client(client_id: &str) -> Option<u64> {
    client_id
        .strip_prefix("rc_")?
        .split('_')
        .next()?
        .parse()
        .ok()
}

fn valid_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(
            "the name must be 1-100 printable characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn new_secret() -> Zeroizing<String> {
    Zeroizing::new(format!("rcs_{}", generate_secret().as_str()))
}

fn find_app(
    view: &crate::store::View<'_, '_>,
    tenant: u64,
    client_id: &str,
) -> Result<Option<CredentialRecord>, DirectoryError> {
    Ok(view
        .credentials_of(tenant)?
        .into_iter()
        .find(|c| c.kind == CredentialKind::App && c.client_id.as_deref() == Some(client_id)))
}

impl Directory {
    /// Registers an API client for a tenant's applications.
    pub fn create_app(
        &self,
        slug: &str,
        name: &str,
        scopes: &str,
        actor: &str,
    ) -> Result<NewAppClient, DirectoryError> {
        let name = valid_name(name)?;
        let name = name.as_str();
        let scopes = parse_scopes(scopes)?;
        self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let now = crate::now_unix();
            let client_id = format!("rc_{}_{}", tenant.id, random_id());
            let secret = new_secret();
            let record = CredentialRecord {
                id: format!("app_{}", random_id()),
                tenant: tenant.id,
                kind: CredentialKind::App,
                created: now,
                updated: now,
                token_hash: hash_token(&secret).to_vec(),
                hint: Some(token_hint(&secret)),
                expires_at: None,
                client_id: Some(client_id.clone()),
                sealed_secret: Vec::new(),
                name: Some(name.to_string()),
                scopes: scopes.clone(),
                previous_hash: Vec::new(),
            };
            tx.put_credential(&record)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "app.created",
                Some(format!(
                    "client {client_id} ({name}); scopes {}",
                    record.scopes.join(" ")
                )),
            ))?;
            Ok(NewAppClient {
                client_id,
                client_secret: secret,
                record,
            })
        })
    }

    /// A tenant's API clients (never their secrets).
    pub fn apps(&self, slug: &str) -> Result<Vec<CredentialRecord>, DirectoryError> {
        self.credentials_of_kind(slug, CredentialKind::App)
    }

    /// Renames a client or changes its scopes; a scope taken away stops
    /// working at once, also for access tokens already issued.
    pub fn update_app(
        &self,
        slug: &str,
        client_id: &str,
        name: &str,
        scopes: &str,
        actor: &str,
    ) -> Result<CredentialRecord, DirectoryError> {
        let name = valid_name(name)?;
        let scopes = parse_scopes(scopes)?;
        self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let mut record = find_app(&tx.view(), tenant.id, client_id)?
                .ok_or_else(|| DirectoryError::NotFound(format!("no API client {client_id}")))?;
            record.name = Some(name.clone());
            record.scopes = scopes.clone();
            record.updated = crate::now_unix();
            tx.put_credential(&record)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "app.updated",
                Some(format!(
                    "client {client_id} ({name}); scopes {}",
                    scopes.join(" ")
                )),
            ))?;
            Ok(record)
        })
    }

    /// A new secret for a client; the old one stops now or after `grace_minutes`.
    pub fn rotate_app(
        &self,
        slug: &str,
        client_id: &str,
        grace_minutes: f64,
        actor: &str,
    ) -> Result<NewAppClient, DirectoryError> {
        let grace_secs = super::credentials::grace_seconds(grace_minutes)?;
        let outcome = self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let mut record = find_app(&tx.view(), tenant.id, client_id)?
                .ok_or_else(|| DirectoryError::NotFound(format!("no API client {client_id}")))?;
            let now = crate::now_unix();
            let secret = new_secret();
            if grace_secs > 0 {
                record.previous_hash = std::mem::take(&mut record.token_hash);
                record.expires_at = Some(now + grace_secs);
            } else {
                record.previous_hash.clear();
                record.expires_at = None;
            }
            record.token_hash = hash_token(&secret).to_vec();
            record.hint = Some(token_hint(&secret));
            record.updated = now;
            tx.put_credential(&record)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "app.rotated",
                Some(format!(
                    "client {client_id}; the old secret ends in {grace_minutes} min"
                )),
            ))?;
            Ok::<_, DirectoryError>(NewAppClient {
                client_id: client_id.to_string(),
                client_secret: secret,
                record,
            })
        })?;
        if grace_secs == 0 {
            self.access_tokens.forget_client(&outcome.record.id);
        }
        Ok(outcome)
    }

    /// Removes a client; its access tokens stop at once.
    pub fn revoke_app(
        &self,
        slug: &str,
        client_id: &str,
        actor: &str,
    ) -> Result<(), DirectoryError> {
        let record = self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let record = find_app(&tx.view(), tenant.id, client_id)?
                .ok_or_else(|| DirectoryError::NotFound(format!("no API client {client_id}")))?;
            tx.delete_credential(&record)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "app.revoked",
                Some(format!("client {client_id}")),
            ))?;
            Ok::<_, DirectoryError>(record)
        })?;
        self.access_tokens.forget_client(&record.id);
        Ok(())
    }

    /// The client credentials grant: checks the client and its secret and
    /// issues an access token for the scopes asked (all of its own if none).
    pub fn issue_access_token(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<IssuedToken, TokenRefusal> {
        let internal = |e: DirectoryError| TokenRefusal::Internal(e);
        let given = hash_token(client_secret);
        let tenant = tenant_of_client(client_id);
        let record = match tenant {
            Some(tenant) => {
                let view = self.store.read().map_err(|e| internal(e.into()))?;
                find_app(&view, tenant, client_id).map_err(internal)?
            }
            None => None,
        };
        let now = crate::now_unix();
        // Compare against a hash even for an unknown client: no timing oracle.
        let unknown = [0u8; 32];
        let current = record.as_ref().map_or(&unknown[..], |r| &r.token_hash[..]);
        let mut matched = ct_eq(current, &given);
        if let Some(r) = &record
            && !r.previous_hash.is_empty()
            && r.expires_at.is_some_and(|t| t > now)
        {
            matched |= ct_eq(&r.previous_hash, &given);
        }
        let record = match record {
            Some(r) if matched => r,
            _ => {
                if let Some(tenant) = tenant {
                    let _ = self.audit(audit_row(
                        Some(tenant),
                        "app",
                        "app.auth_failed",
                        Some(format!("client {client_id}")),
                    ));
                }
                return Err(TokenRefusal::InvalidClient);
            }
        };
        let scopes = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => record.scopes.clone(),
            Some(asked) => {
                let asked = parse_scopes(asked)
                    .map_err(|_| TokenRefusal::InvalidScope(asked.to_string()))?;
                if let Some(missing) = asked.iter().find(|s| !record.scopes.contains(s)) {
                    return Err(TokenRefusal::InvalidScope(missing.clone()));
                }
                asked
            }
        };
        let token = Zeroizing::new(format!("rat_{}", generate_secret().as_str()));
        self.access_tokens.insert(
            hash_token(&token),
            Grant {
                tenant: record.tenant,
                credential_id: record.id.clone(),
                client_id: client_id.to_string(),
                scopes: scopes.clone(),
                expires_at: now + self.access_token_lifetime,
            },
        );
        Ok(IssuedToken {
            access_token: token,
            expires_in: self.access_token_lifetime,
            scope: scopes.join(" "),
        })
    }

    /// The application an access token belongs to, if it is live and its
    /// client still exists.
    pub fn authenticate_app(&self, token: &str) -> Result<Option<AppPrincipal>, DirectoryError> {
        let Some(grant) = self.access_tokens.get(&hash_token(token)) else {
            return Ok(None);
        };
        if grant.expires_at <= crate::now_unix() {
            return Ok(None);
        }
        let view = self.store.read()?;
        let Some(client) = view.credential(grant.tenant, &grant.credential_id)? else {
            return Ok(None);
        };
        let Some(tenant) = view.tenant(grant.tenant)? else {
            return Ok(None);
        };
        // A scope taken from the client since stops working at once.
        let scopes = grant
            .scopes
            .into_iter()
            .filter(|s| client.scopes.contains(s))
            .collect();
        Ok(Some(AppPrincipal {
            tenant,
            client_id: grant.client_id,
            scopes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_client_ids() {
        assert_eq!(
            parse_scopes("directory:read, events:read directory:read").unwrap(),
            ["directory:read", "events:read"]
        );
        assert!(parse_scopes("admin").is_err());
        assert!(parse_scopes(" ").is_err());
        assert_eq!(tenant_of_client("rc_12_abc"), Some(12));
        assert_eq!(tenant_of_client("rc_x_abc"), None);
        assert_eq!(tenant_of_client("nope"), None);
    }
}
