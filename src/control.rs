//! Management commands and the control socket they travel over.
//!
//! While `roster serve` runs on a data dir it holds the store's lock, so the
//! CLI sends its command as one JSON line to `<data_dir>/roster.sock` (mode
//! 0600: access to the socket is the authorisation) and prints the reply.
//! With no server it opens the store itself. Both paths call `execute`, so
//! output and exit codes are the same either way.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::config::Config;
use crate::directory::{DekState, Directory, DirectoryError};

/// Longest accepted request line on the socket.
const MAX_REQUEST: u64 = 64 * 1024;
/// Actor recorded in audit rows for CLI actions.
const ACTOR: &str = "cli";

/// A management command: parsed by clap from the command line (the CLI fills
/// in what it reads from stdin or a file) and sent over the socket as is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Command {
    /// `roster tenant ...`
    Tenant(TenantCommand),
    /// `roster scim ...`
    Scim(ScimCommand),
    /// `roster token ...`
    Token(TokenCommand),
    /// `roster app ...`
    App(AppCommand),
    /// `roster webhook ...`
    Webhook(WebhookCommand),
    /// `roster role ...`
    Role(RoleCommand),
    /// `roster schema ...`
    Schema(SchemaCommand),
    /// `roster keys ...`
    Keys(KeysCommand),
    /// `roster admin ...`
    Admin(AdminCommand),
    /// Check that every record decodes and every sealed secret opens.
    Check,
    /// Write an online backup of the store.
    Backup {
        /// Output file (absolute: the server may run in another directory).
        out: PathBuf,
    },
    /// Show the audit log.
    Audit(AuditArgs),
    /// Show a tenant's change feed.
    Events(EventsArgs),
}

/// `roster tenant ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum TenantCommand {
    /// Create a tenant; prints its id and slug.
    Create {
        /// Display name, e.g. "Acme HR".
        #[arg(long)]
        name: String,
        /// URL slug (derived from the name when omitted).
        #[arg(long)]
        slug: Option<String>,
        /// Identity provider: okta, entra, jumpcloud, onelogin or generic.
        #[arg(long)]
        idp: Option<String>,
    },
    /// List tenants with SCIM status and user/group counts.
    List,
    /// Show one tenant.
    Show {
        /// Tenant slug.
        slug: String,
    },
    /// Change a tenant's display name (the slug stays).
    Rename {
        /// Tenant slug.
        slug: String,
        /// New display name.
        #[arg(long)]
        name: String,
    },
    /// Change a tenant's settings.
    Set {
        /// Tenant slug.
        slug: String,
        /// Identity provider profile: okta, entra, jumpcloud, onelogin, generic or auto.
        #[arg(long)]
        idp: Option<String>,
        /// What SCIM DELETE does: soft (tombstone, revivable) or hard.
        #[arg(long)]
        delete_policy: Option<String>,
        /// Unknown member ids in group writes: skip (and report) or reject (400).
        #[arg(long)]
        unknown_members: Option<String>,
    },
    /// Delete a tenant and all its users, groups and credentials.
    Delete {
        /// Tenant slug.
        slug: String,
    },
}

/// `roster scim ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ScimCommand {
    /// Serve SCIM requests for the tenant.
    Activate {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Refuse SCIM requests for the tenant (credentials are kept).
    Deactivate {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Show the SCIM endpoint, client id and (with --reveal) secret.
    Credentials {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Print the secret (audited).
        #[arg(long)]
        reveal: bool,
    },
    /// Replace the basic-auth secret with one read from standard input.
    SetSecret {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The new secret: read from stdin by the CLI, travels only over the 0600 socket.
        #[arg(skip)]
        secret: String,
    },
}

/// `roster token ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum TokenCommand {
    /// Generate a bearer token and print only the token; older tokens stop working.
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Minutes the previous token keeps working (default 0: it stops now).
        #[arg(long, value_name = "M", default_value_t = 0.0)]
        grace_minutes: f64,
    },
    /// List a tenant's tokens (hints and expiry, never the tokens).
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
}

