//! Integration Configuration → Identity Provider/Single Sign-On (list, Add
//! New, Edit, Cancel, Done, delete), and the sign-in round trip: `start`
//! sends the browser to the IdP, `callback` takes it back. OpenID Connect and
//! OAuth 2.0 are offered; SAML 2.0 is shown but not selectable until it can
//! verify what it accepts.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::{
    Admin, blocking, copy_button, csrf_input, field, layout, page, redirect, settings_tabs,
};
use crate::directory::sso::{FLOW_COOKIE, SsoProtocol, SsoProvider, SsoProviderInput, SsoRefusal};
use crate::directory::{Directory, DirectoryError};

/// Routes of the settings screen and the sign-in round trip.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/sso", web::get().to(list))
        .route("/settings/sso", web::post().to(add))
        .route("/settings/sso/{id}", web::post().to(save))
        .route("/settings/sso/{id}/delete", web::post().to(delete))
        .route("/sso/callback", web::get().to(callback))
        .route("/sso/{id}/start", web::get().to(start));
}

type Form = web::Form<HashMap<String, String>>;

fn value(form: &Form, key: &str) -> String {
    form.get(key).cloned().unwrap_or_default()
}

fn input_of(form: &Form) -> SsoProviderInput {
    SsoProviderInput {
        sign_in_message: value(form, "sign_in_message"),
        allowed_domains: value(form, "allowed_domains"),
        self_signup: form.get("self_signup").is_some_and(|v| v == "on"),
        protocol: value(form, "auth_type"),
        issuer: value(form, "issuer"),
        authorization_url: value(form, "authorization_url"),
        token_url: value(form, "token_url"),
        userinfo_url: value(form, "userinfo_url"),
        email_claim: value(form, "email_claim"),
        client_id: value(form, "client_id"),
        client_secret: value(form, "client_secret"),
        scopes: value(form, "scopes"),
    }
}

fn input_from(p: &SsoProvider) -> SsoProviderInput {
    SsoProviderInput {
        sign_in_message: p.sign_in_message.clone(),
        allowed_domains: p.allowed_domains.join(", "),
        self_signup: p.self_signup,
        protocol: p.protocol.value().to_string(),
        issuer: p.issuer.clone(),
        authorization_url: p.authorization_url.clone(),
        token_url: p.token_url.clone(),
        userinfo_url: p.userinfo_url.clone(),
        email_claim: p.email_claim.clone(),
        client_id: p.client_id.clone(),
        client_secret: String::new(),
        scopes: p.scopes.clone(),
    }
}

/// What the page shows: which form is open, with what typed, and why it failed.
#[derive(Default)]
struct View {
    /// `Some("")` for Add New, `Some(id)` for Edit.
    open: Option<String>,
    draft: SsoProviderInput,
    error: Option<String>,
}

fn provider_form(
    admin: &Admin,
    action: &str,
    draft: &SsoProviderInput,
    editing: bool,
    error: Option<&str>,
    callback: &str,
) -> Markup {
    html! {
        form.sso-form method="post" action=(action) {
            (csrf_input(admin))
            @if let Some(e) = error { p.form-error role="alert" { (e) } }
            div.field {
                label for="f-auth-type" { "Auth Type" }
                select id="f-auth-type" name="auth_type" data-auth-type {
                    @for p in [SsoProtocol::Oidc, SsoProtocol::OAuth] {
                        option value=(p.value()) selected[draft.protocol == p.value() || (draft.protocol.is_empty() && p == SsoProtocol::Oidc)] { (p.label()) }
                    }
                    option value="saml" disabled { "SAML 2.0 (not available yet)" }
                }
            }
            // Both groups are in the page; the script shows the chosen one.
            fieldset.protocol data-protocol="oidc" {
                legend { "OpenID Connect" }
                (field("Issuer (Auth URL)", "issuer", "text", &draft.issuer, None))
                p.hint { "Roster reads <issuer>/.well-known/openid-configuration for the authorization, token and key URLs." }
            }
            fieldset.protocol data-protocol="oauth" {
                legend { "OAuth 2.0" }
                (field("Authorization URL (Auth URL)", "authorization_url", "text", &draft.authorization_url, None))
                (field("Token URL", "token_url", "text", &draft.token_url, None))
                (field("Userinfo URL", "userinfo_url", "text", &draft.userinfo_url, None))
                (field("Email Claim", "email_claim", "text", if draft.email_claim.is_empty() { "email" } else { &draft.email_claim }, None))
                p.hint { "Roster exchanges the code at the Token URL, asks the Userinfo URL with the access token, and signs in the email in this claim (refused when email_verified is false)." }
            }
            (field("Client ID", "client_id", "text", &draft.client_id, None))
            div.field {
                label for="f-client_secret" { "Client Secret" }
                input id="f-client_secret" name="client_secret" type="password" autocomplete="off"
                    placeholder=[editing.then_some("•••••••• (leave empty to keep)")];
            }
            (field("Scopes", "scopes", "text", if draft.scopes.is_empty() { "openid email profile" } else { &draft.scopes }, None))
            (field("Sign-In Message", "sign_in_message", "text", &draft.sign_in_message, None))
            (field("Allowed Domains", "allowed_domains", "text", &draft.allowed_domains, None))
            p.hint { "Only emails in these domains may sign in through this provider (comma-separated)." }
            div.field {
                label for="callback" { "Call Back URL" }
                div.inline {
                    input id="callback" type="text" readonly value=(callback);
                    (copy_button(callback, "Copy Call Back URL"))
                }
                p.hint { "Register this as the redirect URI of the application at your identity provider." }
            }
            div.field {
                label {
                    input type="checkbox" name="self_signup" checked[draft.self_signup];
                    " Self-Service Sign-Up: a first sign-in from an allowed domain creates a Viewer account"
                }
            }
            div.actions {
                button.primary type="submit" { "Done" }
                a.button href="/admin/settings/sso" { "Cancel" }
            }
        }
    }
}

