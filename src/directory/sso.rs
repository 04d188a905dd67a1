//! Console single sign-on with OpenID Connect or plain OAuth 2.0: the
//! authorization code flow with PKCE and `state` (bound to the browser by a
//! cookie). OpenID Connect adds a `nonce` and the ID token's signature checked
//! against the issuer's JWKS (cached, fetched again for an unknown `kid`),
//! `iss`/`aud`/`exp`/`iat` with a minute of clock skew; OAuth 2.0 reads the
//! email from the provider's userinfo URL with the access token. Both honour
//! `email_verified`, the provider's Allowed Domains, and Self-Service Sign-Up
//! creating Viewers. JOSE is `jsonwebtoken`'s.
//!
//! Providers live in one meta row (`sso_providers`): there are few, and each
//! client secret is sealed like every other secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::admins::{AdminRole, NewSession};
use super::{Directory, DirectoryError, audit_row};
use crate::crypto::SealContext;
use crate::crypto::token::{generate_secret, hash_token, random_id};

const META_KEY: &str = "sso_providers";
/// How long a sign-in may take between leaving for the IdP and coming back.
const FLOW_TTL: Duration = Duration::from_secs(600);
/// Sign-ins in progress kept at most (the oldest go first).
const MAX_FLOWS: usize = 10_000;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;
/// The name of the cookie binding a sign-in to the browser that began it.
pub const FLOW_COOKIE: &str = "roster_sso";

/// How a provider signs admins in (the form's Auth Type).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SsoProtocol {
    /// OpenID Connect: discovery, a signed ID token.
    #[default]
    Oidc,
    /// OAuth 2.0: configured URLs, the email from the userinfo answer.
    OAuth,
}

impl SsoProtocol {
    /// The form value.
    pub fn value(self) -> &'static str {
        match self {
            SsoProtocol::Oidc => "oidc",
            SsoProtocol::OAuth => "oauth",
        }
    }

    /// The form label.
    pub fn label(self) -> &'static str {
        match self {
            SsoProtocol::Oidc => "OpenID Connect",
            SsoProtocol::OAuth => "OAuth 2.0",
        }
    }

    /// Parses the form value (empty is OpenID Connect).
    pub fn parse(text: &str) -> Result<SsoProtocol, DirectoryError> {
        match text.trim() {
            "" | "oidc" => Ok(SsoProtocol::Oidc),
            "oauth" => Ok(SsoProtocol::OAuth),
            "saml" => Err(invalid(
                "SAML 2.0 is not available yet; use OpenID Connect or OAuth 2.0",
            )),
            other => Err(invalid(format!("{other:?} is not an Auth Type"))),
        }
    }
}

fn default_email_claim() -> String {
    "email".into()
}

/// A configured identity provider for console sign-in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SsoProvider {
    /// `sso_…`.
    pub id: String,
    /// OpenID Connect or OAuth 2.0 (rows from before OAuth read as OpenID Connect).
    #[serde(default)]
    pub protocol: SsoProtocol,
    /// The label of its button on the login page.
    pub sign_in_message: String,
    /// Email domains allowed to sign in through it (lowercase, no `@`).
    pub allowed_domains: Vec<String>,
    /// A first sign-in from an allowed domain creates a Viewer account.
    pub self_signup: bool,
    /// OpenID Connect: the issuer (its discovery document is
    /// `<issuer>/.well-known/openid-configuration`); empty for OAuth 2.0.
    pub issuer: String,
    /// OAuth 2.0: where the browser is sent to sign in.
    #[serde(default)]
    pub authorization_url: String,
    /// OAuth 2.0: where the code is exchanged for an access token.
    #[serde(default)]
    pub token_url: String,
    /// OAuth 2.0: answers the signed-in user's claims for the access token.
    #[serde(default)]
    pub userinfo_url: String,
    /// OAuth 2.0: the userinfo claim holding the email (a dotted path reaches
    /// into objects).
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// The client id registered at the IdP.
    pub client_id: String,
    /// The client secret, sealed.
    #[serde(with = "crate::store::codec::b64")]
    pub sealed_client_secret: Vec<u8>,
    /// Scopes asked for (space-separated; `openid` always).
    pub scopes: String,
    /// Creation time (Unix seconds).
    pub created: i64,
}

