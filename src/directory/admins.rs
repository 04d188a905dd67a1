//! Console administrators and their sessions.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::{Directory, DirectoryError, audit_row};
use crate::crypto::password::{hash_password, verify_password};
use crate::crypto::token::{ct_eq, generate_secret, hash_token, random_id};
pub use crate::store::records::AdminRole;
use crate::store::records::{AdminRecord, SessionRecord};

/// Sessions end after this long without use.
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// Sessions end this long after login, whatever the use.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// Shortest admin password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

fn session_hash(id: &str) -> [u8; 32] {
    hash_token(id)
}

/// Checks an admin username: 1-64 of a-z, 0-9, `.`, `_`, `-`, `@`.
pub fn validate_username(name: &str) -> Result<(), DirectoryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DirectoryError::Invalid(
            "the username must be 1-64 lowercase letters, digits or . _ - @".into(),
        ))
    }
}

/// Checks an admin password's length.
pub fn validate_password(password: &str) -> Result<(), DirectoryError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(DirectoryError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(DirectoryError::Invalid("the password is too long".into()));
    }
    Ok(())
}

/// A logged-in session: its cookie value (secret) and form token.
pub struct NewSession {
    /// The cookie value; only its hash is stored.
    pub id: Zeroizing<String>,
    /// The CSRF token of the session.
    pub csrf: String,
}

/// A console admin as the console and CLI list them.
#[derive(Clone, Debug)]
pub struct AdminSummary {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: AdminRole,
    /// Whether the account has a password (else it signs in only by SSO).
    pub password: bool,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// The last successful sign-in (Unix seconds).
    pub last_sign_in: Option<i64>,
    /// How it was made (`password` or `sso:<provider>`).
    pub sign_in_method: Option<String>,
}

impl Directory {
    /// Whether any console admin exists (first-run setup otherwise).
    pub fn has_admins(&self) -> Result<bool, DirectoryError> {
        Ok(self.store.read()?.admin_count()? > 0)
    }

    /// Creates an admin; fails if the username is taken. Without a role the
    /// first admin is an Owner and later ones are Admins. Returns the role given.
    pub fn create_admin(
        &self,
        username: &str,
        password: &str,
        role: Option<AdminRole>,
        actor: &str,
    ) -> Result<AdminRole, DirectoryError> {
        validate_username(username)?;
        validate_password(password)?;
        let hash = hash_password(password)?;
        self.store.write(|tx| {
            if tx.view().admin(username)?.is_some() {
                return Err(DirectoryError::Conflict(format!(
                    "admin {username:?} already exists"
                )));
            }
            let role = match role {
                Some(r) => r,
                None if tx.view().admin_count()? == 0 => AdminRole::Owner,
                None => AdminRole::Admin,
            };
            let now = crate::now_unix();
            tx.put_admin(&AdminRecord {
                username: username.to_string(),
                password_hash: hash.clone(),
                created: now,
                password_changed: now,
                role,
                last_sign_in: None,
                sign_in_method: None,
            })?;
            tx.append_audit(&audit_row(
                None,
                actor,
                "admin.created",
                Some(format!("{username} as {}", role.as_str())),
            ))?;
            Ok(role)
        })
    }

    /// Creates an account that signs in only by SSO (no password): invited
    /// ahead of a first sign-in, or made by Self-Service Sign-Up.
    pub fn create_sso_admin(
        &self,
        username: &str,
        role: AdminRole,
        actor: &str,
        self_signup: bool,
    ) -> Result<(), DirectoryError> {
        validate_username(username)?;
        if !self_signup && !is_email(username) {
            return Err(DirectoryError::Invalid(format!(
                "{username:?} is not an email address: single sign-on accounts are named by the email the identity provider sends"
            )));
        }
        self.store.write(|tx| {
            if tx.view().admin(username)?.is_some() {
                return Err(DirectoryError::Conflict(format!(
                    "admin {username:?} already exists"
                )));
            }
            let now = crate::now_unix();
            tx.put_admin(&AdminRecord {
                username: username.to_string(),
                password_hash: String::new(),
                created: now,
                password_changed: now,
                role,
                last_sign_in: None,
                sign_in_method: None,
            })?;
            let (action, how) = if self_signup {
                ("admin.created", "self-service sign-up")
            } else {
                ("admin.invited", "signs in by single sign-on")
            };
            tx.append_audit(&audit_row(
                None,
                actor,
                action,
                Some(format!("{username} as {} ({how})", role.as_str())),
            ))?;
            Ok(())
        })
    }

    /// Every console admin (their password hashes stay inside the directory).
    pub fn admins(&self) -> Result<Vec<AdminSummary>, DirectoryError> {
        Ok(self
            .store
            .read()?
            .admins()?
            .into_iter()
            .map(|a| AdminSummary {
                password: !a.password_hash.is_empty(),
                username: a.username,
                role: a.role,
                created: a.created,
                last_sign_in: a.last_sign_in,
                sign_in_method: a.sign_in_method,
            })
            .collect())
    }

    /// The role of an admin, if the account exists.
    pub fn admin_role(&self, username: &str) -> Result<Option<AdminRole>, DirectoryError> {
        Ok(self.store.read()?.admin(username)?.map(|a| a.role))
    }