/// `roster app ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum AppCommand {
    /// Register an API client; prints its client id and secret (shown once).
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// A name for the application.
        #[arg(long)]
        name: String,
        /// Scopes it may ask for, comma-separated.
        #[arg(long, default_value = "directory:read,events:read")]
        scopes: String,
    },
    /// List a tenant's API clients (never their secrets).
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Give a client a new secret; the old one stops now or after the grace period.
    Rotate {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The client id (rc_...).
        #[arg(long)]
        client_id: String,
        /// Minutes the old secret keeps working (default 0: it stops now).
        #[arg(long, value_name = "M", default_value_t = 0.0)]
        grace_minutes: f64,
    },
    /// Remove a client; its access tokens stop at once.
    Revoke {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The client id (rc_...).
        #[arg(long)]
        client_id: String,
    },
}

/// `roster role ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum RoleCommand {
    /// Attach a permission to a group (by displayName or id).
    Grant {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The group's displayName or id.
        #[arg(long)]
        group: String,
        /// The permission string, e.g. billing:read.
        #[arg(long)]
        permission: String,
    },
    /// Detach a permission from a group.
    Revoke {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The group's displayName or id.
        #[arg(long)]
        group: String,
        /// The permission string.
        #[arg(long)]
        permission: String,
    },
    /// List the groups that carry permissions.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
}

/// `roster schema ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum SchemaCommand {
    /// Register an extension schema (RFC 7643 section 7 JSON) for users or groups.
    Add {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// File holding the schema JSON (with "id" and "attributes").
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The schema document, read from `file` by the CLI.
        #[arg(skip)]
        schema: serde_json::Value,
        /// Resource type it extends: user or group.
        #[arg(long, default_value = "user")]
        applies_to: String,
    },
    /// List a tenant's extension schemas.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Unregister an extension schema (values already stored are kept).
    Remove {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Schema URN.
        #[arg(long)]
        id: String,
    },
}

/// `roster keys ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum KeysCommand {
    /// New data key; re-encrypt every stored secret; retire the old key.
    Rotate,
    /// Re-wrap the data keys under the master key in FILE.
    RotateMaster {
        /// File holding the new master key (32 bytes, base64 or hex; mode 0600).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Show the data keys and how many secrets each seals.
    Status,
}

/// `roster admin ...`
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum AdminCommand {
    /// Create a console admin; the password is read from standard input.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// owner, admin or viewer (default: owner for the first admin, admin after).
        #[arg(long)]
        role: Option<String>,
        /// Read from stdin by the CLI; travels only over the 0600 socket.
        #[arg(skip)]
        password: String,
    },
    /// Set a new password (read from standard input) and end the admin's sessions.
    ResetPassword {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read from stdin by the CLI; travels only over the 0600 socket.
        #[arg(skip)]
        password: String,
    },
    /// Invite an admin who signs in only through single sign-on (no password).
    Invite {
        /// Login name: the email the identity provider sends.
        #[arg(long)]
        username: String,
        /// owner, admin or viewer (default: viewer).
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Change an admin's role (owner, admin or viewer); the last owner stays one.
    SetRole {
        /// Login name.
        #[arg(long)]
        username: String,
        /// owner, admin or viewer.
        #[arg(long)]
        role: String,
    },
    /// List the console admins, their roles and last sign-in.
    List,
}