/// What an admin types into the provider form.
#[derive(Clone, Debug, Default)]
pub struct SsoProviderInput {
    /// Button label.
    pub sign_in_message: String,
    /// Comma- or space-separated domains.
    pub allowed_domains: String,
    /// Self-Service Sign-Up.
    pub self_signup: bool,
    /// Auth Type: `oidc` or `oauth`.
    pub protocol: String,
    /// Issuer URL (OpenID Connect).
    pub issuer: String,
    /// Authorization URL (OAuth 2.0).
    pub authorization_url: String,
    /// Token URL (OAuth 2.0).
    pub token_url: String,
    /// Userinfo URL (OAuth 2.0).
    pub userinfo_url: String,
    /// Email claim in the userinfo answer (OAuth 2.0; empty is `email`).
    pub email_claim: String,
    /// Client id.
    pub client_id: String,
    /// Client secret; empty on edit keeps the stored one.
    pub client_secret: String,
    /// Scopes.
    pub scopes: String,
}

/// Fetches the IdP's documents and exchanges codes; implemented by `outbound/`.
pub trait SsoHttp: Send + Sync {
    /// GETs a JSON document.
    fn get_json(&self, url: &str) -> Result<Value, String>;
    /// GETs a JSON document with a bearer token; the status and JSON answer.
    fn get_json_bearer(&self, url: &str, token: &str) -> Result<(u16, Value), String>;
    /// POSTs a form with HTTP Basic client authentication; the status and JSON answer.
    fn post_form(
        &self,
        url: &str,
        basic: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), String>;
}

/// Why a sign-in was refused (shown on the login page, audited).
#[derive(Debug, thiserror::Error)]
pub enum SsoRefusal {
    /// The `state` is unknown, spent, expired or from another browser.
    #[error("this sign-in link has expired or was already used; start again")]
    State,
    /// The IdP answered with an error, or the exchange failed.
    #[error("the identity provider refused the sign-in: {0}")]
    Provider(String),
    /// The ID token did not verify.
    #[error("the identity provider's answer did not verify ({0})")]
    Token(String),
    /// The email is missing, unverified or outside the allowed domains.
    #[error("{0}")]
    Email(String),
    /// No account, and Self-Service Sign-Up is off.
    #[error(
        "there is no Roster account for {0}; ask an Owner to create one (roster admin create), or to turn on Self-Service Sign-Up"
    )]
    NoAccount(String),
    /// A fault in Roster.
    #[error("sign-in failed inside Roster; the server log has the details")]
    Internal(#[from] DirectoryError),
}

/// A sign-in that left for the IdP.
struct Flow {
    provider: String,
    /// Empty for OAuth 2.0, which has no ID token to carry it.
    nonce: String,
    verifier: Zeroizing<String>,
    browser: [u8; 32],
    started: Instant,
}

/// The IdP's endpoints and keys, as last fetched.
struct Issuer {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks: JwkSet,
}

/// State of console SSO kept in memory.
#[derive(Default)]
pub struct SsoState {
    flows: Mutex<HashMap<String, Flow>>,
    issuers: Mutex<HashMap<String, Arc<Issuer>>>,
    http: std::sync::OnceLock<Arc<dyn SsoHttp>>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iat: Option<u64>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<Value>,
}

fn secret_context(id: &str) -> SealContext<'static> {
    SealContext {
        table: "meta",
        record: format!("{META_KEY}/{id}"),
        field: "client_secret",
    }
}

