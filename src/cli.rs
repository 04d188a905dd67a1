//! Command-line definitions of every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Roster: a self-hosted SCIM 2.0 provisioning appliance.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, propagate_version = true)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Commands,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (default: /etc/roster/roster.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (store, control socket, master key).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run the HTTP server (SCIM, console, health) until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Print the effective configuration and where each value came from.
    Configtest,
    /// Create, list, show, rename and delete tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Activate or deactivate SCIM, show or change a tenant's basic credentials.
    #[command(subcommand)]
    Scim(ScimCommand),
    /// Generate and list SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// API clients of applications: create, list, rotate the secret, revoke.
    #[command(subcommand)]
    App(AppCommand),
    /// Webhook endpoints: add, list, remove, enable, disable, retry, test, deliveries.
    #[command(subcommand)]
    Webhook(crate::control::WebhookCommand),
    /// Roles: attach permissions to groups, detach them, list them.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Register, list and remove custom SCIM schema extensions of a tenant.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Rotate the data key or the master key, or show the keyring.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create console admins or reset their passwords (password read from stdin).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check that every record decodes and every sealed secret opens.
    Check,
    /// Write a consistent online backup (the master key is not included).
    Backup {
        /// Output file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into an empty data dir (with no server running).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Show the audit log (provisioning log), newest first.
    Audit(AuditArgs),
    /// Show a tenant's change feed (users and groups created, changed, deleted).
    Events(EventsArgs),
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Public base URL shown to admins, e.g. https://roster.example.com.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, value_name = "BYTES")]
    pub body_limit: Option<String>,
}

/// `roster tenant ...`
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Subcommand)]
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
    },
}

/// `roster token ...`
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Register an extension schema (RFC 7643 section 7 JSON) for users or groups.
    Add {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// File holding the schema JSON (with "id" and "attributes").
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
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
#[derive(Debug, Subcommand)]
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

/// Flags of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Flags of `events`.
#[derive(Debug, Args)]
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

/// `roster admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a console admin; the password is read from standard input.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// owner, admin or viewer (default: owner for the first admin, admin after).
        #[arg(long)]
        role: Option<String>,
    },
    /// Set a new password (read from standard input) and end the admin's sessions.
    ResetPassword {
        /// Login name.
        #[arg(long)]
        username: String,
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