/// Flags of `audit`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct AuditArgs {
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Flags of `events`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct EventsArgs {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `roster webhook ...`: parsed by clap and sent over the socket as is.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum WebhookCommand {
    /// Add an endpoint; prints its id and signing secret (shown once).
    Add {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Where events are POSTed (https://...).
        #[arg(long)]
        url: String,
        /// Event types, comma-separated (default: all).
        #[arg(long, default_value = "")]
        events: String,
    },
    /// List a tenant's endpoints with their delivery state.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Remove an endpoint and its delivery log.
    Remove {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Endpoint id (wh_...).
        #[arg(long)]
        id: String,
    },
    /// Resume deliveries (also after an automatic disable).
    Enable {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Endpoint id (wh_...).
        #[arg(long)]
        id: String,
    },
    /// Pause deliveries; events wait and go out once enabled again.
    Disable {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Endpoint id (wh_...).
        #[arg(long)]
        id: String,
    },
    /// Try the pending event now: clears the failure count and any backoff.
    Retry {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Endpoint id (wh_...).
        #[arg(long)]
        id: String,
    },
    /// Send a signed webhook.test message now (needs the running server).
    Test {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Endpoint id (wh_...).
        #[arg(long)]
        id: String,
    },
    /// Show the newest delivery attempts.
    Deliveries {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Endpoint id (wh_...).
        #[arg(long)]
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// One line of an endpoint's state.
fn webhook_state(hook: &crate::directory::webhooks::WebhookRecord) -> String {
    match (&hook.disabled_reason, hook.enabled, hook.failures) {
        (Some(reason), false, _) => format!("disabled: {reason}"),
        (None, false, _) => "disabled".into(),
        (_, true, 0) => "enabled".into(),
        (_, true, n) => format!(
            "enabled, {n} failed attempt(s), next at {}",
            crate::format_time(hook.next_attempt_ms / 1000)
        ),
    }
}

fn run_webhook(dir: &Directory, cmd: WebhookCommand) -> Result<Reply, DirectoryError> {
    use std::fmt::Write as _;
    let mut out = String::new();
    match cmd {
        WebhookCommand::Add {
            tenant,
            url,
            events,
        } => {
            let new = dir.create_webhook(&tenant, &url, &events, ACTOR)?;
            return Ok(Reply {
                code: 0,
                stdout: format!("id: {}\nsecret: {}\n", new.record.id, new.secret.as_str()),
                stderr: "roster: store the signing secret now: it will not be shown again\n".into(),
            });
        }
        WebhookCommand::List { tenant } => {
            let _ = writeln!(
                out,
                "{:<26} {:<8} {:<40} {:<28} STATE",
                "ID", "CURSOR", "URL", "EVENTS"
            );
            for hook in dir.webhooks(&tenant)? {
                let events = if hook.event_types.is_empty() {
                    "all".to_string()
                } else {
                    hook.event_types.join(",")
                };
                let _ = writeln!(
                    out,
                    "{:<26} {:<8} {:<40} {:<28} {}",
                    hook.id,
                    crate::directory::events::event_cursor(hook.cursor),
                    hook.url,
                    events,
                    webhook_state(&hook)
                );
            }
        }
        WebhookCommand::Remove { tenant, id } => {
            dir.remove_webhook(&tenant, &id, ACTOR)?;
            let _ = writeln!(out, "removed webhook endpoint {id}");
        }
        WebhookCommand::Enable { tenant, id } | WebhookCommand::Retry { tenant, id } => {
            let hook = dir.set_webhook_enabled(&tenant, &id, true, ACTOR)?;
            let _ = writeln!(
                out,
                "{}: {}; pending events go out now",
                hook.id,
                webhook_state(&hook)
            );
        }
        WebhookCommand::Disable { tenant, id } => {
            let hook = dir.set_webhook_enabled(&tenant, &id, false, ACTOR)?;
            let _ = writeln!(out, "{}: {}", hook.id, webhook_state(&hook));
        }
        WebhookCommand::Test { tenant, id } => {
            let d = dir.send_test_webhook(&tenant, &id, ACTOR)?;
            let answer = d
                .status
                .map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"));
            let line = format!(
                "{} {answer} in {} ms: {}",
                d.message, d.latency_ms, d.excerpt
            );
            if !d.ok {
                return Ok(Reply {
                    code: 1,
                    stdout: String::new(),
                    stderr: format!("roster: test event not accepted: {line}\n"),
                });
            }
            let _ = writeln!(out, "{line}");
        }
        WebhookCommand::Deliveries { tenant, id, limit } => {
            let _ = writeln!(
                out,
                "{:<22} {:<26} {:<22} {:>3} {:>6} {:>7}  ANSWER",
                "TIME", "MESSAGE", "TYPE", "TRY", "STATUS", "MS"
            );
            for d in dir.webhook_deliveries(&tenant, &id, limit.clamp(1, 1000))? {
                let _ = writeln!(
                    out,
                    "{:<22} {:<26} {:<22} {:>3} {:>6} {:>7}  {}",
                    crate::format_time(d.ts_ms / 1000),
                    d.message,
                    d.event_type,
                    d.attempt,
                    d.status.map_or_else(|| "-".to_string(), |s| s.to_string()),
                    d.latency_ms,
                    d.excerpt
                );
            }
        }
    }
    Ok(Reply::ok(out))
}

/// What a command printed and its exit code.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    /// Exit code.
    pub code: i32,
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
}

impl Reply {
    fn ok(stdout: String) -> Reply {
        Reply {
            code: 0,
            stdout,
            stderr: String::new(),
        }
    }

    fn error(e: &DirectoryError) -> Reply {
        let code = match e {
            DirectoryError::NotFound(_) => 3,
            DirectoryError::Conflict(_) => 4,
            _ => 1,
        };
        Reply {
            code,
            stdout: String::new(),
            stderr: format!("roster: {e}\n"),
        }
    }
}

fn yes_no(active: bool) -> &'static str {
    if active { "active" } else { "inactive" }
}

/// Runs a command against an open directory.
pub fn execute(dir: &Directory, cmd: Command) -> Reply {
    match run(dir, cmd) {
        Ok(reply) => reply,
        Err(e) => Reply::error(&e),
    }
}

fn run(dir: &Directory, cmd: Command) -> Result<Reply, DirectoryError> {
    use std::fmt::Write as _;
    let mut out = String::new();
    match cmd {
        Command::Tenant(TenantCommand::Create { name, slug, idp }) => {
            let idp = idp.as_deref().map(str::parse).transpose();
            let t = dir.create_tenant(
                &name,
                slug.as_deref(),
                idp.map_err(DirectoryError::Invalid)?,
                ACTOR,
            )?;
            let _ = writeln!(out, "id: {}\nslug: {}", t.id, t.slug);
            let _ = writeln!(
                out,
                "name: {}\nidp: {}\nscim: {}",
                t.name,
                t.idp,
                yes_no(t.scim_active)
            );
            let _ = writeln!(out, "scim endpoint: {}", dir.scim_endpoint(&t.slug));
        }
        Command::Webhook(cmd) => return run_webhook(dir, cmd),
        Command::Tenant(TenantCommand::List) => {
            let _ = writeln!(
                out,
                "{:<6} {:<24} {:<10} {:<9} {:>7} {:>7}  NAME",
                "ID", "SLUG", "IDP", "SCIM", "USERS", "GROUPS"
            );
            for s in dir.list_tenants()? {
                let t = &s.tenant;
                let _ = writeln!(
                    out,
                    "{:<6} {:<24} {:<10} {:<9} {:>7} {:>7}  {}",
                    t.id,
                    t.slug,
                    t.idp,
                    yes_no(t.scim_active),
                    s.users,
                    s.groups,
                    t.name
                );
            }
        }
        Command::Tenant(TenantCommand::Show { slug }) => {
            let s = dir.tenant_summary(&slug)?;
            let t = &s.tenant;
            let _ = writeln!(out, "id: {}\nslug: {}\nname: {}", t.id, t.slug, t.name);
            let _ = writeln!(out, "idp: {}\nscim: {}", t.idp, yes_no(t.scim_active));
            let _ = writeln!(out, "scim endpoint: {}", dir.scim_endpoint(&t.slug));
            let _ = writeln!(out, "delete policy: {}", t.delete_policy);
            let _ = writeln!(out, "unknown members: {}", t.unknown_members);
            let _ = writeln!(out, "users: {}\ngroups: {}", s.users, s.groups);
            let _ = writeln!(out, "created: {}", crate::format_time(t.created));
        }
        Command::Tenant(TenantCommand::Rename { slug, name }) => {
            let t = dir.rename_tenant(&slug, &name, ACTOR)?;
            let _ = writeln!(out, "renamed tenant {} to {:?}", t.slug, t.name);
        }
        Command::Tenant(TenantCommand::Set {
            slug,
            idp,
            delete_policy,
            unknown_members,
        }) => {
            let idp = idp.as_deref().map(str::parse).transpose();
            let delete_policy = delete_policy.as_deref().map(str::parse).transpose();
            let unknown_members = unknown_members.as_deref().map(str::parse).transpose();
            let t = dir.update_tenant_settings(
                &slug,
                idp.map_err(DirectoryError::Invalid)?,
                delete_policy.map_err(DirectoryError::Invalid)?,
                unknown_members.map_err(DirectoryError::Invalid)?,
                ACTOR,
            )?;
            let _ = writeln!(
                out,
                "tenant {}: idp {}, delete policy {}, unknown members {}",
                t.slug, t.idp, t.delete_policy, t.unknown_members
            );
        }
        Command::Events(EventsArgs {
            tenant,
            after,
            limit,
        }) => {
            for e in dir.events(&tenant, after, limit)? {
                let _ = writeln!(
                    out,
                    "{} {} {} {} {} v{}{}",
                    e.seq,
                    crate::format_time(e.ts_ms / 1000),
                    e.resource_type,
                    e.id,
                    e.action,
                    e.version,
                    e.member.map(|m| format!(" member {m}")).unwrap_or_default()
                );
            }
        }
        Command::Tenant(TenantCommand::Delete { slug }) => {
            let t = dir.delete_tenant(&slug, ACTOR)?;
            let _ = writeln!(out, "deleted tenant {} (id {})", t.slug, t.id);
        }
        Command::Scim(
            ScimCommand::Activate { ref tenant } | ScimCommand::Deactivate { ref tenant },
        ) => {
            let active = matches!(cmd, Command::Scim(ScimCommand::Activate { .. }));
            let t = dir.set_scim_active(tenant, active, ACTOR)?;
            let _ = writeln!(out, "SCIM {} for tenant {}", yes_no(t.scim_active), t.slug);
        }
        Command::Scim(ScimCommand::Credentials { tenant, reveal }) => {
            let c = dir.basic_credentials(&tenant, reveal, ACTOR)?;
            let secret = c
                .secret
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "•••••••• (use --reveal to show)".into());
            let _ = writeln!(out, "scim endpoint: {}", c.endpoint);
            let _ = writeln!(out, "client id: {}\nsecret: {secret}", c.client_id);
        }
        Command::Scim(ScimCommand::SetSecret { tenant, secret }) => {
            dir.set_basic_secret(&tenant, &secret, ACTOR)?;
            let _ = writeln!(out, "secret changed for tenant {tenant}");
        }
        Command::Token(TokenCommand::Create {
            tenant,
            grace_minutes,
        }) => {
            let new = dir.create_token(&tenant, grace_minutes, ACTOR)?;
            let note = if new.superseded > 0 && grace_minutes > 0.0 {
                format!("roster: the previous token keeps working for {grace_minutes} minute(s)\n")
            } else if new.superseded > 0 {
                "roster: the previous token no longer works\n".to_string()
            } else {
                String::new()
            };
            return Ok(Reply {
                code: 0,
                stdout: format!("{}\n", new.token.as_str()),
                stderr: format!("{note}roster: store this token now: it will not be shown again\n"),
            });
        }
        Command::Token(TokenCommand::List { tenant }) => {
            let _ = writeln!(
                out,
                "{:<28} {:<12} {:<22} EXPIRES",
                "ID", "TOKEN", "CREATED"
            );
            for c in dir.tokens(&tenant)? {
                let expires = c
                    .expires_at
                    .map(crate::format_time)
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "{:<28} {:<12} {:<22} {expires}",
                    c.id,
                    c.hint.unwrap_or_default(),
                    crate::format_time(c.created)
                );
            }
        }
        Command::App(AppCommand::Create {
            tenant,
            name,
            scopes,
        }) => {
            let new = dir.create_app(&tenant, &name, &scopes, ACTOR)?;
            return Ok(new_client_reply(
                &new,
                "roster: store the client secret now: it will not be shown again\n".into(),
            ));
        }
        Command::App(AppCommand::List { tenant }) => {
            let _ = writeln!(
                out,
                "{:<40} {:<24} {:<30} {:<12} CREATED",
                "CLIENT ID", "NAME", "SCOPES", "SECRET"
            );
            for c in dir.apps(&tenant)? {
                let _ = writeln!(
                    out,
                    "{:<40} {:<24} {:<30} {:<12} {}",
                    c.client_id.unwrap_or_default(),
                    c.name.unwrap_or_default(),
                    c.scopes.join(","),
                    c.hint.unwrap_or_default(),
                    crate::format_time(c.created)
                );
            }
        }
        Command::App(AppCommand::Rotate {
            tenant,
            client_id,
            grace_minutes,
        }) => {
            let new = dir.rotate_app(&tenant, &client_id, grace_minutes, ACTOR)?;
            let note = if grace_minutes > 0.0 {
                format!("roster: the previous secret keeps working for {grace_minutes} minute(s)\n")
            } else {
                "roster: the previous secret no longer works\n".to_string()
            };
            return Ok(new_client_reply(&new, note));
        }
        Command::App(AppCommand::Revoke { tenant, client_id }) => {
            dir.revoke_app(&tenant, &client_id, ACTOR)?;
            let _ = writeln!(
                out,
                "revoked API client {client_id}; its access tokens no longer work"
            );
        }
        Command::Role(
            RoleCommand::Grant {
                ref tenant,
                ref group,
                ref permission,
            }
            | RoleCommand::Revoke {
                ref tenant,
                ref group,
                ref permission,
            },
        ) => {
            let grant = matches!(cmd, Command::Role(RoleCommand::Grant { .. }));
            let role = dir.set_role_permission(tenant, group, permission, grant, ACTOR)?;
            let _ = writeln!(
                out,
                "{} ({}): {}",
                role.name,
                role.group_id,
                if role.permissions.is_empty() {
                    "no permissions".to_string()
                } else {
                    role.permissions.join(", ")
                }
            );
        }
        Command::Role(RoleCommand::List { tenant }) => {
            let _ = writeln!(out, "{:<38} {:<24} PERMISSIONS", "GROUP ID", "NAME");
            for role in dir.roles(&tenant)? {
                let _ = writeln!(
                    out,
                    "{:<38} {:<24} {}",
                    role.group_id,
                    role.name,
                    role.permissions.join(", ")
                );
            }
        }
        Command::Admin(AdminCommand::Create {
            username,
            password,
            role,
        }) => {
            let role = role.as_deref().map(parse_role).transpose()?;
            let role = dir.create_admin(&username, &password, role, ACTOR)?;
            let _ = writeln!(out, "created admin {username} ({})", role.as_str());
        }
        Command::Admin(AdminCommand::SetRole { username, role }) => {
            let role = parse_role(&role)?;
            dir.set_admin_role(&username, role, ACTOR)?;
            let _ = writeln!(out, "admin {username} is now {}", role.as_str());
        }
        Command::Admin(AdminCommand::Invite { username, role }) => {
            let role = parse_role(&role)?;
            dir.create_sso_admin(&username.to_ascii_lowercase(), role, ACTOR, false)?;
            let _ = writeln!(
                out,
                "invited {username} ({}); they sign in through single sign-on",
                role.as_str()
            );
        }
        Command::Admin(AdminCommand::List) => {
            let _ = writeln!(
                out,
                "{:<32} {:<8} {:<10} LAST SIGN-IN",
                "USERNAME", "ROLE", "SIGN-IN"
            );
            for a in dir.admins()? {
                let _ = writeln!(
                    out,
                    "{:<32} {:<8} {:<10} {}",
                    a.username,
                    a.role.as_str(),
                    if a.password { "password" } else { "sso only" },
                    a.last_sign_in
                        .map(crate::format_time)
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        Command::Admin(AdminCommand::ResetPassword { username, password }) => {
            dir.reset_admin_password(&username, &password, ACTOR)?;
            let _ = writeln!(
                out,
                "password changed for admin {username}; their sessions ended"
            );
        }
        Command::Schema(SchemaCommand::Add {
            tenant,
            schema,
            applies_to,
            ..
        }) => {
            let id = dir.add_extension(&tenant, &schema, &applies_to, ACTOR)?;
            let _ = writeln!(out, "registered {id} for tenant {tenant}");
        }
        Command::Schema(SchemaCommand::List { tenant }) => {
            for ext in dir.tenant(&tenant)?.extensions {
                let _ = writeln!(
                    out,
                    "{} ({})",
                    ext.schema["id"].as_str().unwrap_or("?"),
                    ext.applies_to
                );
            }
        }
        Command::Schema(SchemaCommand::Remove { tenant, id }) => {
            dir.remove_extension(&tenant, &id, ACTOR)?;
            let _ = writeln!(out, "removed {id} from tenant {tenant}");
        }
        Command::Keys(KeysCommand::Rotate) => {
            let r = dir.rotate_data_key(ACTOR)?;
            let _ = writeln!(
                out,
                "rotated: data key {} active, retired {:?}, re-encrypted {} secret(s)",
                r.new_key_id, r.retired, r.resealed
            );
        }
        Command::Keys(KeysCommand::RotateMaster { new_key_file }) => {
            let note = dir.rotate_master_key(&new_key_file, ACTOR)?;
            let _ = writeln!(out, "master key rotated: {note}");
        }
        Command::Keys(KeysCommand::Status) => {
            let (keys, rotated) = dir.key_status()?;
            let _ = writeln!(out, "master key fingerprint: {}", dir.master_fingerprint());
            let _ = writeln!(
                out,
                "last rotated: {}",
                rotated
                    .map(crate::format_time)
                    .unwrap_or_else(|| "never".into())
            );
            let _ = writeln!(out, "{:<6} {:<8} {:<22} SECRETS", "KEY", "STATE", "CREATED");
            for k in keys {
                let state = match k.dek.state {
                    DekState::Active => "active",
                    DekState::Retired => "retired",
                };
                let _ = writeln!(
                    out,
                    "{:<6} {:<8} {:<22} {}",
                    k.dek.id,
                    state,
                    crate::format_time(k.dek.created),
                    k.secrets
                );
            }
        }
        Command::Check => {
            let records = dir.verify_records()?;
            let n = dir.check_secrets()?;
            let _ = writeln!(
                out,
                "ok: store readable, {records} record(s) decode, {n} sealed secret(s) open"
            );
        }
        Command::Backup { out: file } => {
            let rows = dir.backup_to(&file)?;
            let _ = writeln!(
                out,
                "backup written to {}: {rows} rows from one consistent snapshot",
                file.display()
            );
            let _ = writeln!(
                out,
                "the master key is NOT in the backup (fingerprint {}): keep a copy of it apart from your backups",
                dir.master_fingerprint()
            );
        }
        Command::Audit(AuditArgs { tenant, limit }) => {
            for r in dir.audit_recent(tenant.as_deref(), limit)? {
                let _ = writeln!(
                    out,
                    "{} {:<6} {} {:<18} {:<5} {}{}{}",
                    r.seq,
                    r.outcome,
                    crate::format_time(r.ts),
                    r.action,
                    r.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.method.map(|m| format!("{m} ")).unwrap_or_default(),
                    r.path.unwrap_or_default(),
                    r.detail.map(|d| format!(" ({d})")).unwrap_or_default(),
                );
            }
        }
    }
    Ok(Reply::ok(out))
}

/// Starts the control socket server; the returned task is aborted at shutdown.
pub fn serve(dir: Arc<Directory>, path: &Path) -> std::io::Result<tokio::task::JoinHandle<()>> {
    // Only a server holding the store's lock gets here, so a socket file left by
    // a killed server is stale.
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(actix_web::rt::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let dir = dir.clone();
            actix_web::rt::spawn(async move {
                if let Err(e) = handle(dir, stream).await {
                    tracing::warn!(error = %e, "control connection failed");
                }
            });
        }
    }))
}