    /// Changes an admin's role; the last Owner cannot be demoted.
    pub fn set_admin_role(
        &self,
        username: &str,
        role: AdminRole,
        actor: &str,
    ) -> Result<(), DirectoryError> {
        self.store.write(|tx| {
            let view = tx.view();
            let mut admin = view
                .admin(username)?
                .ok_or_else(|| DirectoryError::NotFound(format!("no admin {username:?}")))?;
            if admin.role == role {
                return Ok(());
            }
            let owners = view
                .admins()?
                .iter()
                .filter(|a| a.role == AdminRole::Owner)
                .count();
            if admin.role == AdminRole::Owner && owners <= 1 {
                return Err(DirectoryError::Conflict(format!(
                    "{username} is the only Owner: make another admin an Owner first"
                )));
            }
            let before = admin.role;
            admin.role = role;
            tx.put_admin(&admin)?;
            tx.append_audit(&audit_row(
                None,
                actor,
                "admin.role_changed",
                Some(format!(
                    "{username}: {} -> {}",
                    before.as_str(),
                    role.as_str()
                )),
            ))?;
            Ok(())
        })
    }

    /// Sets a new password and ends the admin's sessions.
    pub fn reset_admin_password(
        &self,
        username: &str,
        password: &str,
        actor: &str,
    ) -> Result<(), DirectoryError> {
        validate_password(password)?;
        let hash = hash_password(password)?;
        self.store.write(|tx| {
            let mut admin = tx
                .view()
                .admin(username)?
                .ok_or_else(|| DirectoryError::NotFound(format!("no admin {username:?}")))?;
            admin.password_hash = hash.clone();
            admin.password_changed = crate::now_unix();
            tx.put_admin(&admin)?;
            let ended = tx.delete_sessions_where(|s| s.admin == username)?;
            tx.append_audit(&audit_row(
                None,
                actor,
                "admin.password_reset",
                Some(format!("{username}; {ended} session(s) ended")),
            ))?;
            Ok(())
        })
    }

    /// Checks a login; unknown names cost the same as wrong passwords.
    pub fn verify_admin(&self, username: &str, password: &str) -> Result<bool, DirectoryError> {
        let admin = self.store.read()?.admin(username)?;
        Ok(match admin {
            Some(a) if !a.password_hash.is_empty() => verify_password(password, &a.password_hash),
            Some(_) => {
                // SSO-only account: no password opens it.
                let _ = verify_password(password, dummy_hash());
                false
            }
            None => {
                // Equalise timing with a real verification.
                let _ = verify_password(password, dummy_hash());
                false
            }
        })
    }

    /// Starts a session for an admin (a fresh id at every login: no fixation).
    pub fn create_session(
        &self,
        username: &str,
        method: &str,
        remote: Option<String>,
    ) -> Result<NewSession, DirectoryError> {
        let id = generate_secret();
        let csrf = random_id();
        let now = crate::now_unix();
        let record = SessionRecord {
            admin: username.to_string(),
            created: now,
            last_seen: now,
            csrf: csrf.clone(),
        };
        self.store.write(|tx| {
            tx.delete_sessions_where(|s| {
                now - s.last_seen > IDLE_TIMEOUT_SECS || now - s.created > ABSOLUTE_TIMEOUT_SECS
            })?;
            tx.put_session(&session_hash(&id), &record)?;
            if let Some(mut admin) = tx.view().admin(username)? {
                admin.last_sign_in = Some(now);
                admin.sign_in_method = Some(method.to_string());
                tx.put_admin(&admin)?;
            }
            let mut row = audit_row(
                None,
                &format!("admin:{username}"),
                "admin.login",
                Some(format!("by {method}")),
            );
            row.remote = remote.clone();
            tx.append_audit(&row)?;
            Ok::<_, DirectoryError>(())
        })?;
        Ok(NewSession { id, csrf })
    }

    /// The live session for a cookie value; refreshes its idle timer.
    pub fn session(&self, id: &str) -> Result<Option<SessionRecord>, DirectoryError> {
        let hash = session_hash(id);
        let Some(session) = self.store.read()?.session(&hash)? else {
            return Ok(None);
        };
        let now = crate::now_unix();
        let expired = now - session.last_seen > IDLE_TIMEOUT_SECS
            || now - session.created > ABSOLUTE_TIMEOUT_SECS;
        let admin_gone = self
            .store
            .read()?
            .admin(&session.admin)?
            .is_none_or(|a| a.password_changed > session.created);
        if expired || admin_gone {
            self.store.write(|tx| tx.delete_session(&hash))?;
            return Ok(None);
        }
        if now - session.last_seen >= 60 {
            let mut fresh = session.clone();
            fresh.last_seen = now;
            // Not fsynced: losing a last-seen refresh in a crash only shortens a session.
            self.store.write(|tx| tx.put_session(&hash, &fresh))?;
        }
        Ok(Some(session))
    }

    /// Ends a session.
    pub fn delete_session(&self, id: &str) -> Result<(), DirectoryError> {
        self.store
            .write(|tx| tx.delete_session(&session_hash(id)))?;
        Ok(())
    }
}

/// A real argon2id hash of a random string, verified against for unknown usernames.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&generate_secret()).unwrap_or_default())
}

/// How long the first-run setup link works.
pub const SETUP_TTL: Duration = Duration::from_secs(60 * 60);

/// The one-time first-run setup token (only while no admin exists).
#[derive(Default)]
pub struct SetupToken(pub Mutex<Option<(String, Instant)>>);

impl SetupToken {
    /// Issues a new token.
    pub fn issue(&self) -> String {
        let token = generate_secret().to_string();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((token.clone(), Instant::now()));
        token
    }

    /// Whether `candidate` is the live token.
    pub fn valid(&self, candidate: &str) -> bool {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().is_some_and(|(t, at)| {
            at.elapsed() < SETUP_TTL && ct_eq(t.as_bytes(), candidate.as_bytes())
        })
    }

    /// Ends the token (after the first admin is created).
    pub fn consume(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// An address of the shape `local@domain.tld` (what an IdP sends as email).
fn is_email(text: &str) -> bool {
    text.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    })
}