/// Where a provider's secret is bound (for key rotation and the check).
pub(crate) fn provider_secret_context(p: &SsoProvider) -> SealContext<'static> {
    secret_context(&p.id)
}

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

fn parse_domains(text: &str) -> Result<Vec<String>, DirectoryError> {
    let mut out: Vec<String> = Vec::new();
    for d in text
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        let d = d.trim_start_matches('@').to_ascii_lowercase();
        let ok = d.contains('.')
            && d.len() <= 253
            && d.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return Err(invalid(format!("{d:?} is not a domain name")));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "list at least one allowed domain (for example example.com)",
        ));
    }
    Ok(out)
}

fn parse_issuer(text: &str) -> Result<String, DirectoryError> {
    let t = text.trim().trim_end_matches('/');
    let ok = (t.starts_with("https://") || t.starts_with("http://"))
        && t.len() > 8
        && !t.contains(char::is_whitespace)
        && !t.contains(['?', '#']);
    if ok {
        Ok(t.to_string())
    } else {
        Err(invalid(
            "the issuer is the IdP's https:// URL (its discovery document is at <issuer>/.well-known/openid-configuration)",
        ))
    }
}

/// An OAuth 2.0 endpoint the admin typed.
fn parse_endpoint(text: &str, what: &str) -> Result<String, DirectoryError> {
    let t = text.trim();
    let ok = (t.starts_with("https://") || t.starts_with("http://"))
        && t.len() > 8
        && t.len() <= 2048
        && !t.contains(char::is_whitespace)
        && !t.contains('#');
    if ok {
        Ok(t.to_string())
    } else {
        Err(invalid(format!(
            "the {what} is the identity provider's https:// URL for it"
        )))
    }
}

fn parse_email_claim(text: &str) -> Result<String, DirectoryError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(default_email_claim());
    }
    let ok = t.len() <= 128
        && t.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-:".contains(&b))
        });
    if ok {
        Ok(t.to_string())
    } else {
        Err(invalid(
            "the Email Claim is a claim name such as email (a dotted path like profile.email reaches into objects)",
        ))
    }
}

/// `email_verified` as IdPs send it: absent means the IdP vouches for the
/// email by sending it; a string "true" is seen from some.
fn is_verified(claim: Option<&Value>) -> bool {
    match claim {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        Some(_) => false,
    }
}

