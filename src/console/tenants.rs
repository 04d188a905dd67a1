//! Tenants (integrations): the list, "Add tenant", and the tenant page with its
//! SCIM tab (activation, credentials, tokens).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, PreEscaped, html};
use serde_json::json;
use zeroize::Zeroizing;

use super::{
    Admin, ICON_EYE, ICON_PENCIL, blocking, copy_button, csrf_input, field, layout, page, redirect,
};
use crate::directory::tenants::TenantSummary;
use crate::directory::{CredentialRecord, TenantRecord};
use crate::directory::{Directory, DirectoryError};

/// Routes of the tenant screens.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants", web::get().to(list))
        .route("/tenants", web::post().to(create))
        .route("/tenants/{slug}", web::get().to(open_tenant))
        .route("/tenants/{slug}/scim", web::get().to(scim_tab))
        .route("/tenants/{slug}/scim/activate", web::post().to(activate))
        .route(
            "/tenants/{slug}/scim/deactivate",
            web::post().to(deactivate),
        )
        .route("/tenants/{slug}/token", web::post().to(generate_token))
        .route("/tenants/{slug}/secret", web::post().to(save_secret))
        .route(
            "/tenants/{slug}/secret/reveal",
            web::post().to(reveal_secret),
        )
        .configure(super::idp::configure);
}

type Form = web::Form<HashMap<String, String>>;

fn form_value(form: &Form, key: &str) -> String {
    form.get(key).cloned().unwrap_or_default()
}

fn status_badge(active: bool) -> Markup {
    html! {
        @if active { span.badge.ok { "Active" } } @else { span.badge.off { "Inactive" } }
    }
}

fn list_page(
    admin: &Admin,
    tenants: &[TenantSummary],
    form: (&str, &str),
    error: Option<&str>,
) -> Markup {
    layout(
        "Tenants",
        Some(admin),
        html! {
            h1 { "Tenants" }
            section.card {
                @if tenants.is_empty() {
                    p.empty { "No tenants yet. Add one for each identity provider integration." }
                } @else {
                    table.data {
                        thead { tr { th { "Name" } th { "Slug" } th { "Identity provider" } th { "SCIM" } th.num { "Users" } th.num { "Groups" } } }
                        tbody {
                            @for s in tenants {
                                tr {
                                    td { a href=(format!("/admin/tenants/{}/scim", s.tenant.slug)) { (s.tenant.name) } }
                                    td { code { (s.tenant.slug) } }
                                    td { (super::idp::label(s.tenant.idp.as_str())) }
                                    td { (status_badge(s.tenant.scim_active)) }
                                    td.num { (s.users) }
                                    td.num { (s.groups) }
                                }
                            }
                        }
                    }
                }
            }
            @if admin.role > crate::directory::AdminRole::Viewer {
            section.card {
                h2 { "Add tenant" }
                @if let Some(e) = error { p.form-error role="alert" { (e) } }
                form method="post" action="/admin/tenants" {
                    (csrf_input(admin))
                    (field("Name", "name", "text", form.0, None))
                    div.field {
                        label for="f-idp" { "Identity provider" }
                        select id="f-idp" name="idp" {
                            @for (value, label) in super::idp::CHOICES {
                                option value=(value) selected[*value == form.1] { (label) }
                            }
                        }
                    }
                    button.primary type="submit" { "Add tenant" }
                }
            }
            }
        },
    )
}

async fn list(admin: Admin, dir: web::Data<Directory>) -> HttpResponse {
    match blocking(move || dir.list_tenants()).await {
        Ok(tenants) => page(
            StatusCode::OK,
            list_page(&admin, &tenants, ("", "generic"), None),
        ),
        Err(resp) => resp,
    }
}

async fn create(admin: Admin, dir: web::Data<Directory>, form: Form) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&form_value(&form, "csrf")) {
        return resp;
    }
    let name = form_value(&form, "name");
    let idp = form_value(&form, "idp");
    let d = dir.clone();
    let (n, i, actor) = (name.clone(), idp.clone(), admin.actor());
    match crate::plumbing::blocking::block(move || {
        let idp = i.parse().map_err(DirectoryError::Invalid)?;
        d.create_tenant(&n, None, Some(idp), &actor)
    })
    .await
    {
        Ok(Ok(tenant)) => redirect(&format!("/admin/tenants/{}/scim", tenant.slug)),
        Ok(Err(e)) => {
            // Keep what was typed and show the problem beside the form.
            let tenants = match blocking(move || dir.list_tenants()).await {
                Ok(t) => t,
                Err(resp) => return resp,
            };
            page(
                StatusCode::BAD_REQUEST,
                list_page(&admin, &tenants, (&name, &idp), Some(&e.to_string())),
            )
        }
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}

