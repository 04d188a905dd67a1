//! The `roster` binary: parse the command line and dispatch.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use roster::cli::{
    AdminCommand, AppCommand, Cli, Commands, KeysCommand, RoleCommand, SchemaCommand, ScimCommand,
    TenantCommand, TokenCommand,
};
use roster::config::{Config, Overrides};
use roster::control::{self, Command};

// About a sixth less CPU per SCIM create than glibc's malloc (redb pages,
// JSON maps and strings are allocated and freed on every request).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often the server hands memory freed a while ago back to the system.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// mimalloc keeps freed pages for a second before it gives them back, so a
/// busy thread reuses them instead of faulting in fresh ones: purging them at
/// once cost creates about a tenth of their throughput. It purges only on the
/// next allocation of a thread, though, so one that ran a scan of 100 000
/// users and went idle kept ~50 MiB resident; this thread purges for all.
fn trim_memory_in_background() {
    let spawned = std::thread::Builder::new()
        .name("roster-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TRIM_EVERY);
                release_freed_memory();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the memory trimmer; idle threads keep freed memory");
    }
}

/// Gives the system back every freed page mimalloc still holds.
fn release_freed_memory() {
    // SAFETY: no arguments beyond a flag; safe from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Reads exactly one non-empty line from standard input (its line ending
/// dropped): a second line would otherwise end up inside the secret.
fn read_one_line(what: &str) -> Result<String, String> {
    const LIMIT: u64 = 4096;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the {what} from standard input: {e}"))?;
    if bytes.len() as u64 > LIMIT {
        return Err(format!(
            "the {what} on standard input is longer than {LIMIT} bytes"
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("the {what} on standard input is not UTF-8 text"))?;
    let line = match text.split_once('\n') {
        Some((line, "")) => line,
        Some(_) => {
            return Err(format!(
                "standard input has more than one line; give the {what} on one line"
            ));
        }
        None => text.as_str(),
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(format!("the {what} is empty: give it on standard input"));
    }
    Ok(line.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut overrides = Overrides {
        config_file: cli.global.config.clone(),
        data_dir: cli.global.data_dir.clone(),
        ..Overrides::default()
    };
    if let Commands::Serve(args) = &cli.command {
        overrides.listen = args.listen.clone();
        overrides.public_url = args.public_url.clone();
        overrides.log_format = args.log_format.clone();
        overrides.body_limit = args.body_limit.clone();
    }
    let config = match Config::load(&overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("roster: {e}");
            return ExitCode::from(2);
        }
    };
    let command = match cli.command {
        Commands::Serve(_) => {
            roster::http::init_logging(config.log_format);
            trim_memory_in_background();
            // A scan of 100 000 users frees tens of MiB; held for the purge
            // delay, the next scans on other threads stacked on top of them.
            roster::plumbing::blocking::set_after_blocking(release_freed_memory);
            let served = roster::http::run(config);
            roster::http::logs::flush();
            return match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ roster::http::ServeError::RestartForStorage) => {
                    eprintln!("roster: {e}");
                    ExitCode::from(roster::http::RESTART_EXIT_CODE)
                }
                Err(e) => {
                    eprintln!("roster: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Commands::Configtest => {
            print!("{}", config.describe());
            return ExitCode::SUCCESS;
        }
        Commands::Tenant(t) => match t {
            TenantCommand::Create { name, slug, idp } => Command::TenantCreate { name, slug, idp },
            TenantCommand::List => Command::TenantList,
            TenantCommand::Show { slug } => Command::TenantShow { slug },
            TenantCommand::Rename { slug, name } => Command::TenantRename { slug, name },
            TenantCommand::Delete { slug } => Command::TenantDelete { slug },
            TenantCommand::Set {
                slug,
                idp,
                delete_policy,
                unknown_members,
            } => Command::TenantSet {
                slug,
                idp,
                delete_policy,
                unknown_members,
            },
        },
        Commands::Scim(s) => match s {
            ScimCommand::Activate { tenant } => Command::ScimSetActive {
                tenant,
                active: true,
            },
            ScimCommand::Deactivate { tenant } => Command::ScimSetActive {
                tenant,
                active: false,
            },
            ScimCommand::Credentials { tenant, reveal } => {
                Command::ScimCredentials { tenant, reveal }
            }
            ScimCommand::SetSecret { tenant } => match read_one_line("secret") {
                Ok(secret) => Command::ScimSetSecret { tenant, secret },
                Err(e) => {
                    eprintln!("roster: {e}");
                    return ExitCode::FAILURE;
                }
            },
        },
        Commands::Token(t) => match t {
            TokenCommand::Create {
                tenant,
                grace_minutes,
            } => Command::TokenCreate {
                tenant,
                grace_minutes,
            },
            TokenCommand::List { tenant } => Command::TokenList { tenant },
        },
        Commands::App(a) => match a {
            AppCommand::Create {
                tenant,
                name,
                scopes,
            } => Command::AppCreate {
                tenant,
                name,
                scopes,
            },
            AppCommand::List { tenant } => Command::AppList { tenant },
            AppCommand::Rotate {
                tenant,
                client_id,
                grace_minutes,
            } => Command::AppRotate {
                tenant,
                client_id,
                grace_minutes,
            },
            AppCommand::Revoke { tenant, client_id } => Command::AppRevoke { tenant, client_id },
        },
        Commands::Webhook(w) => Command::Webhook(w),
        Commands::Role(r) => match r {
            RoleCommand::Grant {
                tenant,
                group,
                permission,
            } => Command::RoleSet {
                tenant,
                group,
                permission,
                grant: true,
            },
            RoleCommand::Revoke {
                tenant,
                group,
                permission,
            } => Command::RoleSet {
                tenant,
                group,
                permission,
                grant: false,
            },
            RoleCommand::List { tenant } => Command::RoleList { tenant },
        },
        Commands::Schema(sc) => match sc {
            SchemaCommand::Add {
                tenant,
                file,
                applies_to,
            } => {
                let parsed = std::fs::read_to_string(&file)
                    .map_err(|e| e.to_string())
                    .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
                match parsed {
                    Ok(schema) => Command::SchemaAdd {
                        tenant,
                        schema,
                        applies_to,
                    },
                    Err(e) => {
                        eprintln!("roster: cannot read schema {}: {e}", file.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            SchemaCommand::List { tenant } => Command::SchemaList { tenant },
            SchemaCommand::Remove { tenant, id } => Command::SchemaRemove { tenant, id },
        },
        Commands::Keys(k) => match k {
            KeysCommand::Rotate => Command::KeysRotate,
            KeysCommand::RotateMaster { new_key_file } => {
                // The server may run in another working directory.
                let path = std::path::absolute(&new_key_file).unwrap_or(new_key_file);
                Command::KeysRotateMaster { new_key_file: path }
            }
            KeysCommand::Status => Command::KeysStatus,
        },
        Commands::Admin(a) => {
            // Only the commands that set a password read one from stdin.
            let password = || {
                read_one_line("password").map_err(|e| {
                    eprintln!("roster: {e}");
                    ExitCode::FAILURE
                })
            };
            match a {
                AdminCommand::Create { username, role } => match password() {
                    Ok(password) => Command::AdminCreate {
                        username,
                        password,
                        role,
                    },
                    Err(code) => return code,
                },
                AdminCommand::ResetPassword { username } => match password() {
                    Ok(password) => Command::AdminResetPassword { username, password },
                    Err(code) => return code,
                },
                AdminCommand::SetRole { username, role } => {
                    Command::AdminSetRole { username, role }
                }
                AdminCommand::List => Command::AdminList,
                AdminCommand::Invite { username, role } => Command::AdminInvite { username, role },
            }
        }
        Commands::Check => Command::Check,
        Commands::Backup { out } => Command::Backup {
            out: std::path::absolute(&out).unwrap_or(out),
        },
        Commands::Restore { file } => {
            let reply = control::restore(&config, &file);
            let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
            let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
            return ExitCode::from(u8::try_from(reply.code).unwrap_or(1));
        }
        Commands::Events(e) => Command::Events {
            tenant: e.tenant,
            after: e.after,
            limit: e.limit,
        },
        Commands::Audit(a) => Command::Audit {
            tenant: a.tenant,
            limit: a.limit,
        },
    };
    let reply = control::run_cli(&config, command);
    let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
    let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
    ExitCode::from(u8::try_from(reply.code).unwrap_or(1))
}