fn str_field(doc: &Value, key: &str) -> Result<String, String> {
    doc[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the discovery document has no {key}"))
}

fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl SsoState {
    fn prune(flows: &mut HashMap<String, Flow>) {
        flows.retain(|_, f| f.started.elapsed() < FLOW_TTL);
        while flows.len() >= MAX_FLOWS {
            let Some(oldest) = flows
                .iter()
                .min_by_key(|(_, f)| f.started)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            flows.remove(&oldest);
        }
    }
}

impl Directory {
    /// Lets the directory reach identity providers (set once by the server).
    pub fn install_sso_http(&self, http: Arc<dyn SsoHttp>) {
        let _ = self.sso.http.set(http);
    }

    fn sso_http(&self) -> Result<&Arc<dyn SsoHttp>, SsoRefusal> {
        self.sso
            .http
            .get()
            .ok_or_else(|| SsoRefusal::Provider("sign-in runs in the server only".into()))
    }

    /// The configured providers (secrets stay sealed).
    pub fn sso_providers(&self) -> Result<Vec<SsoProvider>, DirectoryError> {
        let view = self.store.read()?;
        match view.meta_get(META_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| DirectoryError::Internal(format!("sso providers: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn sso_providers_put(
        tx: &mut crate::store::Tx,
        list: &[SsoProvider],
    ) -> Result<(), DirectoryError> {
        let bytes =
            serde_json::to_vec(list).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        tx.meta_put(META_KEY, &bytes)?;
        Ok(())
    }

    pub(crate) fn sso_providers_in(
        tx: &crate::store::Tx,
    ) -> Result<Vec<SsoProvider>, DirectoryError> {
        match tx.view().meta_get(META_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| DirectoryError::Internal(format!("sso providers: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// The URL the IdP sends the browser back to.
    pub fn sso_callback_url(&self) -> String {
        format!("{}/admin/sso/callback", self.public_base())
    }

    /// Adds (`id` None) or changes a provider.
    pub fn save_sso_provider(
        &self,
        id: Option<&str>,
        input: &SsoProviderInput,
        actor: &str,
    ) -> Result<SsoProvider, DirectoryError> {
        let message = input.sign_in_message.trim();
        if message.is_empty() || message.chars().count() > 80 {
            return Err(invalid("the Sign-In Message is 1-80 characters"));
        }
        let domains = parse_domains(&input.allowed_domains)?;
        let protocol = SsoProtocol::parse(&input.protocol)?;
        let mut scopes: Vec<&str> = input.scopes.split_whitespace().collect();
        let (issuer, authorization_url, token_url, userinfo_url, email_claim) = match protocol {
            SsoProtocol::Oidc => {
                if !scopes.contains(&"openid") {
                    scopes.insert(0, "openid");
                }
                if !scopes.contains(&"email") {
                    scopes.push("email");
                }
                let issuer = parse_issuer(&input.issuer)?;
                (
                    issuer,
                    String::new(),
                    String::new(),
                    String::new(),
                    default_email_claim(),
                )
            }
            SsoProtocol::OAuth => (
                String::new(),
                parse_endpoint(&input.authorization_url, "Authorization URL")?,
                parse_endpoint(&input.token_url, "Token URL")?,
                parse_endpoint(&input.userinfo_url, "Userinfo URL")?,
                parse_email_claim(&input.email_claim)?,
            ),
        };
        let client_id = input.client_id.trim();
        if client_id.is_empty() || client_id.len() > 256 {
            return Err(invalid("give the Client ID the IdP issued"));
        }
        if scopes.join(" ").len() > 1024 {
            return Err(invalid("the Scopes are at most 1024 characters"));
        }
        let endpoint = match protocol {
            SsoProtocol::Oidc => format!("issuer {issuer}"),
            SsoProtocol::OAuth => format!("authorization URL {authorization_url}"),
        };
        let keys = self.keys_read();
        let saved = self.store.write(|tx| {
            let mut list = Self::sso_providers_in(tx)?;
            let existing = id.and_then(|id| list.iter().position(|p| p.id == id));
            if id.is_some() && existing.is_none() {
                return Err(DirectoryError::NotFound("no such identity provider".into()));
            }
            let pid = id.map_or_else(|| format!("sso_{}", random_id()), str::to_string);
            let sealed = match (input.client_secret.trim(), existing) {
                ("", Some(i)) => list[i].sealed_client_secret.clone(),
                ("", None) => return Err(invalid("give the Client Secret the IdP issued")),
                (secret, _) => keys.ring.seal(&secret_context(&pid), secret.as_bytes())?,
            };
            let provider = SsoProvider {
                id: pid.clone(),
                protocol,
                sign_in_message: message.to_string(),
                allowed_domains: domains.clone(),
                self_signup: input.self_signup,
                issuer: issuer.clone(),
                authorization_url: authorization_url.clone(),
                token_url: token_url.clone(),
                userinfo_url: userinfo_url.clone(),
                email_claim: email_claim.clone(),
                client_id: client_id.to_string(),
                sealed_client_secret: sealed,
                scopes: scopes.join(" "),
                created: existing.map_or_else(crate::now_unix, |i| list[i].created),
            };
            match existing {
                Some(i) => list[i] = provider.clone(),
                None => list.push(provider.clone()),
            }
            Self::sso_providers_put(tx, &list)?;
            tx.append_audit(&audit_row(
                None,
                actor,
                if existing.is_some() {
                    "sso.updated"
                } else {
                    "sso.created"
                },
                Some(format!(
                    "{pid} ({message}) {} {endpoint}; domains {}; self-service sign-up {}",
                    protocol.label(),
                    domains.join(" "),
                    if input.self_signup { "on" } else { "off" }
                )),
            ))?;
            Ok(provider)
        })?;
        if saved.protocol == SsoProtocol::Oidc {
            self.sso
                .issuers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&saved.issuer);
        }
        Ok(saved)
    }

    /// Removes a provider.
    pub fn remove_sso_provider(&self, id: &str, actor: &str) -> Result<(), DirectoryError> {
        self.store.write(|tx| {
            let mut list = Self::sso_providers_in(tx)?;
            let before = list.len();
            list.retain(|p| p.id != id);
            if list.len() == before {
                return Err(DirectoryError::NotFound("no such identity provider".into()));
            }
            Self::sso_providers_put(tx, &list)?;
            tx.append_audit(&audit_row(None, actor, "sso.removed", Some(id.to_string())))?;
            Ok(())
        })
    }

    fn provider(&self, id: &str) -> Result<SsoProvider, SsoRefusal> {
        self.sso_providers()?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(SsoRefusal::State)
    }

    fn issuer(&self, issuer: &str, refresh: bool) -> Result<Arc<Issuer>, SsoRefusal> {
        if !refresh
            && let Some(i) = self
                .sso
                .issuers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(issuer)
        {
            return Ok(i.clone());
        }
        let http = self.sso_http()?;
        let doc = http
            .get_json(&format!("{issuer}/.well-known/openid-configuration"))
            .map_err(SsoRefusal::Provider)?;
        if doc["issuer"].as_str().map(|s| s.trim_end_matches('/')) != Some(issuer) {
            return Err(SsoRefusal::Provider(
                "the discovery document names another issuer".into(),
            ));
        }
        let jwks_uri = str_field(&doc, "jwks_uri").map_err(SsoRefusal::Provider)?;
        let jwks: JwkSet =
            serde_json::from_value(http.get_json(&jwks_uri).map_err(SsoRefusal::Provider)?)
                .map_err(|e| SsoRefusal::Provider(format!("the JWKS does not parse: {e}")))?;
        let fetched = Arc::new(Issuer {
            authorization_endpoint: str_field(&doc, "authorization_endpoint")
                .map_err(SsoRefusal::Provider)?,
            token_endpoint: str_field(&doc, "token_endpoint").map_err(SsoRefusal::Provider)?,
            jwks,
        });
        self.sso
            .issuers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(issuer.to_string(), fetched.clone());
        Ok(fetched)
    }

    /// Starts a sign-in: the IdP URL to send the browser to, and the value of
    /// the cookie that binds the flow to this browser.
    pub fn sso_begin(&self, provider_id: &str) -> Result<(String, Zeroizing<String>), SsoRefusal> {
        let provider = self.provider(provider_id)?;
        let authorization_endpoint = match provider.protocol {
            SsoProtocol::Oidc => self
                .issuer(&provider.issuer, false)?
                .authorization_endpoint
                .clone(),
            SsoProtocol::OAuth => provider.authorization_url.clone(),
        };
        let state = random_id();
        let nonce = match provider.protocol {
            SsoProtocol::Oidc => random_id(),
            SsoProtocol::OAuth => String::new(),
        };
        let verifier = generate_secret();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let browser = generate_secret();
        {
            let mut flows = self.sso.flows.lock().unwrap_or_else(|p| p.into_inner());
            SsoState::prune(&mut flows);
            flows.insert(
                state.clone(),
                Flow {
                    provider: provider.id.clone(),
                    nonce: nonce.clone(),
                    verifier: Zeroizing::new(verifier.to_string()),
                    browser: hash_token(&browser),
                    started: Instant::now(),
                },
            );
        }
        let callback = self.sso_callback_url();
        let sep = if authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", provider.client_id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("scope", provider.scopes.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if !nonce.is_empty() {
            params.push(("nonce", nonce.as_str()));
        }
        params.retain(|(_, v)| !v.is_empty());
        let url = format!("{authorization_endpoint}{sep}{}", query(&params));
        Ok((url, Zeroizing::new(browser.to_string())))
    }

    /// Finishes a sign-in the IdP sent back: checks everything, finds or
    /// (with Self-Service Sign-Up) creates the account, and opens a session.
    pub fn sso_complete(
        &self,
        state: &str,
        code: &str,
        browser: &str,
        remote: Option<String>,
    ) -> Result<(String, NewSession), SsoRefusal> {
        // A state is spent on first use, whatever follows.
        let flow = self
            .sso
            .flows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .ok_or(SsoRefusal::State)?;
        let result = self.sso_verify(&flow, code, browser);
        let actor = "sso";
        match result {
            Ok((provider, email)) => {
                let username = self.sso_account(&provider, &email)?;
                let session =
                    self.create_session(&username, &format!("sso:{}", provider.id), remote)?;
                Ok((username, session))
            }
            Err(refusal) => {
                let _ = self.audit(audit_row(
                    None,
                    actor,
                    "admin.login_failed",
                    Some(format!("sso {}: {refusal}", flow.provider)),
                ));
                Err(refusal)
            }
        }
    }

    fn sso_verify(
        &self,
        flow: &Flow,
        code: &str,
        browser: &str,
    ) -> Result<(SsoProvider, String), SsoRefusal> {
        if flow.started.elapsed() >= FLOW_TTL
            || !crate::crypto::token::ct_eq(&flow.browser, &hash_token(browser))
        {
            return Err(SsoRefusal::State);
        }
        let provider = self.provider(&flow.provider)?;
        let issuer = match provider.protocol {
            SsoProtocol::Oidc => Some(self.issuer(&provider.issuer, false)?),
            SsoProtocol::OAuth => None,
        };
        let token_endpoint = match &issuer {
            Some(i) => i.token_endpoint.clone(),
            None => provider.token_url.clone(),
        };
        let secret = {
            let plain = self
                .keys_read()
                .ring
                .open(
                    &provider_secret_context(&provider),
                    &provider.sealed_client_secret,
                )
                .map_err(DirectoryError::from)?;
            Zeroizing::new(String::from_utf8_lossy(&plain).into_owned())
        };
        let callback = self.sso_callback_url();
        let (status, answer) = self
            .sso_http()?
            .post_form(
                &token_endpoint,
                (&provider.client_id, &secret),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &callback),
                    ("code_verifier", &flow.verifier),
                ],
            )
            .map_err(SsoRefusal::Provider)?;
        if status != 200 {
            let why = answer["error"].as_str().unwrap_or("no error code");
            return Err(SsoRefusal::Provider(format!(
                "the token endpoint answered {status} ({why})"
            )));
        }
        let (subject, email, verified) = match &issuer {
            Some(issuer) => {
                let id_token = answer["id_token"].as_str().ok_or_else(|| {
                    SsoRefusal::Provider("no id_token in the token answer".into())
                })?;
                let claims = self.verify_id_token(&provider, issuer, id_token)?;
                if claims.nonce.as_deref() != Some(flow.nonce.as_str()) {
                    return Err(SsoRefusal::Token("nonce mismatch".into()));
                }
                let verified = is_verified(claims.email_verified.as_ref());
                (claims.sub, claims.email, verified)
            }
            None => self.oauth_userinfo(&provider, &answer)?,
        };
        let email = email
            .as_deref()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                SsoRefusal::Email(format!("the identity provider sent no email for {subject}"))
            })?;
        if !email.contains('@') {
            return Err(SsoRefusal::Email(format!(
                "the identity provider's {} claim is not an email address",
                provider.email_claim
            )));
        }
        if !verified {
            return Err(SsoRefusal::Email(format!(
                "the identity provider has not verified {email}"
            )));
        }
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !provider.allowed_domains.iter().any(|d| d == domain) {
            return Err(SsoRefusal::Email(format!(
                "{email} is not in a domain allowed to sign in through {}",
                provider.sign_in_message
            )));
        }
        Ok((provider, email))
    }

    /// OAuth 2.0: the subject, email and whether it is verified, from the
    /// userinfo URL asked with the access token the code was exchanged for.
    fn oauth_userinfo(
        &self,
        provider: &SsoProvider,
        answer: &Value,
    ) -> Result<(String, Option<String>, bool), SsoRefusal> {
        let token = answer["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SsoRefusal::Provider("no access_token in the token answer".into()))?;
        // RFC 6749 §7.1: only a bearer token can be sent as one (absent: assumed bearer).
        if let Some(kind) = answer["token_type"].as_str()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(SsoRefusal::Provider(format!(
                "the token endpoint issued a {kind:?} token, not a bearer token"
            )));
        }
        let (status, info) = self
            .sso_http()?
            .get_json_bearer(&provider.userinfo_url, token)
            .map_err(SsoRefusal::Provider)?;
        if status != 200 {
            return Err(SsoRefusal::Provider(format!(
                "the userinfo URL answered {status}"
            )));
        }
        let mut claim = &info;
        for part in provider.email_claim.split('.') {
            claim = &claim[part];
        }
        let email = claim.as_str().map(str::to_string);
        let subject = match &info["sub"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => match &info["id"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => "this account".into(),
            },
        };
        Ok((subject, email, is_verified(info.get("email_verified"))))
    }

    fn verify_id_token(
        &self,
        provider: &SsoProvider,
        issuer: &Issuer,
        token: &str,
    ) -> Result<Claims, SsoRefusal> {
        let bad = |e: jsonwebtoken::errors::Error| SsoRefusal::Token(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(bad)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(SsoRefusal::Token(format!(
                "signing algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let find = |set: &JwkSet| {
            if kid.is_empty() && set.keys.len() == 1 {
                set.keys.first().cloned()
            } else {
                set.find(&kid).cloned()
            }
        };
        let jwk = match find(&issuer.jwks) {
            Some(k) => k,
            // A key the cache does not know: the IdP may have rotated; fetch once more.
            None => {
                let fresh = self.issuer(&provider.issuer, true)?;
                find(&fresh.jwks).ok_or_else(|| {
                    SsoRefusal::Token(format!("no key {kid:?} in the issuer's JWKS"))
                })?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(bad)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[provider.issuer.as_str(), &format!("{}/", provider.issuer)]);
        validation.set_audience(&[provider.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(bad)?;
        let now = u64::try_from(crate::now_unix()).unwrap_or_default();
        if data.claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECS) {
            return Err(SsoRefusal::Token("issued in the future".into()));
        }
        Ok(data.claims)
    }

    /// The account an SSO email signs in to, created as a Viewer with
    /// Self-Service Sign-Up.
    fn sso_account(&self, provider: &SsoProvider, email: &str) -> Result<String, SsoRefusal> {
        if self.admin_role(email)?.is_some() {
            return Ok(email.to_string());
        }
        if !provider.self_signup {
            let _ = self.audit(audit_row(
                None,
                "sso",
                "admin.login_failed",
                Some(format!("sso {}: no account for {email}", provider.id)),
            ));
            return Err(SsoRefusal::NoAccount(email.to_string()));
        }
        super::admins::validate_username(email)
            .map_err(|_| SsoRefusal::Email(format!("{email} cannot be a Roster username")))?;
        self.create_sso_admin(
            email,
            AdminRole::Viewer,
            &format!("sso:{}", provider.id),
            true,
        )?;
        Ok(email.to_string())
    }
}
