//! Integration Configuration → Open API Configuration, per tenant: the API
//! clients applications sign in with (Client ID and Client Secret Key, Edit /
//! Cancel / Save, rotate, revoke) and the webhook endpoints the change feed is
//! delivered to (add, Send test event, Retry, enable/disable, delete, the
//! delivery log). Secrets are shown once, right after they are made: the
//! directory keeps only a hash (clients) or a sealed copy it never shows
//! (webhooks).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, PreEscaped, html};
use zeroize::Zeroizing;

use super::{
    Admin, ICON_EYE, ICON_PENCIL, blocking, copy_button, csrf_input, field, layout, page, redirect,
    settings_tabs,
};
use crate::directory::apps::SCOPES;
use crate::directory::events::EVENT_TYPES;
use crate::directory::webhooks::{DeliveryRecord, WebhookRecord, url_for_display};
use crate::directory::{CredentialRecord, Directory, DirectoryError, TenantRecord};

/// Routes of the screen.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/api", web::get().to(first_tenant))
        .route("/settings/api/{slug}", web::get().to(show))
        .route(
            "/settings/api/{slug}/clients",
            web::post().to(create_client),
        )
        .route(
            "/settings/api/{slug}/clients/{client}",
            web::post().to(save_client),
        )
        .route(
            "/settings/api/{slug}/clients/{client}/rotate",
            web::post().to(rotate_client),
        )
        .route(
            "/settings/api/{slug}/clients/{client}/revoke",
            web::post().to(revoke_client),
        )
        .route("/settings/api/{slug}/webhooks", web::post().to(add_webhook))
        .route(
            "/settings/api/{slug}/webhooks/{id}",
            web::get().to(deliveries),
        )
        .route(
            "/settings/api/{slug}/webhooks/{id}/{action}",
            web::post().to(webhook_action),
        );
}

/// A form with repeated keys (checkbox lists).
type Form = web::Form<Vec<(String, String)>>;
type Query = web::Query<std::collections::HashMap<String, String>>;

