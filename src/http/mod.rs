//! actix wiring: the server, middleware, and the routes of each surface.

pub mod api;
pub mod logs;
pub mod metrics;
pub mod scim;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, Error, HttpResponse, HttpServer, web};

use crate::config::{Config, LogFormat};
use crate::control;
use crate::directory::{Directory, DirectoryError};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Opening the data dir, store or keys failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Binding or running the HTTP server or control socket failed.
    #[error("{0}")]
    Io(String),
    /// The disk took writes again after failing: a restart replays the
    /// journal and resumes writes (systemd's `Restart=on-failure` does it).
    #[error(
        "the data disk takes writes again: exiting so that a restart replays the journal and resumes writes"
    )]
    RestartForStorage,
}

/// Exit code of `ServeError::RestartForStorage` (EX_TEMPFAIL).
pub const RESTART_EXIT_CODE: u8 = 75;

/// How often a server whose writes failed checks whether the disk takes writes again.
const STORAGE_PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Bytes the probe writes and syncs (then removes): room for a checkpoint's worth.
const STORAGE_PROBE_BYTES: usize = 4 * 1024 * 1024;

/// Once the store's writes have failed, probes the data dir until a write
/// and sync of `STORAGE_PROBE_BYTES` succeed, then stops the server so that
/// it restarts. Reads are served meanwhile; writes get 507/503.
fn watch_storage(
    data_dir: std::path::PathBuf,
    handle: actix_web::dev::ServerHandle,
    recovered: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::io::Write;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(STORAGE_PROBE_EVERY);
            if crate::directory::write_failure().is_none() {
                continue;
            }
            let probe = data_dir.join(".roster-space-probe");
            let written = std::fs::File::create(&probe).and_then(|mut f| {
                f.write_all(&vec![0u8; STORAGE_PROBE_BYTES])?;
                f.sync_data()
            });
            let _ = std::fs::remove_file(&probe);
            if written.is_ok() {
                tracing::warn!(
                    "the data disk takes writes again; stopping so that a restart resumes writes"
                );
                recovered.store(true, std::sync::atomic::Ordering::Release);
                // The stop command is sent by the call; its future only reports completion.
                drop(handle.stop(true));
                return;
            }
        }
    });
}

/// Installs the global log subscriber (stderr, batched: see `logs`; text or JSON).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(logs::BatchedStderr::start())
        .with_target(false)
        .with_ansi(ansi);
    // A second init (tests) keeps the first subscriber.
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if installed.is_ok() && !ansi {
        logs::write_request_lines(format);
    }
}

/// Registers every route; shared by the server and in-process tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics::handler))
        // Routes are tried in order and the paths are disjoint: SCIM, the
        // bulk of the traffic, before the asset pattern and the console.
        .configure(scim::configure)
        .configure(api::configure)
        .configure(crate::console::configure);
}

async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/admin/"))
        .finish()
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

async fn readyz(dir: web::Data<Directory>) -> HttpResponse {
    // Ready = the store answers a read at the current schema version.
    let ready = dir.is_ready();
    if ready {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(r#"{"status":"not ready"}"#)
    }
}

/// The tenant slug of a SCIM path, for log lines.
fn tenant_of(path: &str) -> &str {
    path.strip_prefix("/scim/v2/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("-")
}

/// Largest total size of a request's header names and values.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Requests with oversized headers get 431 before any handler sees them.
async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, Error> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        let body = serde_json::json!({"schemas": [crate::scim::error::ERROR_SCHEMA], "status": "431",
            "detail": format!("the request headers exceed {MAX_HEADER_BYTES} bytes")});
        let resp =
            HttpResponse::build(actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                .content_type(crate::scim::SCIM_MEDIA_TYPE)
                .body(body.to_string());
        return Ok(req.into_response(resp));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// One log line per request: method, path (no query), status, latency, tenant.
/// Headers are never logged, so neither are credentials.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    // 48 random bits tell requests apart in the log; no secret, so no token.
    let request_id = rand::random::<u64>() >> 16;
    let result = next.call(req).await;
    let (status, route) = match &result {
        Ok(res) => (
            res.status().as_u16(),
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into()),
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), "error".into()),
    };
    let latency = started.elapsed();
    if let Ok(res) = &result
        && let Some(m) = res.request().app_data::<web::Data<metrics::Metrics>>()
    {
        m.observe(&route, &method, status, latency.as_secs_f64());
    }
    if tracing::enabled!(tracing::Level::INFO) {
        let line = logs::RequestLine {
            request_id,
            method: &method,
            path: &path,
            status,
            latency,
            tenant: tenant_of(&path),
        };
        if !logs::write_request_line(&line) {
            tracing::info!(
                request_id = format_args!("{request_id:012x}"),
                method = %method,
                path = %path,
                status,
                latency_ms = format_args!("{:.2}", latency.as_secs_f64() * 1000.0),
                tenant = %line.tenant,
                "request"
            );
        }
    }
    result
}

