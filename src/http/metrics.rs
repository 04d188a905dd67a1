//! `GET /metrics` in the Prometheus text format: requests and latency by route
//! and status, SCIM operations by tenant and outcome, store size, key age and
//! console sessions. Optionally behind a bearer token.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::directory::Directory;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters kept in memory since start.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    scim: Mutex<BTreeMap<(String, String, String), u64>>,
    /// The token `/metrics` requires, if any.
    pub token: Option<String>,
}

impl Metrics {
    /// Metrics guarded by `token` (None: open).
    pub fn new(token: Option<String>) -> Metrics {
        Metrics {
            token,
            ..Metrics::default()
        }
    }

    /// Records one request by route pattern (never the raw path: bounded labels).
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let h = map
            .entry((route.to_string(), method.to_string(), status))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// Records one SCIM operation of a tenant.
    pub fn scim_operation(&self, tenant: &str, operation: &str, outcome: &str) {
        let mut map = self.scim.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((
            tenant.to_string(),
            operation.to_string(),
            outcome.to_string(),
        ))
        .or_default() += 1;
    }

    fn render(&self, dir: &Directory) -> String {
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(
            "# HELP roster_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE roster_http_requests_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((route, method, status), h) in &requests {
            let _ = writeln!(
                out,
                "roster_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                esc(route),
                h.count
            );
        }
        out.push_str("# HELP roster_http_request_duration_seconds Request latency by route, method and status.\n");
        out.push_str("# TYPE roster_http_request_duration_seconds histogram\n");
        for ((route, method, status), h) in &requests {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                esc(route)
            );
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "roster_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "roster_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "roster_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "roster_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP roster_scim_operations_total SCIM operations by tenant, operation and outcome.\n");
        out.push_str("# TYPE roster_scim_operations_total counter\n");
        for ((tenant, op, outcome), n) in self.scim.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let _ = writeln!(
                out,
                "roster_scim_operations_total{{tenant=\"{}\",operation=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(tenant),
                esc(op)
            );
        }
        let store_bytes = dir.store_file_bytes();
        out.push_str("# HELP roster_store_size_bytes Size of the database file.\n");
        out.push_str("# TYPE roster_store_size_bytes gauge\n");
        let _ = writeln!(out, "roster_store_size_bytes {store_bytes}");
        let (commits, writes) = dir.write_stats();
        out.push_str("# HELP roster_store_commits_total Durable store commits (each one fsync).\n");
        out.push_str("# TYPE roster_store_commits_total counter\n");
        let _ = writeln!(out, "roster_store_commits_total {commits}");
        out.push_str(
            "# HELP roster_store_writes_total Write requests applied; more than commits when group commit batches them.\n",
        );
        out.push_str("# TYPE roster_store_writes_total counter\n");
        let _ = writeln!(out, "roster_store_writes_total {writes}");
        if let Ok((keys, rotated)) = dir.key_status() {
            let now = crate::now_unix();
            let active_created = keys
                .iter()
                .filter(|k| k.dek.state == crate::directory::DekState::Active)
                .map(|k| k.dek.created)
                .max()
                .unwrap_or(now);
            out.push_str(
                "# HELP roster_data_key_age_seconds Age of the active data encryption key.\n",
            );
            out.push_str("# TYPE roster_data_key_age_seconds gauge\n");
            let _ = writeln!(out, "roster_data_key_age_seconds {}", now - active_created);
            out.push_str("# HELP roster_data_key_last_rotation_timestamp_seconds When the data key was last rotated (0: never).\n");
            out.push_str("# TYPE roster_data_key_last_rotation_timestamp_seconds gauge\n");
            let _ = writeln!(
                out,
                "roster_data_key_last_rotation_timestamp_seconds {}",
                rotated.unwrap_or(0)
            );
        }
        let sessions = dir.session_count().unwrap_or(0);
        out.push_str(
            "# HELP roster_console_sessions Console sessions stored (live and not yet pruned).\n",
        );
        out.push_str("# TYPE roster_console_sessions gauge\n");
        let _ = writeln!(out, "roster_console_sessions {sessions}");
        if let Ok(tenants) = dir.list_tenants() {
            out.push_str("# HELP roster_tenant_users Users of a tenant (deleted ones excluded).\n");
            out.push_str("# TYPE roster_tenant_users gauge\n");
            for t in &tenants {
                let _ = writeln!(
                    out,
                    "roster_tenant_users{{tenant=\"{}\"}} {}",
                    esc(&t.tenant.slug),
                    t.users
                );
            }
            out.push_str(
                "# HELP roster_tenant_groups Groups of a tenant (deleted ones excluded).\n",
            );
            out.push_str("# TYPE roster_tenant_groups gauge\n");
            for t in &tenants {
                let _ = writeln!(
                    out,
                    "roster_tenant_groups{{tenant=\"{}\"}} {}",
                    esc(&t.tenant.slug),
                    t.groups
                );
            }
        }
        out
    }
}

/// `GET /metrics`.
pub async fn handler(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    dir: web::Data<Directory>,
) -> HttpResponse {
    if let Some(token) = &metrics.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::directory::same_secret(given, token) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"roster-metrics\""))
                .body("metrics need the bearer token from metrics_token_file\n");
        }
    }
    let body = crate::plumbing::blocking::block(move || metrics.render(&dir))
        .await
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
