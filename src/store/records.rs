//! The records the store keeps: plain data, encoded by `codec`.

use serde::{Deserialize, Serialize};

use super::codec::b64;

/// A tenant: one integration with its own SCIM endpoint and credentials.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantRecord {
    /// Numeric id, never reused; the key prefix of every row of the tenant.
    pub id: u64,
    /// URL-safe unique name used in `/scim/v2/{slug}/`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The identity provider the admin chose (selects the IdP profile).
    pub idp: IdpSetting,
    /// Whether SCIM requests are served.
    pub scim_active: bool,
    /// What a SCIM DELETE does.
    pub delete_policy: DeletePolicy,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// What a group write does with unknown member ids.
    #[serde(default)]
    pub unknown_members: UnknownMembers,
    /// Custom schema extensions registered for this tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<StoredExtension>,
    /// Roles: group id → the permission strings the admin attached to it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub role_permissions: std::collections::BTreeMap<String, Vec<String>>,
}

/// A setting stored and typed by name: gives it `ALL`, `as_str`, `Display`
/// and `named` (the choice a trimmed, lowercased name means).
macro_rules! named_setting {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every choice, in the order they are listed.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored and typed name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            fn named(name: &str) -> Option<$ty> {
                $ty::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A typed setting name as the lookup takes it.
fn normalized(text: &str) -> String {
    text.trim().to_ascii_lowercase()
}

/// The identity provider of a tenant (stored by its name, e.g. `"okta"`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(from = "String", into = "String")]
pub enum IdpSetting {
    /// Okta.
    Okta,
    /// Microsoft Entra ID.
    Entra,
    /// JumpCloud.
    JumpCloud,
    /// OneLogin.
    OneLogin,
    /// Any RFC 7644 client.
    #[default]
    Generic,
    /// Detected per request from the client.
    Auto,
}

named_setting!(IdpSetting {
    Okta => "okta",
    Entra => "entra",
    JumpCloud => "jumpcloud",
    OneLogin => "onelogin",
    Generic => "generic",
    Auto => "auto",
});

impl std::str::FromStr for IdpSetting {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let t = normalized(text);
        IdpSetting::named(&t).ok_or_else(|| {
            let names: Vec<&str> = IdpSetting::ALL.iter().map(|i| i.as_str()).collect();
            format!(
                "unknown identity provider {t:?}; choose one of {}",
                names.join(", ")
            )
        })
    }
}

/// A stored name this version does not know reads as generic, as it always did.
impl From<String> for IdpSetting {
    fn from(name: String) -> IdpSetting {
        name.parse().unwrap_or_default()
    }
}

impl From<IdpSetting> for String {
    fn from(idp: IdpSetting) -> String {
        idp.as_str().to_string()
    }
}

/// What a SCIM DELETE does (stored as `"soft"` / `"hard"`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeletePolicy {
    /// A tombstone: gone for SCIM, kept for the audit and the console.
    #[default]
    Soft,
    /// The row is removed.
    Hard,
}

named_setting!(DeletePolicy {
    Soft => "soft",
    Hard => "hard",
});

impl std::str::FromStr for DeletePolicy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let t = normalized(text);
        DeletePolicy::named(&t)
            .ok_or_else(|| format!("the delete policy must be soft or hard, not {t:?}"))
    }
}

/// What a group write does with member ids that match no user or group
/// (stored as `"skip"` / `"reject"`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnknownMembers {
    /// Leave them out and report them.
    #[default]
    Skip,
    /// Refuse the write (400).
    Reject,
}

named_setting!(UnknownMembers {
    Skip => "skip",
    Reject => "reject",
});

impl std::str::FromStr for UnknownMembers {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let t = normalized(text);
        UnknownMembers::named(&t)
            .ok_or_else(|| format!("unknown-members must be skip or reject, not {t:?}"))
    }
}

/// A custom schema extension of a tenant, in RFC 7643 §7 form.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredExtension {
    /// "User" or "Group".
    pub applies_to: String,
    /// The schema document.
    pub schema: serde_json::Value,
}

/// What kind of SCIM credential a row holds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// A bearer token; only its SHA-256 is stored.
    Bearer,
    /// HTTP basic client id and a sealed secret.
    Basic,
    /// An application's API client: client id, SHA-256 of its secret, scopes.
    App,
}

/// A SCIM credential of a tenant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Credential id (logged instead of the secret).
    pub id: String,
    /// Owning tenant.
    pub tenant: u64,
    /// Bearer or basic.
    pub kind: CredentialKind,
    /// Creation time.
    pub created: i64,
    /// Last change time.
    pub updated: i64,
    /// Bearer: SHA-256 of the token.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub token_hash: Vec<u8>,
    /// Bearer: a non-secret hint such as `rst_…Ab12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Bearer: the token stops working at this time (set when it is rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Basic: the client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Basic: the secret, sealed under a data key.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub sealed_secret: Vec<u8>,
    /// App: the name the admin gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// App: the scopes it may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// App: SHA-256 of the secret it had before a rotation with a grace
    /// period; it works until `expires_at`.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub previous_hash: Vec<u8>,
}

/// Life-cycle state of a data key.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DekState {
    /// Seals new secrets.
    Active,
    /// Replaced; its key material is destroyed and nothing is sealed under it.
    Retired,
}

/// A data encryption key, its material sealed by the master key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DekRecord {
    /// Key id, written into every ciphertext header.
    pub id: u32,
    /// Active or retired.
    pub state: DekState,
    /// Creation time.
    pub created: i64,
    /// Retirement time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    /// The key sealed by the master key; empty once retired.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub wrapped: Vec<u8>,
}