/// Threads per worker for blocking work (scans, large groups, console and bulk
/// writes; SCIM writes go to the store's writer thread instead).
const BLOCKING_THREADS: usize = 32;
/// Connections one worker serves at once.
const MAX_CONNECTIONS_PER_WORKER: usize = 4096;

/// Runs the server until SIGINT/SIGTERM, then closes the store cleanly.
pub fn run(config: Config) -> Result<(), ServeError> {
    // Opening first makes a second server on the same data dir fail before binding.
    let dir = Arc::new(Directory::open(&config)?);
    let system = actix_web::rt::System::new();
    dir.install_sso_http(Arc::new(crate::outbound::SsoClient::default()));
    let dispatcher = crate::outbound::Dispatcher::start(dir.clone(), &config)
        .map_err(|e| ServeError::Io(format!("cannot start webhook deliveries: {e}")))?;
    let result = system.block_on(serve(config, dir.clone()));
    dispatcher.stop();
    if let Err(e) = dir.flush() {
        tracing::warn!(error = %e, "final flush failed");
    }
    drop(dir);
    tracing::info!("store closed; bye");
    result
}

async fn serve(config: Config, dir: Arc<Directory>) -> Result<(), ServeError> {
    let data = web::Data::from(dir.clone());
    let metrics_token = match &config.metrics_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    ServeError::Io(format!("metrics_token_file {}: {e}", path.display()))
                })?,
        ),
        None => None,
    };
    let metrics = web::Data::new(metrics::Metrics::new(metrics_token));
    let throttle = web::Data::new(crate::plumbing::throttle::ScimAuthThrottle::default());
    let login_throttle = web::Data::new(crate::plumbing::throttle::LoginThrottle::default());
    let setup = web::Data::new(crate::console::auth::SetupToken::default());
    let setup_for_app = setup.clone();
    let api_document = web::Data::new(crate::console::reference::ApiDocument(
        api::openapi_document(&dir.public_base()),
    ));
    let body_limit = config.body_limit;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(throttle.clone())
            .app_data(metrics.clone())
            .app_data(login_throttle.clone())
            .app_data(setup_for_app.clone())
            .app_data(api_document.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::Data::new(scim::BodyLimit(body_limit)))
            .app_data(web::JsonConfig::default().limit(body_limit))
            .wrap(
                DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    .add((header::REFERRER_POLICY, "no-referrer")),
            )
            .wrap(from_fn(limit_headers))
            .wrap(from_fn(log_request))
            .configure(configure)
    })
    .shutdown_timeout(30)
    // Bounds on connections: a request head must arrive within 5 s (else
    // 408), an idle keep-alive connection closes after 5 s, and each worker
    // holds at most this many connections (others wait in the backlog).
    .client_request_timeout(std::time::Duration::from_secs(5))
    .keep_alive(std::time::Duration::from_secs(5))
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
    // Blocking work (writes, scans) gets a bounded pool: the default of 512
    // threads per worker would each take allocator arenas that keep freed memory.
    .worker_max_blocking_threads(BLOCKING_THREADS)
    .bind(config.listen)
    .map_err(|e| ServeError::Io(format!("cannot listen on {}: {e}", config.listen)))?;

    let bound = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| ServeError::Io("the server bound no address".into()))?;
    let base = config.public_base(bound);
    dir.set_public_base(base.clone());

    let socket = config.socket_path();
    let control_task = control::serve(dir.clone(), &socket)
        .map_err(|e| ServeError::Io(format!("control socket {}: {e}", socket.display())))?;

    // Stdout lines are part of the interface: tests and operators read them.
    println!("roster: listening on {bound}");
    if !dir.has_admins()? {
        let token = setup.issue();
        println!(
            "roster: first-run setup: open {base}/admin/setup?token={token} (valid for {} minutes, once)",
            crate::console::auth::SETUP_TTL.as_secs() / 60
        );
    }
    println!("roster: console at {base}/admin/");
    tracing::info!(%bound, data_dir = %config.data_dir.display(), "roster started");

    let running = server.run();
    let recovered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    watch_storage(config.data_dir.clone(), running.handle(), recovered.clone());
    let mut result = running
        .await
        .map_err(|e| ServeError::Io(format!("server error: {e}")));
    if result.is_ok() && recovered.load(std::sync::atomic::Ordering::Acquire) {
        result = Err(ServeError::RestartForStorage);
    }
    control_task.abort();
    let _ = std::fs::remove_file(&socket);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_from_path() {
        assert_eq!(tenant_of("/scim/v2/acme/Users"), "acme");
        assert_eq!(tenant_of("/healthz"), "-");
    }
}