fn sso_page(admin: &Admin, providers: &[SsoProvider], view: &View, callback: &str) -> Markup {
    layout(
        "Identity Provider/Single Sign-On",
        Some(admin),
        html! {
            h1 { "Integration Configuration" }
            (settings_tabs("sso"))
            section.card {
                div.row {
                    h2 { "Identity Provider/Single Sign-On" }
                    @if view.open.is_none() && admin.may("/admin/settings/sso") {
                        a.button.primary href="/admin/settings/sso?add=1" { "Add New" }
                    }
                }
                p.hint { "Admins sign in to this console through these providers; a password sign-in stays available for accounts that have one (the break-glass Owner)." }
                @if providers.is_empty() && view.open.is_none() {
                    p.empty { "No identity provider yet." }
                }
                @for p in providers {
                    article.client {
                        @if view.open.as_deref() == Some(p.id.as_str()) {
                            h3 { "Edit " (p.sign_in_message) }
                            (provider_form(admin, &format!("/admin/settings/sso/{}", p.id), &view.draft, true, view.error.as_deref(), callback))
                        } @else {
                            div.row {
                                h3 { (p.sign_in_message) }
                                @if admin.may("/admin/settings/sso") {
                                    div.actions {
                                        a.button href=(format!("/admin/settings/sso?edit={}", p.id)) { "Edit" }
                                        form.inline-form method="post" action=(format!("/admin/settings/sso/{}/delete", p.id)) {
                                            (csrf_input(admin))
                                            button.danger type="submit" { "Delete" }
                                        }
                                    }
                                }
                            }
                            dl.facts {
                                dt { "Auth Type" } dd { (p.protocol.label()) }
                                @match p.protocol {
                                    SsoProtocol::Oidc => {
                                        dt { "Issuer" } dd { code { (p.issuer) } }
                                    }
                                    SsoProtocol::OAuth => {
                                        dt { "Authorization URL" } dd { code { (p.authorization_url) } }
                                        dt { "Token URL" } dd { code { (p.token_url) } }
                                        dt { "Userinfo URL" } dd { code { (p.userinfo_url) } }
                                        dt { "Email Claim" } dd { code { (p.email_claim) } }
                                    }
                                }
                                dt { "Client ID" } dd { code { (p.client_id) } }
                                dt { "Allowed Domains" } dd { (p.allowed_domains.join(", ")) }
                                dt { "Self-Service Sign-Up" } dd { (if p.self_signup { "On (new accounts are Viewers)" } else { "Off (accounts must exist first)" }) }
                            }
                        }
                    }
                }
                @if view.open.as_deref() == Some("") {
                    article.client {
                        h3 { "Add New" }
                        (provider_form(admin, "/admin/settings/sso", &view.draft, false, view.error.as_deref(), callback))
                    }
                }
            }
        },
    )
}

async fn render(
    admin: &Admin,
    dir: web::Data<Directory>,
    view: View,
    status: StatusCode,
) -> HttpResponse {
    let callback = dir.sso_callback_url();
    match blocking(move || dir.sso_providers()).await {
        Ok(list) => page(status, sso_page(admin, &list, &view, &callback)),
        Err(resp) => resp,
    }
}

async fn list(
    admin: Admin,
    dir: web::Data<Directory>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let mut view = View::default();
    if query.contains_key("add") {
        view.open = Some(String::new());
    } else if let Some(id) = query.get("edit") {
        let d = dir.clone();
        let found = match blocking(move || d.sso_providers()).await {
            Ok(list) => list.into_iter().find(|p| &p.id == id),
            Err(resp) => return resp,
        };
        match found {
            Some(p) => {
                view.draft = input_from(&p);
                view.open = Some(p.id);
            }
            None => return redirect("/admin/settings/sso"),
        }
    }
    render(&admin, dir, view, StatusCode::OK).await
}