/// One provisioning-log row: who did what, from where, with what outcome. Never a secret.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditRecord {
    /// Sequence number (assigned on append).
    #[serde(default)]
    pub seq: u64,
    /// Time (Unix seconds).
    pub ts: i64,
    /// Tenant, when the action concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<u64>,
    /// Who: `cli`, `scim`, `admin:<name>`...
    pub actor: String,
    /// What: `scim.request`, `token.generated`, `keys.rotated`...
    pub action: String,
    /// `ok` or `error`.
    pub outcome: String,
    /// Remote address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// HTTP method of a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path of a request (no query string: it may carry personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP status of a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Latency of a request in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Credential id used (never the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Free text without secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A stored User or Group: its attributes in canonical form plus server-kept fields.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResourceRecord {
    /// The SCIM id.
    pub id: String,
    /// Schema URNs (core first).
    pub schemas: Vec<String>,
    /// Attributes (no id, meta, password, groups or members).
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Users: argon2id hash of the password, if one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// Last modification time, Unix milliseconds.
    pub modified_ms: i64,
    /// Incremented on every change; the ETag.
    pub version: u64,
    /// The deleted record this one re-created (same userName, externalId or
    /// group displayName, new id per RFC 7644 §3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    /// Set when the IdP deleted it under the soft-delete policy (a tombstone).
    /// Written last: `is_tombstone` reads it off the end of the encoded record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ms: Option<i64>,
}

/// One entry of a tenant's change feed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventRecord {
    /// Per-tenant sequence number (assigned on append).
    #[serde(default)]
    pub seq: u64,
    /// Time, Unix milliseconds.
    pub ts_ms: i64,
    /// "User" or "Group".
    pub resource_type: String,
    /// The resource id.
    pub id: String,
    /// created, updated, deactivated, reactivated, deleted, member.added, member.removed.
    pub action: String,
    /// The resource version after the change.
    pub version: u64,
    /// For member events: the member id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// For updates: the top-level attributes whose values changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// A console administrator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdminRecord {
    /// Login name.
    pub username: String,
    /// argon2id PHC string; empty for an account that signs in only by SSO.
    pub password_hash: String,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Last password change (Unix seconds); sessions older than this are void.
    pub password_changed: i64,
    /// What the admin may do; accounts from before roles existed could do
    /// everything, so they read as Owner.
    #[serde(default)]
    pub role: AdminRole,
    /// The last successful sign-in (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in: Option<i64>,
    /// How the last sign-in was made (`password`, or `sso:<provider>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_method: Option<String>,
}

/// A console admin's role, lowest first.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    /// Reads everything but secrets; changes nothing.
    Viewer,
    /// Tenants, credentials, API clients, webhooks, users, groups and roles.
    Admin,
    /// Everything, including key rotation, sign-in settings and admins.
    #[default]
    Owner,
}

impl AdminRole {
    /// Every role, lowest first.
    pub const ALL: [AdminRole; 3] = [AdminRole::Viewer, AdminRole::Admin, AdminRole::Owner];

    /// The name used in the CLI, the store and audit rows.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Viewer => "viewer",
            AdminRole::Admin => "admin",
            AdminRole::Owner => "owner",
        }
    }

    /// The name shown in the console.
    pub fn label(self) -> &'static str {
        match self {
            AdminRole::Viewer => "Viewer",
            AdminRole::Admin => "Admin",
            AdminRole::Owner => "Owner",
        }
    }
}

impl std::str::FromStr for AdminRole {
    type Err = String;

    fn from_str(s: &str) -> Result<AdminRole, String> {
        AdminRole::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown role {s:?}: the roles are owner, admin and viewer"))
    }
}

/// A console session, stored under the SHA-256 of its cookie value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    /// The admin it belongs to.
    pub admin: String,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Last use (Unix seconds), refreshed at most once a minute.
    pub last_seen: i64,
    /// The synchronizer token every console form must carry.
    pub csrf: String,
}

/// A tenant's webhook endpoint and where its delivery stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookRecord {
    /// The tenant it belongs to.
    pub tenant: u64,
    /// Endpoint id (`wh_…`).
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event types it receives (`user.created`, ...); empty: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// The signing secret (`whsec_…`), sealed.
    #[serde(with = "b64")]
    pub sealed_secret: Vec<u8>,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Sequence number of the last event delivered or passed over.
    pub cursor: u64,
    /// Failed attempts at the event after `cursor`.
    #[serde(default)]
    pub failures: u32,
    /// When the next attempt is due (Unix ms); 0: now.
    #[serde(default)]
    pub next_attempt_ms: i64,
    /// Why deliveries stopped, when they were stopped for failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// One attempt to deliver an event to a webhook endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Per-tenant sequence number (assigned on append).
    #[serde(default)]
    pub seq: u64,
    /// The endpoint.
    pub endpoint: String,
    /// The event's message id (`ev_N`, or `test_…` for a test event).
    pub message: String,
    /// The event type.
    pub event_type: String,
    /// When the attempt started (Unix ms).
    pub ts_ms: i64,
    /// Attempt number for this event, from 1.
    pub attempt: u32,
    /// The HTTP status the receiver answered, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Whether the receiver took it (a 2xx).
    pub ok: bool,
    /// Round trip in milliseconds.
    pub latency_ms: u64,
    /// The start of the receiver's answer, or why there was none.
    #[serde(default)]
    pub excerpt: String,
}
