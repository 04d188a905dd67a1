//! The admin console: server-rendered maud pages, one file per screen, one
//! layout and a few components. No inline script or style (the CSP forbids
//! them); `assets/console.css` and `assets/console.js` do the rest.
//!
//! Adding a screen: write a `page(...) -> Markup` in its own file, register its
//! routes in `configure`, and add a `NavItem` to `NAV` if it belongs in the menu.

// Handlers return a finished page as their early exit; boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod admins;
pub mod apps;
pub mod assets;
pub mod auth;
pub mod idp;
pub mod keys;
pub mod people;
pub mod reference;
pub mod sso;
pub mod tenants;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::directory::SessionRecord;
use crate::directory::{AdminRole, Directory, DirectoryError};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "roster_session";

/// The console's Content-Security-Policy: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Routes under `/admin`, and the console's files under `/assets`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    cfg.service(
        web::scope("/admin")
            .wrap(actix_web::middleware::from_fn(console_guard))
            .route("", web::get().to(home))
            .route("/", web::get().to(home))
            .configure(auth::configure)
            .configure(tenants::configure)
            .configure(people::configure)
            .configure(keys::configure)
            .configure(apps::configure)
            .configure(admins::configure)
            .configure(sso::configure)
            .configure(reference::configure),
    );
}

async fn home() -> HttpResponse {
    redirect("/admin/tenants")
}

/// A 303 redirect.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Security headers on every console response; cross-site form posts refused.
async fn console_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let cross_site = req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
    if cross_site {
        let resp = error_page(
            StatusCode::FORBIDDEN,
            "Cross-site form submissions are refused.",
        );
        return Ok(req.into_response(resp));
    }
    let needed = required_role(req.method(), req.path());
    if needed > AdminRole::Viewer
        && let Some(role) = session_role(&req)
        && role < needed
    {
        let resp = error_page(
            StatusCode::FORBIDDEN,
            &format!(
                "Your role ({}) cannot do this: it needs {}. Ask an Owner to change your role.",
                role.label(),
                needed.label()
            ),
        );
        return Ok(req.into_response(resp));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        header::HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::HeaderName::from_static("permissions-policy"),
        header::HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    Ok(res)
}

/// The role an action needs, enforced for every console route before its
/// handler runs. Reading needs a session only (no page shows a secret:
/// revealing one is a POST); changing things needs Admin; keys, sign-in
/// settings and admins need Owner.
pub fn required_role(method: &actix_web::http::Method, path: &str) -> AdminRole {
    use actix_web::http::Method;
    let reads = *method == Method::GET || *method == Method::HEAD;
    let own_session = ["/admin/login", "/admin/logout", "/admin/setup"].contains(&path)
        || path.starts_with("/admin/sso/");
    if reads || own_session {
        AdminRole::Viewer
    } else if path == "/admin/admins/invite" {
        // Admins invite too, below their own role (checked by the handler).
        AdminRole::Admin
    } else if [
        "/admin/settings/keys",
        "/admin/settings/sso",
        "/admin/admins",
    ]
    .iter()
    .any(|p| path.starts_with(p))
    {
        AdminRole::Owner
    } else {
        AdminRole::Admin
    }
}

/// The role of the admin whose session cookie a request carries.
fn session_role(req: &ServiceRequest) -> Option<AdminRole> {
    let dir = req.app_data::<web::Data<Directory>>()?;
    let cookie = req.cookie(SESSION_COOKIE)?;
    let session = dir.session(cookie.value()).ok()??;
    dir.admin_role(&session.admin).ok()?
}

/// The logged-in admin of a request; without one, the handler redirects to login.
pub struct Admin {
    /// Username.
    pub username: String,
    /// The session (with its CSRF token).
    pub session: SessionRecord,
    /// What the admin may do.
    pub role: AdminRole,
}

impl Admin {
    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), HttpResponse> {
        if crate::directory::same_secret(token, &self.session.csrf) {
            Ok(())
        } else {
            Err(error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this console. Reload the page and try again.",
            ))
        }
    }

    /// Whether this admin's role may POST to `path`: pages offer only the
    /// actions `required_role` lets through.
    pub fn may(&self, path: &str) -> bool {
        self.role >= required_role(&actix_web::http::Method::POST, path)
    }

    /// The actor name for audit rows.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.username)
    }
}

/// Why a console request has no admin.
pub struct NotLoggedIn;

impl std::fmt::Debug for NotLoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not logged in")
    }
}

impl std::fmt::Display for NotLoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not logged in")
    }
}

impl actix_web::ResponseError for NotLoggedIn {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        redirect("/admin/login")
    }
}

impl FromRequest for Admin {
    type Error = NotLoggedIn;
    type Future = std::future::Ready<Result<Admin, NotLoggedIn>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let found = (|| {
            let dir = req.app_data::<web::Data<Directory>>()?;
            let cookie = req.cookie(SESSION_COOKIE)?;
            let session = dir.session(cookie.value()).ok()??;
            // A session of a removed account is no session.
            let role = dir.admin_role(&session.admin).ok()??;
            Some(Admin {
                username: session.admin.clone(),
                session,
                role,
            })
        })();
        std::future::ready(found.ok_or(NotLoggedIn))
    }
}

pub use crate::plumbing::throttle::{LOGIN_FAILURES, LoginThrottle};

/// A menu entry.
struct NavItem {
    href: &'static str,
    label: &'static str,
}