async fn store(
    admin: Admin,
    dir: web::Data<Directory>,
    id: Option<String>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let input = input_of(&form);
    let (d, i, actor, typed) = (dir.clone(), id.clone(), admin.actor(), input.clone());
    let saved =
        crate::plumbing::blocking::block(move || d.save_sso_provider(i.as_deref(), &typed, &actor))
            .await;
    match saved {
        Ok(Ok(_)) => redirect("/admin/settings/sso"),
        Ok(Err(DirectoryError::Invalid(m))) => {
            let view = View {
                open: Some(id.unwrap_or_default()),
                draft: SsoProviderInput {
                    client_secret: String::new(),
                    ..input
                },
                error: Some(m),
            };
            render(&admin, dir, view, StatusCode::BAD_REQUEST).await
        }
        Ok(Err(e)) => super::directory_error(e),
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}

async fn add(admin: Admin, dir: web::Data<Directory>, form: Form) -> HttpResponse {
    store(admin, dir, None, form).await
}

async fn save(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    store(admin, dir, Some(path.into_inner()), form).await
}

async fn delete(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let (id, actor) = (path.into_inner(), admin.actor());
    match blocking(move || dir.remove_sso_provider(&id, &actor)).await {
        Ok(()) => redirect("/admin/settings/sso"),
        Err(resp) => resp,
    }
}

fn refused(dir: &Directory, status: StatusCode, why: &str) -> HttpResponse {
    let mut resp = page(
        status,
        super::auth::login_page("", Some(why), &super::auth::sso_buttons(dir)),
    );
    let _ = resp.add_removal_cookie(&Cookie::build(FLOW_COOKIE, "").path("/admin/sso").finish());
    resp
}

async fn start(dir: web::Data<Directory>, path: web::Path<String>) -> HttpResponse {
    let id = path.into_inner();
    let d = dir.clone();
    match crate::plumbing::blocking::block(move || d.sso_begin(&id)).await {
        Ok(Ok((url, browser))) => {
            // Lax: the IdP sends the browser back with a top-level GET from its own site.
            let cookie = Cookie::build(FLOW_COOKIE, browser.to_string())
                .path("/admin/sso")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(dir.public_base().starts_with("https://"))
                .max_age(actix_web::cookie::time::Duration::minutes(10))
                .finish();
            HttpResponse::SeeOther()
                .cookie(cookie)
                .insert_header((actix_web::http::header::LOCATION, url))
                .finish()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "sso sign-in could not start");
            refused(&dir, StatusCode::BAD_GATEWAY, &e.to_string())
        }
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}

async fn callback(
    req: HttpRequest,
    dir: web::Data<Directory>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let state = query.get("state").cloned().unwrap_or_default();
    if let Some(error) = query.get("error") {
        // The IdP said no (the user cancelled, or it refused the client).
        let why = format!("The identity provider refused the sign-in ({error}).");
        return refused(&dir, StatusCode::FORBIDDEN, &why);
    }
    let code = query.get("code").cloned().unwrap_or_default();
    let browser = req
        .cookie(FLOW_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if state.is_empty() || code.is_empty() {
        return refused(&dir, StatusCode::FORBIDDEN, &SsoRefusal::State.to_string());
    }
    let remote = req.peer_addr().map(|a| a.ip().to_string());
    let d = dir.clone();
    match crate::plumbing::blocking::block(move || d.sso_complete(&state, &code, &browser, remote))
        .await
    {
        Ok(Ok((_, session))) => {
            // A page of our own continues to the console: the session cookie is
            // SameSite=Strict, which a redirect still in the IdP's navigation
            // would not send.
            let mut resp = page(
                StatusCode::OK,
                layout(
                    "Signed in",
                    None,
                    html! {
                        meta http-equiv="refresh" content="0;url=/admin/tenants";
                        section.card.narrow {
                            h1 { "Signed in" }
                            p { a href="/admin/tenants" { "Continue to the console" } }
                        }
                    },
                ),
            );
            let _ = resp.add_cookie(&super::auth::session_cookie(&dir, session.id.to_string()));
            let _ = resp
                .add_removal_cookie(&Cookie::build(FLOW_COOKIE, "").path("/admin/sso").finish());
            resp
        }
        Ok(Err(SsoRefusal::Internal(e))) => {
            tracing::error!(error = %e, "sso sign-in failed");
            refused(
                &dir,
                StatusCode::INTERNAL_SERVER_ERROR,
                &SsoRefusal::Internal(e).to_string(),
            )
        }
        Ok(Err(e)) => refused(&dir, StatusCode::FORBIDDEN, &e.to_string()),
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}