async fn open_tenant(path: web::Path<String>) -> HttpResponse {
    redirect(&format!("/admin/tenants/{}/scim", path.into_inner()))
}

/// The tabs of a tenant page.
pub const TABS: &[(&str, &str)] = &[
    ("scim", "SCIM"),
    ("idp", "Identity provider"),
    ("users", "Users"),
    ("groups", "Groups"),
    ("log", "Provisioning log"),
];

/// The tenant page frame: title, status and tabs around one tab's content.
pub fn tenant_frame(admin: &Admin, tenant: &TenantRecord, active: &str, body: Markup) -> Markup {
    layout(
        &tenant.name,
        Some(admin),
        html! {
            p.crumbs { a href="/admin/tenants" { "Tenants" } " / " (tenant.name) }
            h1 { (tenant.name) " " (status_badge(tenant.scim_active)) }
            nav.tabs aria-label="Tenant" {
                @for (key, label) in TABS {
                    a href=(format!("/admin/tenants/{}/{key}", tenant.slug))
                        aria-current=[(*key == active).then_some("page")] { (label) }
                }
            }
            (body)
        },
    )
}

/// What the SCIM tab shows besides the stored state.
#[derive(Default)]
struct ScimView {
    new_token: Option<Zeroizing<String>>,
    secret_error: Option<String>,
    secret_draft: Option<String>,
    notice: Option<String>,
}

struct ScimData {
    tenant: TenantRecord,
    client_id: String,
    endpoint: String,
    tokens: Vec<CredentialRecord>,
}

fn load_scim(dir: &Directory, slug: &str) -> Result<ScimData, crate::directory::DirectoryError> {
    let tenant = dir.tenant(slug)?;
    let creds = dir.basic_credentials(slug, false, "console")?;
    let tokens = dir.tokens(slug)?;
    Ok(ScimData {
        tenant,
        client_id: creds.client_id,
        endpoint: creds.endpoint,
        tokens,
    })
}

