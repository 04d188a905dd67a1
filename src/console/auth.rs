//! First-run setup, login and logout.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::{Admin, LoginThrottle, SESSION_COOKIE, blocking, field, layout, page, redirect};
use crate::directory::Directory;

pub use crate::directory::admins::{SETUP_TTL, SetupToken};

/// Routes: /admin/setup, /admin/login, /admin/logout.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(setup_form))
        .route("/setup", web::post().to(setup_submit))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout));
}

/// The console session cookie (HttpOnly, SameSite=Strict, Secure behind https).
pub fn session_cookie(dir: &Directory, value: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(dir.public_base().starts_with("https://"))
        .finish()
}

#[derive(Default)]
struct SetupErrors {
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    confirm: Option<String>,
}

fn setup_page(token: &str, username: &str, errors: &SetupErrors) -> Markup {
    layout(
        "First-run setup",
        None,
        html! {
            section.card.narrow {
                h1 { "Create the first administrator" }
                p { "This link works once. Choose the username and password you will sign in with." }
                @if let Some(e) = &errors.token { p.form-error role="alert" { (e) } }
                form method="post" action="/admin/setup" {
                    input type="hidden" name="token" value=(token);
                    (field("Username", "username", "text", username, errors.username.as_deref()))
                    (field("Password (at least 12 characters)", "password", "password", "", errors.password.as_deref()))
                    (field("Confirm password", "confirm", "password", "", errors.confirm.as_deref()))
                    button.primary type="submit" { "Create administrator" }
                }
            }
        },
    )
}

async fn setup_form(
    dir: web::Data<Directory>,
    setup: web::Data<SetupToken>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let token = query.get("token").cloned().unwrap_or_default();
    let has_admins = blocking(move || dir.has_admins()).await;
    match has_admins {
        Ok(true) => return redirect("/admin/login"),
        Ok(false) => {}
        Err(resp) => return resp,
    }
    if !setup.valid(&token) {
        return super::error_page(
            StatusCode::FORBIDDEN,
            "This setup link is invalid or has expired. Restart the server for a new one, or run `roster admin create`.",
        );
    }
    page(
        StatusCode::OK,
        setup_page(&token, "", &SetupErrors::default()),
    )
}

async fn setup_submit(
    req: HttpRequest,
    dir: web::Data<Directory>,
    setup: web::Data<SetupToken>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (token, username, password, confirm) = (
        get("token"),
        get("username"),
        get("password"),
        get("confirm"),
    );
    let mut errors = SetupErrors::default();
    if !setup.valid(&token) {
        errors.token = Some("This setup link is invalid or has expired.".into());
    }
    if let Err(e) = crate::directory::admins::validate_username(&username) {
        errors.username = Some(e.to_string());
    }
    if let Err(e) = crate::directory::admins::validate_password(&password) {
        errors.password = Some(e.to_string());
    } else if password != confirm {
        errors.confirm = Some("The passwords do not match.".into());
    }
    if errors.token.is_some()
        || errors.username.is_some()
        || errors.password.is_some()
        || errors.confirm.is_some()
    {
        return page(
            StatusCode::BAD_REQUEST,
            setup_page(&token, &username, &errors),
        );
    }
    let remote = req.peer_addr().map(|a| a.ip().to_string());
    let d = dir.clone();
    let name = username.clone();
    let created = blocking(move || {
        if d.has_admins()? {
            return Err(crate::directory::DirectoryError::Conflict(
                "an administrator already exists; sign in instead".into(),
            ));
        }
        d.create_admin(
            &name,
            &password,
            Some(crate::directory::AdminRole::Owner),
            "setup",
        )?;
        d.create_session(&name, "password", remote)
    })
    .await;
    match created {
        Ok(session) => {
            setup.consume();
            HttpResponse::SeeOther()
                .cookie(session_cookie(&dir, session.id.to_string()))
                .insert_header((header::LOCATION, "/admin/tenants"))
                .finish()
        }
        Err(resp) => resp,
    }
}

/// The sign-in buttons of the configured identity providers.
pub fn sso_buttons(dir: &Directory) -> Vec<(String, String)> {
    dir.sso_providers()
        .map(|list| {
            list.into_iter()
                .map(|p| (p.id, p.sign_in_message))
                .collect()
        })
        .unwrap_or_default()
}

/// The login page: a button per identity provider (its Sign-In Message),
/// then the password form (the break-glass way in).
pub fn login_page(username: &str, error: Option<&str>, providers: &[(String, String)]) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.card.narrow {
                h1 { "Sign in to Roster" }
                @if let Some(e) = error { p.form-error role="alert" { (e) } }
                @if !providers.is_empty() {
                    div.sso-buttons {
                        @for (id, label) in providers {
                            a.button.primary href=(format!("/admin/sso/{id}/start")) { (label) }
                        }
                    }
                    p.muted { "or sign in with a password:" }
                }
                form method="post" action="/admin/login" {
                    (field("Username", "username", "text", username, None))
                    (field("Password", "password", "password", "", None))
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

async fn login_form(admin: Option<Admin>, dir: web::Data<Directory>) -> HttpResponse {
    if admin.is_some() {
        return redirect("/admin/tenants");
    }
    page(StatusCode::OK, login_page("", None, &sso_buttons(&dir)))
}

async fn login_submit(
    req: HttpRequest,
    dir: web::Data<Directory>,
    throttle: web::Data<LoginThrottle>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let username = form
        .get("username")
        .cloned()
        .unwrap_or_default()
        .trim()
        .to_string();
    let password = form.get("password").cloned().unwrap_or_default();
    let ip = req.peer_addr().map(|a| a.ip());
    if let Some(ip) = ip
        && let Err(wait) = throttle.check(ip)
    {
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, wait.to_string()))
            .content_type("text/html; charset=utf-8")
            .body(
                login_page(
                    &username,
                    Some(&format!(
                        "Too many failed sign-ins. Try again in {wait} seconds."
                    )),
                    &sso_buttons(&dir),
                )
                .into_string(),
            );
    }
    let d = dir.clone();
    let name = username.clone();
    let remote = ip.map(|i| i.to_string());
    let outcome = blocking(move || {
        if d.verify_admin(&name, &password)? {
            d.create_session(&name, "password", remote).map(Some)
        } else {
            d.audit(crate::directory::audit_row(
                None,
                &format!("admin:{name}"),
                "admin.login_failed",
                None,
            ))?;
            Ok(None)
        }
    })
    .await;
    match outcome {
        Ok(Some(session)) => {
            if let Some(ip) = ip {
                throttle.success(ip);
            }
            HttpResponse::SeeOther()
                .cookie(session_cookie(&dir, session.id.to_string()))
                .insert_header((header::LOCATION, "/admin/tenants"))
                .finish()
        }
        Ok(None) => {
            if let Some(ip) = ip {
                throttle.failure(ip);
            }
            page(
                StatusCode::UNAUTHORIZED,
                login_page(
                    &username,
                    Some("Wrong username or password."),
                    &sso_buttons(&dir),
                ),
            )
        }
        Err(resp) => resp,
    }
}

async fn logout(
    req: HttpRequest,
    admin: Admin,
    dir: web::Data<Directory>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(form.get("csrf").map(String::as_str).unwrap_or("")) {
        return resp;
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let id = cookie.value().to_string();
        if let Err(resp) = blocking(move || dir.delete_session(&id)).await {
            return resp;
        }
    }
    let mut gone = Cookie::new(SESSION_COOKIE, "");
    gone.set_path("/");
    gone.make_removal();
    HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/admin/login"))
        .finish()
}