const NAV: &[NavItem] = &[
    NavItem {
        href: "/admin/tenants",
        label: "Tenants",
    },
    NavItem {
        href: "/admin/settings/api",
        label: "Integration Configuration",
    },
    NavItem {
        href: "/admin/admins",
        label: "Admins",
    },
];

/// The screens under Integration Configuration, in the seed's order.
const SETTINGS_TABS: &[(&str, &str, &str)] = &[
    ("api", "/admin/settings/api", "Open API Configuration"),
    ("keys", "/admin/settings/keys", "Rotate Encryption Keys"),
    (
        "sso",
        "/admin/settings/sso",
        "Identity Provider/Single Sign-On",
    ),
    (
        "reference",
        "/admin/settings/api-reference",
        "API reference",
    ),
];

/// The tabs of Integration Configuration, `active` marked.
pub fn settings_tabs(active: &str) -> Markup {
    html! {
        nav.tabs aria-label="Integration Configuration" {
            @for (key, href, label) in SETTINGS_TABS {
                a href=(href) aria-current=[(*key == active).then_some("page")] { (label) }
            }
        }
    }
}

/// The page frame: header, menu, main.
pub fn layout(title: &str, admin: Option<&Admin>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Roster" }
                link rel="icon" type="image/svg+xml" href=(asset_url("favicon.svg"));
                link rel="stylesheet" href=(asset_url("console.css"));
                script src=(asset_url("console.js")) defer {}
            }
            body {
                header.topbar {
                    a.brand href="/admin/" { "Roster" }
                    @if let Some(admin) = admin {
                        nav aria-label="Main" {
                            @for item in NAV {
                                a href=(item.href) { (item.label) }
                            }
                        }
                        form.logout method="post" action="/admin/logout" {
                            (csrf_input(admin))
                            span.who { (admin.username) }
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" {
                    @if admin.is_some_and(|a| a.role == AdminRole::Viewer) {
                        p.notice.read-only role="status" { "Read-only access: your role is Viewer." }
                    }
                    (body)
                }
                div.toast id="toast" role="status" aria-live="polite" hidden {}
            }
        }
    }
}

/// The hidden CSRF field every console form carries.
pub fn csrf_input(admin: &Admin) -> Markup {
    html! { input type="hidden" name="csrf" value=(admin.session.csrf); }
}

/// A labelled input with its inline error.
pub fn field(label: &str, name: &str, kind: &str, value: &str, error: Option<&str>) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value)
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| format!("{id}-error"))];
            @if let Some(e) = error {
                p.field-error id=(format!("{id}-error")) { (e) }
            }
        }
    }
}

/// A copy icon button: copies `text`, shows "Copy" on hover and a confirmation after.
pub fn copy_button(text: &str, label: &str) -> Markup {
    html! {
        button.icon type="button" data-copy=(text) data-tooltip="Copy" aria-label=(label) {
            (PreEscaped(ICON_COPY))
        }
    }
}

/// A console page as a response.
pub fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// An error page (no details of internal errors).
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    page(
        status,
        layout(
            "Error",
            None,
            html! {
                section.card {
                    h1 { (status.canonical_reason().unwrap_or("Error")) }
                    p { (message) }
                    p { a href="/admin/" { "Back to the console" } }
                }
            },
        ),
    )
}

/// Maps a domain error to a console page; internal errors are logged, not shown.
pub fn directory_error(e: DirectoryError) -> HttpResponse {
    match e {
        DirectoryError::NotFound(m) => error_page(StatusCode::NOT_FOUND, &m),
        DirectoryError::Conflict(m) | DirectoryError::Invalid(m) => {
            error_page(StatusCode::BAD_REQUEST, &m)
        }
        other if crate::directory::write_failure().is_some() => {
            tracing::error!(error = %other, "console write refused: the store cannot write");
            let (status, message) = match crate::directory::write_failure() {
                Some(crate::directory::WriteFailure::DiskFull) => (
                    StatusCode::INSUFFICIENT_STORAGE,
                    "The data disk is full: this change was not saved. Free space on it; Roster resumes saving changes by itself.",
                ),
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store cannot write to its disk: this change was not saved. The server log has the details.",
                ),
            };
            error_page(status, message)
        }
        other => {
            tracing::error!(error = %other, "console error");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; the server log has the details.",
            )
        }
    }
}

/// Runs blocking directory work off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
) -> Result<T, HttpResponse> {
    match crate::plumbing::blocking::block(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(directory_error(e)),
        Err(_) => Err(error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong; the server log has the details.",
        )),
    }
}

/// URL of an embedded asset, with its content hash for cache busting.
pub fn asset_url(name: &str) -> String {
    match assets::Assets::get(name) {
        Some(file) => {
            let hash = file.metadata.sha256_hash();
            let short: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
            format!("/assets/{name}?v={short}")
        }
        None => format!("/assets/{name}"),
    }
}

const ICON_COPY: &str = r#"<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><rect x="9" y="9" width="11" height="11" rx="2" fill="none" stroke="currentColor" stroke-width="2"/><path d="M5 15V5a2 2 0 0 1 2-2h10" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#;
/// Eye icon (reveal).
pub const ICON_EYE: &str = r#"<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M1 12s4-7 11-7 11 7 11 7-4 7-11 7S1 12 1 12z" fill="none" stroke="currentColor" stroke-width="2"/><circle cx="12" cy="12" r="3" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#;
/// Pencil icon (edit).
pub const ICON_PENCIL: &str = r#"<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M4 20h4L19 9l-4-4L4 16v4z" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#;