async fn handle(dir: Arc<Directory>, stream: tokio::net::UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(tokio::io::BufReader::new(read), MAX_REQUEST)
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Command>(&line) {
        Ok(cmd) => actix_web::rt::task::spawn_blocking(move || execute(&dir, cmd))
            .await
            .unwrap_or_else(|_| Reply {
                code: 1,
                stdout: String::new(),
                stderr: "roster: the command failed inside the server\n".into(),
            }),
        Err(_) => Reply {
            code: 2,
            stdout: String::new(),
            stderr: "roster: the server did not understand the command (version mismatch?)\n"
                .into(),
        },
    };
    let mut bytes = serde_json::to_vec(&reply).unwrap_or_default();
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

/// Sends a command to a running server. `Ok(None)` means no server listens.
pub fn send(socket: &Path, cmd: &Command) -> std::io::Result<Option<Reply>> {
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut line = serde_json::to_vec(cmd).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut text = String::new();
    BufReader::new(stream.take(16 * 1024 * 1024)).read_line(&mut text)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("unreadable reply: {e}")))
}

/// Runs a command the way the CLI does: over the socket if a server runs, else locally.
pub fn run_cli(config: &Config, cmd: Command) -> Reply {
    let socket = config.socket_path();
    match send(&socket, &cmd) {
        Ok(Some(reply)) => return reply,
        Ok(None) => {}
        Err(e) => {
            return Reply {
                code: 1,
                stdout: String::new(),
                stderr: format!("roster: control socket {}: {e}\n", socket.display()),
            };
        }
    }
    match Directory::open(config) {
        Ok(dir) => execute(&dir, cmd),
        Err(e) => match e.store_in_use() {
            Some(path) => Reply {
                code: 1,
                stdout: String::new(),
                stderr: format!(
                    "roster: the store {} is in use, but no server answers on {}; is another roster command running?\n",
                    path.display(),
                    socket.display()
                ),
            },
            None => Reply::error(&e),
        },
    }
}

