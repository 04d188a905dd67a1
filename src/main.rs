//! The `roster` binary: parse the command line and dispatch.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use roster::cli::{Cli, Commands};
use roster::config::{Config, Overrides};
use roster::control::{self, AdminCommand, Command, KeysCommand, SchemaCommand, ScimCommand};

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

/// A one-line CLI error.
fn fail(message: &str) -> ExitCode {
    eprintln!("roster: {message}");
    ExitCode::FAILURE
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
        Commands::Tenant(c) => Command::Tenant(c),
        Commands::Scim(mut c) => {
            if let ScimCommand::SetSecret { secret, .. } = &mut c {
                match read_one_line("secret") {
                    Ok(line) => *secret = line,
                    Err(e) => return fail(&e),
                }
            }
            Command::Scim(c)
        }
        Commands::Token(c) => Command::Token(c),
        Commands::App(c) => Command::App(c),
        Commands::Webhook(c) => Command::Webhook(c),
        Commands::Role(c) => Command::Role(c),
        Commands::Schema(mut c) => {
            if let SchemaCommand::Add { file, schema, .. } = &mut c {
                let parsed = std::fs::read_to_string(&*file)
                    .map_err(|e| e.to_string())
                    .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
                match parsed {
                    Ok(value) => *schema = value,
                    Err(e) => return fail(&format!("cannot read schema {}: {e}", file.display())),
                }
            }
            Command::Schema(c)
        }
        Commands::Keys(mut c) => {
            if let KeysCommand::RotateMaster { new_key_file } = &mut c {
                // The server may run in another working directory.
                if let Ok(path) = std::path::absolute(&*new_key_file) {
                    *new_key_file = path;
                }
            }
            Command::Keys(c)
        }
        Commands::Admin(mut c) => {
            // Only the commands that set a password read one from stdin.
            if let AdminCommand::Create { password, .. }
            | AdminCommand::ResetPassword { password, .. } = &mut c
            {
                match read_one_line("password") {
                    Ok(line) => *password = line,
                    Err(e) => return fail(&e),
                }
            }
            Command::Admin(c)
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
        Commands::Events(e) => Command::Events(e),
        Commands::Audit(a) => Command::Audit(a),
    };
    let reply = control::run_cli(&config, command);
    let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
    let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
    ExitCode::from(u8::try_from(reply.code).unwrap_or(1))
}
