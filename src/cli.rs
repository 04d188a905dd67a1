//! The command line: the top level here; the management subcommands are
//! `control`'s own command types, which clap parses into directly.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::control::{
    AdminCommand, AppCommand, AuditArgs, EventsArgs, KeysCommand, RoleCommand, SchemaCommand,
    ScimCommand, TenantCommand, TokenCommand, WebhookCommand,
};

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
    Webhook(WebhookCommand),
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