/// The two lines of a new client secret, shown once, and a note on stderr.
fn new_client_reply(new: &crate::directory::apps::NewAppClient, note: String) -> Reply {
    Reply {
        code: 0,
        stdout: format!(
            "client_id: {}\nclient_secret: {}\n",
            new.client_id,
            new.client_secret.as_str()
        ),
        stderr: note,
    }
}

/// `roster restore FILE`: copies a backup into an empty data dir (no server may run).
pub fn restore(config: &Config, backup: &Path) -> Reply {
    let fail = |msg: String| Reply {
        code: 1,
        stdout: String::new(),
        stderr: format!("roster: {msg}\n"),
    };
    if matches!(
        send(&config.socket_path(), &Command::Tenant(TenantCommand::List)),
        Ok(Some(_))
    ) {
        return fail(
            "a server is running on this data dir; stop it and restore into an empty data dir"
                .into(),
        );
    }
    let target = config.store_path();
    for existing in [target.clone(), crate::directory::journal_path(&target)] {
        if existing.exists() {
            return fail(format!(
                "{} already exists: restore only into an empty data dir (move the old store and its journal aside first)",
                existing.display()
            ));
        }
    }
    if !backup.is_file() {
        return fail(format!("no backup file at {}", backup.display()));
    }
    if let Err(e) = std::fs::create_dir_all(&config.data_dir).and_then(|()| {
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
    }) {
        return fail(format!("cannot create {}: {e}", config.data_dir.display()));
    }
    let partial = config.data_dir.join("roster.redb.restoring");
    if let Err(e) = std::fs::copy(backup, &partial) {
        return fail(format!("cannot copy {}: {e}", backup.display()));
    }
    // Opening checks the file and runs any migrations before it takes the real name.
    let summary = crate::directory::check_backup_copy(&partial)
        .map(|c| (c.records, c.tenants, c.master_fingerprint));
    let (records, tenants, fingerprint) = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return fail(format!(
                "{} is not a usable roster backup: {e}",
                backup.display()
            ));
        }
    };
    if let Err(e) = std::fs::rename(&partial, &target) {
        return fail(format!("cannot move the restored store into place: {e}"));
    }
    Reply::ok(format!(
        "restored {records} record(s), {tenants} tenant(s) into {}\nbefore starting, put the master key with fingerprint {fingerprint} at the configured location (default {})\n",
        config.data_dir.display(),
        config.data_dir.join("master.key").display()
    ))
}

fn parse_role(text: &str) -> Result<crate::directory::AdminRole, DirectoryError> {
    text.parse().map_err(DirectoryError::Invalid)
}