fn scim_page(admin: &Admin, data: &ScimData, view: &ScimView, bookmark: &str) -> Markup {
    let slug = &data.tenant.slug;
    let now = crate::now_unix();
    let live_tokens: Vec<&CredentialRecord> = data
        .tokens
        .iter()
        .filter(|t| t.expires_at.is_none_or(|e| e > now))
        .collect();
    let body = html! {
        @if let Some(n) = &view.notice { p.notice role="status" { (n) } }
        section.card {
            div.row {
                h2 { "SCIM provisioning" }
                @if data.tenant.scim_active {
                    @if admin.may(&format!("/admin/tenants/{slug}/scim/deactivate")) {
                        form method="post" action=(format!("/admin/tenants/{slug}/scim/deactivate")) {
                            (csrf_input(admin))
                            button.danger type="submit" { "Deactivate SCIM" }
                        }
                    }
                } @else {
                    @if admin.may(&format!("/admin/tenants/{slug}/scim/activate")) {
                        form method="post" action=(format!("/admin/tenants/{slug}/scim/activate")) {
                            (csrf_input(admin))
                            button.primary type="submit" { "Activate SCIM" }
                        }
                    }
                }
            }
            @if !data.tenant.scim_active {
                p.muted { "SCIM is inactive: requests are refused, and the credentials below are kept for when you activate it again." }
            }
            div.field {
                label for="endpoint" { "SCIM API Endpoint" }
                div.inline {
                    input id="endpoint" type="text" readonly value=(data.endpoint);
                    (copy_button(&data.endpoint, "Copy SCIM API Endpoint"))
                }
                p.hint { "Generated from the server's public URL; it cannot be edited." }
            }
            div.field {
                label for="client-id" { "Client ID" }
                div.inline {
                    input id="client-id" type="text" readonly value=(data.client_id);
                    (copy_button(&data.client_id, "Copy Client ID"))
                }
            }
            form.secret-form method="post" action=(format!("/admin/tenants/{slug}/secret"))
                data-editing=[view.secret_draft.as_ref().map(|_| "true")] {
                (csrf_input(admin))
                div.field {
                    label for="secret" { "Secret Key" }
                    div.inline {
                        @if let Some(draft) = &view.secret_draft {
                            input id="secret" name="secret" type="text" value=(draft) autocomplete="off"
                                aria-invalid="true" aria-describedby="secret-error";
                        } @else {
                            input id="secret" name="secret" type="password" readonly value="••••••••••••••••"
                                autocomplete="off" data-masked="true";
                        }
                        @if admin.may(&format!("/admin/tenants/{slug}/secret/reveal")) {
                            button.icon type="button" data-reveal=(format!("/admin/tenants/{slug}/secret/reveal"))
                                data-target="secret" data-tooltip="Show" aria-label="Show or hide the Secret Key" aria-pressed="false" {
                                (PreEscaped(ICON_EYE))
                            }
                        }
                        @if admin.may(&format!("/admin/tenants/{slug}/secret")) {
                            button.icon type="button" data-edit="secret" data-tooltip="Edit" aria-label="Edit the Secret Key" {
                                (PreEscaped(ICON_PENCIL))
                            }
                        }
                    }
                    @if let Some(e) = &view.secret_error { p.field-error id="secret-error" { (e) } }
                }
                @if admin.may(&format!("/admin/tenants/{slug}/secret")) {
                    div.actions.edit-actions hidden[view.secret_draft.is_none()] {
                        button.primary type="submit" data-save disabled[view.secret_draft.is_none()] { "Save Changes" }
                        button type="button" data-cancel { "Cancel" }
                    }
                }
            }
            @if admin.may(&format!("/admin/tenants/{slug}/secret/reveal")) {
                div.actions {
                    button type="button" data-connectivity=(format!("/admin/tenants/{slug}/secret/reveal"))
                        data-endpoint=(data.endpoint) data-client-id=(data.client_id) {
                        "Copy SCIM Connectivity Details"
                    }
                }
            }
        }
        section.card {
            h2 { "Bearer token" }
            @if live_tokens.is_empty() {
                p.muted { "No token yet. Generate one and paste it into your identity provider." }
            } @else {
                table.data {
                    thead { tr { th { "Token" } th { "Created" } th { "Expires" } } }
                    tbody {
                        @for t in &live_tokens {
                            tr {
                                td { code { (t.hint.clone().unwrap_or_default()) } }
                                td { (crate::format_time(t.created)) }
                                td { (t.expires_at.map(crate::format_time).unwrap_or_else(|| "never".into())) }
                            }
                        }
                    }
                }
            }
            @let label = if live_tokens.is_empty() { "Generate token" } else { "Generate new token" };
            @if admin.may(&format!("/admin/tenants/{slug}/token")) {
                button.primary type="button" data-open-dialog="token-confirm" { (label) }
                dialog id="token-confirm" aria-labelledby="token-confirm-title" {
                    form method="post" action=(format!("/admin/tenants/{slug}/token")) {
                        (csrf_input(admin))
                        h3 id="token-confirm-title" { (label) }
                        @if !live_tokens.is_empty() {
                            p.warning { "Generating a new token invalidates the current one. Your identity provider stops provisioning until you paste the new token into it." }
                            div.field {
                                label for="grace" { "Keep the old token working for" }
                                select id="grace" name="grace_minutes" {
                                    option value="0" { "No grace period (invalidate now)" }
                                    option value="60" { "1 hour" }
                                    option value="1440" { "24 hours" }
                                    option value="10080" { "7 days" }
                                }
                            }
                        }
                        p { "The token is shown once, right after it is generated." }
                        div.actions {
                            button.primary type="submit" { (label) }
                            button type="button" data-close-dialog { "Cancel" }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Bookmark URL" }
            div.inline {
                input id="bookmark" type="text" readonly value=(bookmark) aria-label="Bookmark URL";
                (copy_button(bookmark, "Copy Bookmark URL"))
            }
            p.hint { "A direct link to this page, for your identity provider's app tile or your notes." }
        }
        @if let Some(token) = &view.new_token {
            dialog.token-dialog id="token-dialog" open aria-labelledby="token-title" {
                h3 id="token-title" { "Your new SCIM token" }
                p.warning { "Copy it now: this token will not be shown again. Generating another token invalidates this one." }
                div.inline {
                    input id="new-token" type="text" readonly value=(token.as_str()) aria-label="New token";
                    (copy_button(token, "Copy token"))
                }
                div.actions { button type="button" data-close-dialog { "Done" } }
            }
        }
    };
    tenant_frame(admin, &data.tenant, "scim", body)
}

fn bookmark(dir: &Directory, slug: &str) -> String {
    format!("{}/admin/tenants/{slug}/scim", dir.public_base())
}

async fn render_scim(
    admin: &Admin,
    dir: web::Data<Directory>,
    slug: String,
    view: ScimView,
    status: StatusCode,
) -> HttpResponse {
    let d = dir.clone();
    let s = slug.clone();
    match blocking(move || load_scim(&d, &s)).await {
        Ok(data) => page(
            status,
            scim_page(admin, &data, &view, &bookmark(&dir, &slug)),
        ),
        Err(resp) => resp,
    }
}

async fn scim_tab(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    render_scim(
        &admin,
        dir,
        path.into_inner(),
        ScimView::default(),
        StatusCode::OK,
    )
    .await
}

async fn set_active(
    admin: Admin,
    dir: web::Data<Directory>,
    slug: String,
    form: Form,
    active: bool,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&form_value(&form, "csrf")) {
        return resp;
    }
    let actor = admin.actor();
    let s = slug.clone();
    match blocking(move || dir.set_scim_active(&s, active, &actor)).await {
        Ok(_) => redirect(&format!("/admin/tenants/{slug}/scim")),
        Err(resp) => resp,
    }
}

async fn activate(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    set_active(admin, dir, path.into_inner(), form, true).await
}

async fn deactivate(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    set_active(admin, dir, path.into_inner(), form, false).await
}

async fn generate_token(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&form_value(&form, "csrf")) {
        return resp;
    }
    let slug = path.into_inner();
    let grace: f64 = form_value(&form, "grace_minutes").parse().unwrap_or(0.0);
    let (d, s, actor) = (dir.clone(), slug.clone(), admin.actor());
    match blocking(move || d.create_token(&s, grace, &actor)).await {
        Ok(new) => {
            let view = ScimView {
                new_token: Some(new.token),
                ..ScimView::default()
            };
            render_scim(&admin, dir, slug, view, StatusCode::OK).await
        }
        Err(resp) => resp,
    }
}

async fn save_secret(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&form_value(&form, "csrf")) {
        return resp;
    }
    let slug = path.into_inner();
    let secret = form_value(&form, "secret");
    let (d, s, actor, value) = (dir.clone(), slug.clone(), admin.actor(), secret.clone());
    match crate::plumbing::blocking::block(move || d.set_basic_secret(&s, &value, &actor)).await {
        Ok(Ok(())) => {
            let view = ScimView {
                notice: Some("Secret Key saved. Update it in your identity provider.".into()),
                ..ScimView::default()
            };
            render_scim(&admin, dir, slug, view, StatusCode::OK).await
        }
        Ok(Err(e)) => {
            // The typed value stays in the field, with the reason beside it.
            let view = ScimView {
                secret_error: Some(e.to_string()),
                secret_draft: Some(secret),
                ..ScimView::default()
            };
            render_scim(&admin, dir, slug, view, StatusCode::BAD_REQUEST).await
        }
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}

/// Reveals the Secret Key (eye icon, connectivity copy); audited, CSRF-protected, no-store.
async fn reveal_secret(
    req: HttpRequest,
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(resp) = admin.check_csrf(token) {
        return resp;
    }
    let slug = path.into_inner();
    let actor = admin.actor();
    match blocking(move || dir.basic_credentials(&slug, true, &actor)).await {
        Ok(creds) => {
            let secret = creds.secret.map(|s| s.to_string()).unwrap_or_default();
            HttpResponse::Ok().content_type("application/json").body(
                json!({"secret": secret, "clientId": creds.client_id, "endpoint": creds.endpoint})
                    .to_string(),
            )
        }
        Err(resp) => resp,
    }
}