fn value(form: &Form, key: &str) -> String {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn values(form: &Form, key: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// A secret to show once, in a dialog opened with the page.
struct ShownOnce {
    title: &'static str,
    id_label: &'static str,
    id: String,
    secret_label: &'static str,
    secret: Zeroizing<String>,
    warning: &'static str,
}

/// What the page shows besides the stored state.
#[derive(Default)]
struct View {
    editing: Option<String>,
    edit_draft: Option<(String, Vec<String>)>,
    edit_error: Option<String>,
    client_draft: Option<(String, Vec<String>)>,
    client_error: Option<String>,
    hook_draft: Option<(String, Vec<String>)>,
    hook_error: Option<String>,
    shown_once: Option<ShownOnce>,
    notice: Option<String>,
}

struct Data {
    tenants: Vec<TenantRecord>,
    tenant: TenantRecord,
    clients: Vec<CredentialRecord>,
    hooks: Vec<(WebhookRecord, Option<DeliveryRecord>)>,
}

fn load(dir: &Directory, slug: &str) -> Result<Data, DirectoryError> {
    let tenant = dir.tenant(slug)?;
    let tenants = dir.list_tenants()?.into_iter().map(|s| s.tenant).collect();
    let clients = dir.apps(slug)?;
    let mut hooks = Vec::new();
    for hook in dir.webhooks(slug)? {
        let last = dir
            .webhook_deliveries(slug, &hook.id, 1)?
            .into_iter()
            .next();
        hooks.push((hook, last));
    }
    Ok(Data {
        tenants,
        tenant,
        clients,
        hooks,
    })
}

fn scope_boxes(name: &str, checked: &[String], disabled: bool) -> Markup {
    html! {
        fieldset.checks disabled[disabled] {
            legend { "Scopes" }
            @for scope in SCOPES {
                label {
                    input type="checkbox" name=(name) value=(scope) checked[checked.iter().any(|c| c == scope)];
                    " " code { (scope) }
                }
            }
        }
    }
}

fn client_row(admin: &Admin, slug: &str, client: &CredentialRecord, view: &View) -> Markup {
    let client_id = client.client_id.clone().unwrap_or_default();
    let editing = view.editing.as_deref() == Some(client_id.as_str());
    let (name, scopes) = match (&view.edit_draft, editing) {
        (Some(draft), true) => draft.clone(),
        _ => (
            client.name.clone().unwrap_or_default(),
            client.scopes.clone(),
        ),
    };
    let action = format!("/admin/settings/api/{slug}/clients/{client_id}");
    html! {
        article.client {
            form method="post" action=(action) {
                (csrf_input(admin))
                div.row {
                    h3 { (client.name.clone().unwrap_or_default()) }
                    @if !editing && admin.may(&action) {
                        a.icon href=(format!("/admin/settings/api/{slug}?edit={client_id}#client-{client_id}"))
                            id=(format!("client-{client_id}")) data-tooltip="Edit" aria-label=(format!("Edit {}", client.name.clone().unwrap_or_default())) {
                            (PreEscaped(ICON_PENCIL))
                        }
                    }
                }
                div.field {
                    label for=(format!("cid-{client_id}")) { "Client ID" }
                    div.inline {
                        input id=(format!("cid-{client_id}")) type="text" readonly value=(client_id);
                        (copy_button(&client_id, "Copy Client ID"))
                    }
                }
                div.field {
                    label for=(format!("csk-{client_id}")) { "Client Secret Key" }
                    div.inline {
                        input id=(format!("csk-{client_id}")) type="text" readonly
                            value=(format!("{} (shown once when made; rotate to get a new one)", client.hint.clone().unwrap_or_default()));
                    }
                    @if client.expires_at.is_some_and(|t| t > crate::now_unix()) && !client.previous_hash.is_empty() {
                        p.hint { "The previous secret keeps working until " (crate::format_time(client.expires_at.unwrap_or_default())) "." }
                    }
                }
                @if editing {
                    (field("Name", "name", "text", &name, None))
                    (scope_boxes("scope", &scopes, false))
                    @if let Some(e) = &view.edit_error { p.form-error role="alert" { (e) } }
                    div.actions {
                        button.primary type="submit" { "Save" }
                        a.button href=(format!("/admin/settings/api/{slug}")) { "Cancel" }
                    }
                } @else {
                    p.muted { "Scopes: " @for s in &client.scopes { code { (s) } " " } " · created " (crate::format_time(client.created)) }
                }
            }
            @if !editing && admin.may(&action) {
                div.actions {
                    button type="button" data-open-dialog=(format!("rotate-{client_id}")) { "Rotate secret" }
                    button.danger type="button" data-open-dialog=(format!("revoke-{client_id}")) { "Revoke" }
                }
                dialog id=(format!("rotate-{client_id}")) aria-labelledby=(format!("rotate-{client_id}-title")) {
                    form method="post" action=(format!("{action}/rotate")) {
                        (csrf_input(admin))
                        h3 id=(format!("rotate-{client_id}-title")) { "Rotate the Client Secret Key?" }
                        p.warning { "A new secret is made and shown once. The old one stops working, now or after the grace period you choose." }
                        div.field {
                            label for=(format!("grace-{client_id}")) { "Keep the old secret working for" }
                            select id=(format!("grace-{client_id}")) name="grace_minutes" {
                                option value="0" { "No grace period (invalidate now)" }
                                option value="60" { "1 hour" }
                                option value="1440" { "24 hours" }
                                option value="10080" { "7 days" }
                            }
                        }
                        div.actions {
                            button.primary type="submit" { "Rotate secret" }
                            button type="button" data-close-dialog { "Cancel" }
                        }
                    }
                }
                dialog id=(format!("revoke-{client_id}")) aria-labelledby=(format!("revoke-{client_id}-title")) {
                    form method="post" action=(format!("{action}/revoke")) {
                        (csrf_input(admin))
                        h3 id=(format!("revoke-{client_id}-title")) { "Revoke " (client.name.clone().unwrap_or_default()) "?" }
                        p.warning { "The client and its access tokens stop working at once. This cannot be undone." }
                        div.actions {
                            button.danger type="submit" { "Revoke" }
                            button type="button" data-close-dialog { "Cancel" }
                        }
                    }
                }
            }
        }
    }
}

fn hook_status(hook: &WebhookRecord) -> Markup {
    html! {
        @if hook.enabled && hook.failures == 0 {
            span.badge.ok { "Enabled" }
        } @else if hook.enabled {
            span.badge.off { "Retrying" }
        } @else if hook.disabled_reason.is_some() {
            span.badge.gone { "Disabled after failures" }
        } @else {
            span.badge.off { "Disabled" }
        }
    }
}

fn delivery_summary(d: &DeliveryRecord) -> String {
    let outcome = match d.status {
        Some(s) => s.to_string(),
        None => "no answer".to_string(),
    };
    format!(
        "{} · {} · {outcome} in {} ms",
        crate::format_time(d.ts_ms / 1000),
        d.event_type,
        d.latency_ms
    )
}

fn hook_row(
    admin: &Admin,
    slug: &str,
    hook: &WebhookRecord,
    last: Option<&DeliveryRecord>,
) -> Markup {
    let base = format!("/admin/settings/api/{slug}/webhooks/{}", hook.id);
    let button_form = |action: &str, label: &str, class: &str| {
        let target = format!("{base}/{action}");
        html! {
            @if admin.may(&target) {
                form.inline-form method="post" action=(target) {
                    (csrf_input(admin))
                    button class=(class) type="submit" { (label) }
                }
            }
        }
    };
    html! {
        tr {
            td { code { (url_for_display(&hook.url)) } }
            td {
                @if hook.event_types.is_empty() { "All events" } @else {
                    @for t in &hook.event_types { code { (t) } " " }
                }
            }
            td { (hook_status(hook)) }
            td {
                @match last {
                    Some(d) => { (delivery_summary(d)) }
                    None => { span.muted { "none yet" } }
                }
                " · " a href=(base) { "Delivery log" }
            }
            td.actions {
                (button_form("test", "Send test event", ""))
                @if hook.enabled && hook.failures > 0 {
                    (button_form("enable", "Retry now", ""))
                } @else if !hook.enabled && hook.disabled_reason.is_some() {
                    (button_form("enable", "Retry", "primary"))
                } @else if !hook.enabled {
                    (button_form("enable", "Enable", ""))
                }
                @if hook.enabled { (button_form("disable", "Disable", "")) }
                (button_form("delete", "Delete", "danger"))
            }
        }
    }
}

fn shown_once_dialog(s: &ShownOnce) -> Markup {
    html! {
        dialog.token-dialog id="secret-dialog" open aria-labelledby="secret-title" {
            h3 id="secret-title" { (s.title) }
            p.warning { (s.warning) }
            div.field {
                label for="once-id" { (s.id_label) }
                div.inline {
                    input id="once-id" type="text" readonly value=(s.id);
                    (copy_button(&s.id, &format!("Copy {}", s.id_label)))
                }
            }
            div.field {
                label for="once-secret" { (s.secret_label) }
                div.inline {
                    input id="once-secret" type="password" readonly value=(s.secret.as_str()) autocomplete="off";
                    button.icon type="button" data-toggle="once-secret" data-tooltip="Show"
                        aria-label=(format!("Show or hide the {}", s.secret_label)) aria-pressed="false" {
                        (PreEscaped(ICON_EYE))
                    }
                    (copy_button(&s.secret, &format!("Copy {}", s.secret_label)))
                }
            }
            div.actions { button type="button" data-close-dialog { "Done" } }
        }
    }
}

fn api_page(admin: &Admin, data: &Data, view: &View) -> Markup {
    let slug = &data.tenant.slug;
    let empty = (String::new(), vec![SCOPES[0].to_string()]);
    let (client_name, client_scopes) = view.client_draft.clone().unwrap_or(empty);
    let (hook_url, hook_types) = view.hook_draft.clone().unwrap_or_default();
    let paused: Vec<&WebhookRecord> = data
        .hooks
        .iter()
        .map(|(h, _)| h)
        .filter(|h| !h.enabled && h.disabled_reason.is_some())
        .collect();
    layout(
        "Open API Configuration",
        Some(admin),
        html! {
            h1 { "Integration Configuration" }
            (settings_tabs("api"))
            form.filters method="get" action="/admin/settings/api" {
                div.field {
                    label for="tenant" { "Tenant" }
                    select id="tenant" name="tenant" {
                        @for t in &data.tenants {
                            option value=(t.slug) selected[t.slug == *slug] { (t.name) }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
            @if let Some(n) = &view.notice { p.notice role="status" { (n) } }
            @for h in &paused {
                p.warning role="alert" {
                    "Webhook endpoint " code { (url_for_display(&h.url)) } " was disabled: "
                    (h.disabled_reason.clone().unwrap_or_default())
                    " Events wait for it; use Retry once the receiver is back."
                }
            }
            section.card {
                h2 { "Open API Configuration" }
                p { "Applications sign in with a Client ID and Client Secret Key (OAuth 2.0 client credentials at "
                    code { "/oauth/token" } ") and read this tenant's directory under " code { "/api/v1/" } ". "
                    a href="/admin/settings/api-reference" { "API reference" } }
                @if data.clients.is_empty() {
                    p.empty { "No API clients yet." }
                }
                @for c in &data.clients { (client_row(admin, slug, c, view)) }
            }
            @if admin.may(&format!("/admin/settings/api/{slug}/clients")) {
                section.card {
                    h2 { "Add API client" }
                    @if let Some(e) = &view.client_error { p.form-error role="alert" { (e) } }
                    form method="post" action=(format!("/admin/settings/api/{slug}/clients")) {
                        (csrf_input(admin))
                        (field("Name", "name", "text", &client_name, None))
                        (scope_boxes("scope", &client_scopes, false))
                        button.primary type="submit" { "Create client" }
                    }
                }
            }
            section.card {
                h2 { "Webhooks" }
                p { "Every change in this tenant is POSTed to each endpoint as JSON, in order, signed per Standard Webhooks ("
                    code { "webhook-id" } ", " code { "webhook-timestamp" } ", " code { "webhook-signature" }
                    "). A failed delivery is retried with growing delays; after the last retry the endpoint is disabled." }
                @if data.hooks.is_empty() {
                    p.empty { "No webhook endpoints yet." }
                } @else {
                    table.data {
                        thead { tr { th { "Endpoint" } th { "Events" } th { "Status" } th { "Last delivery" } th { "" } } }
                        tbody { @for (h, last) in &data.hooks { (hook_row(admin, slug, h, last.as_ref())) } }
                    }
                }
                @if admin.may(&format!("/admin/settings/api/{slug}/webhooks")) {
                    h3 { "Add endpoint" }
                    @if let Some(e) = &view.hook_error { p.form-error role="alert" { (e) } }
                    form method="post" action=(format!("/admin/settings/api/{slug}/webhooks")) {
                        (csrf_input(admin))
                        (field("Endpoint URL", "url", "url", &hook_url, None))
                        fieldset.checks {
                            legend { "Events (none ticked: all)" }
                            @for t in EVENT_TYPES {
                                label {
                                    input type="checkbox" name="event" value=(t) checked[hook_types.iter().any(|c| c == t)];
                                    " " code { (t) }
                                }
                            }
                        }
                        button.primary type="submit" { "Add endpoint" }
                    }
                }
            }
            @if let Some(s) = &view.shown_once { (shown_once_dialog(s)) }
        },
    )
}

async fn render(
    admin: &Admin,
    dir: web::Data<Directory>,
    slug: String,
    view: View,
    status: StatusCode,
) -> HttpResponse {
    match blocking(move || load(&dir, &slug)).await {
        Ok(data) => page(status, api_page(admin, &data, &view)),
        Err(resp) => resp,
    }
}

fn home(slug: &str) -> String {
    format!("/admin/settings/api/{slug}")
}

async fn first_tenant(admin: Admin, dir: web::Data<Directory>, query: Query) -> HttpResponse {
    if let Some(slug) = query.get("tenant") {
        return redirect(&home(slug));
    }
    match blocking(move || dir.list_tenants()).await {
        Ok(tenants) => match tenants.first() {
            Some(s) => redirect(&home(&s.tenant.slug)),
            None => page(
                StatusCode::OK,
                layout(
                    "Open API Configuration",
                    Some(&admin),
                    html! {
                        h1 { "Integration Configuration" }
                        (settings_tabs("api"))
                        section.card {
                            h2 { "Open API Configuration" }
                            p.empty { "API clients and webhooks belong to a tenant. " a href="/admin/tenants" { "Add a tenant" } " first." }
                        }
                    },
                ),
            ),
        },
        Err(resp) => resp,
    }
}

async fn show(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    query: Query,
) -> HttpResponse {
    let view = View {
        editing: query.get("edit").cloned(),
        ..View::default()
    };
    render(&admin, dir, path.into_inner(), view, StatusCode::OK).await
}

/// Runs a change; on a user's mistake (`Invalid`, `Conflict`, `NotFound`)
/// the page comes back with the message where `place` puts it.
async fn change<T: Send + 'static>(
    admin: &Admin,
    dir: &web::Data<Directory>,
    slug: &str,
    work: impl FnOnce(&Directory) -> Result<T, DirectoryError> + Send + 'static,
    place: impl FnOnce(&mut View, String),
) -> Result<T, HttpResponse> {
    let d = dir.clone();
    match crate::plumbing::blocking::block(move || work(&d)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(
            e @ (DirectoryError::Invalid(_)
            | DirectoryError::Conflict(_)
            | DirectoryError::NotFound(_)),
        )) => {
            let mut view = View::default();
            place(&mut view, e.to_string());
            Err(render(
                admin,
                dir.clone(),
                slug.to_string(),
                view,
                StatusCode::BAD_REQUEST,
            )
            .await)
        }
        Ok(Err(e)) => Err(super::directory_error(e)),
        Err(_) => Err(super::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong; the server log has the details.",
        )),
    }
}

async fn create_client(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let slug = path.into_inner();
    let (name, scopes) = (value(&form, "name"), values(&form, "scope"));
    let (s, n, sc, actor) = (slug.clone(), name.clone(), scopes.join(","), admin.actor());
    let draft = (name, scopes);
    let made = change(
        &admin,
        &dir,
        &slug,
        move |d| d.create_app(&s, &n, &sc, &actor),
        |v, e| {
            v.client_error = Some(e);
            v.client_draft = Some(draft);
        },
    )
    .await;
    match made {
        Ok(new) => {
            let view = View {
                shown_once: Some(ShownOnce {
                    title: "Your new API client",
                    id_label: "Client ID",
                    id: new.client_id,
                    secret_label: "Client Secret Key",
                    secret: new.client_secret,
                    warning: "Copy the Client Secret Key now: it will not be shown again.",
                }),
                ..View::default()
            };
            render(&admin, dir, slug, view, StatusCode::OK).await
        }
        Err(resp) => resp,
    }
}

async fn save_client(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let (slug, client) = path.into_inner();
    let (name, scopes) = (value(&form, "name"), values(&form, "scope"));
    let (s, c, n, sc, actor) = (
        slug.clone(),
        client.clone(),
        name.clone(),
        scopes.join(","),
        admin.actor(),
    );
    let draft = (name, scopes);
    let saved = change(
        &admin,
        &dir,
        &slug,
        move |d| d.update_app(&s, &c, &n, &sc, &actor),
        |v, e| {
            v.editing = Some(client);
            v.edit_error = Some(e);
            v.edit_draft = Some(draft);
        },
    )
    .await;
    match saved {
        Ok(record) => {
            let view = View {
                notice: Some(format!(
                    "Saved {}.",
                    record.name.unwrap_or_else(|| "the client".into())
                )),
                ..View::default()
            };
            render(&admin, dir, slug, view, StatusCode::OK).await
        }
        Err(resp) => resp,
    }
}

async fn rotate_client(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let (slug, client) = path.into_inner();
    let grace: f64 = value(&form, "grace_minutes").parse().unwrap_or(0.0);
    let (s, actor) = (slug.clone(), admin.actor());
    let rotated = change(
        &admin,
        &dir,
        &slug,
        move |d| d.rotate_app(&s, &client, grace, &actor),
        |v, e| v.notice = Some(e),
    )
    .await;
    match rotated {
        Ok(new) => {
            let view = View {
                shown_once: Some(ShownOnce {
                    title: "New Client Secret Key",
                    id_label: "Client ID",
                    id: new.client_id,
                    secret_label: "Client Secret Key",
                    secret: new.client_secret,
                    warning: "Copy the new Client Secret Key now: it will not be shown again.",
                }),
                ..View::default()
            };
            render(&admin, dir, slug, view, StatusCode::OK).await
        }
        Err(resp) => resp,
    }
}

async fn revoke_client(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let (slug, client) = path.into_inner();
    let (s, actor) = (slug.clone(), admin.actor());
    match blocking(move || dir.revoke_app(&s, &client, &actor)).await {
        Ok(()) => redirect(&home(&slug)),
        Err(resp) => resp,
    }
}

async fn add_webhook(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let slug = path.into_inner();
    let (url, types) = (value(&form, "url"), values(&form, "event"));
    let (s, u, t, actor) = (slug.clone(), url.clone(), types.join(","), admin.actor());
    let draft = (url, types);
    let made = change(
        &admin,
        &dir,
        &slug,
        move |d| d.create_webhook(&s, &u, &t, &actor),
        |v, e| {
            v.hook_error = Some(e);
            v.hook_draft = Some(draft);
        },
    )
    .await;
    match made {
        Ok(new) => {
            let view = View {
                shown_once: Some(ShownOnce {
                    title: "Your new webhook endpoint",
                    id_label: "Endpoint ID",
                    id: new.record.id,
                    secret_label: "Signing secret",
                    secret: new.secret,
                    warning: "Copy the signing secret now: your receiver needs it to check signatures, and it will not be shown again.",
                }),
                ..View::default()
            };
            render(&admin, dir, slug, view, StatusCode::OK).await
        }
        Err(resp) => resp,
    }
}

async fn webhook_action(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String, String)>,
    form: Form,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(&value(&form, "csrf")) {
        return resp;
    }
    let (slug, id, action) = path.into_inner();
    let (s, actor) = (slug.clone(), admin.actor());
    let notice = change(
        &admin,
        &dir,
        &slug,
        move |d| match action.as_str() {
            "test" => d.send_test_webhook(&s, &id, &actor).map(|r| {
                Some(match (r.ok, r.status) {
                    (true, Some(code)) => {
                        format!("Test event delivered: the receiver answered {code}.")
                    }
                    (false, Some(code)) => format!(
                        "Test event not accepted: the receiver answered {code}. {}",
                        r.excerpt
                    ),
                    (_, None) => format!("Test event not delivered: {}", r.excerpt),
                })
            }),
            "enable" => d.set_webhook_enabled(&s, &id, true, &actor).map(|_| None),
            "disable" => d.set_webhook_enabled(&s, &id, false, &actor).map(|_| None),
            "delete" => d.remove_webhook(&s, &id, &actor).map(|_| None),
            other => Err(DirectoryError::NotFound(format!(
                "no webhook action {other:?}"
            ))),
        },
        |v, e| v.notice = Some(e),
    )
    .await;
    match notice {
        Ok(None) => redirect(&home(&slug)),
        Ok(Some(n)) => {
            let view = View {
                notice: Some(n),
                ..View::default()
            };
            render(&admin, dir, slug, view, StatusCode::OK).await
        }
        Err(resp) => resp,
    }
}

async fn deliveries(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (s, i) = (slug.clone(), id.clone());
    let loaded = blocking(move || {
        let hook = dir.webhook(&s, &i)?;
        let rows = dir.webhook_deliveries(&s, &i, 200)?;
        Ok((hook, rows))
    })
    .await;
    let (hook, rows) = match loaded {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    page(
        StatusCode::OK,
        layout(
            "Delivery log",
            Some(&admin),
            html! {
                p.crumbs { a href=(home(&slug)) { "Open API Configuration" } " / " (url_for_display(&hook.url)) }
                h1 { "Delivery log " (hook_status(&hook)) }
                @if let Some(reason) = &hook.disabled_reason { p.warning role="alert" { (reason) } }
                section.card {
                    p.hint { "The newest 200 attempts, newest first: what was sent, what the receiver answered, and how long it took." }
                    @if rows.is_empty() {
                        p.empty { "Nothing delivered yet." }
                    } @else {
                        table.data {
                            thead { tr { th { "When" } th { "Event" } th { "Message id" } th.num { "Attempt" } th { "Status" } th.num { "Latency" } th { "Response" } } }
                            tbody {
                                @for d in &rows {
                                    tr {
                                        td { (crate::format_time(d.ts_ms / 1000)) }
                                        td { code { (d.event_type) } }
                                        td { code { (d.message) } }
                                        td.num { (d.attempt) }
                                        td {
                                            @match d.status {
                                                Some(s) if d.ok => { span.badge.ok { (s) } }
                                                Some(s) => { span.badge.gone { (s) } }
                                                None => { span.badge.gone { "no answer" } }
                                            }
                                        }
                                        td.num { (d.latency_ms) " ms" }
                                        td { code { (d.excerpt) } }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        ),
    )
}
