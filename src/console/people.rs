//! Users, Groups and the Provisioning log of a tenant.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::tenants::tenant_frame;
use super::{Admin, blocking, csrf_input, page, redirect};
use crate::directory::scim::writes::MembersInAnswer;
use crate::directory::{AuditRecord, EventRecord, TenantRecord};
use crate::directory::{Directory, DirectoryError};
use crate::scim::filter::Resolver;
use crate::scim::query::ListQuery;
use crate::scim::schema::ResourceKind;

/// Rows per list page.
pub const PAGE_SIZE: usize = 25;

/// Routes of the people and log tabs.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants/{slug}/users", web::get().to(users))
        .route("/tenants/{slug}/users/{id}", web::get().to(user_detail))
        .route(
            "/tenants/{slug}/users/{id}/active",
            web::post().to(set_active),
        )
        .route("/tenants/{slug}/groups", web::get().to(groups))
        .route("/tenants/{slug}/groups/{id}", web::get().to(group_detail))
        .route(
            "/tenants/{slug}/groups/{id}/permissions",
            web::post().to(set_permission),
        )
        .route("/tenants/{slug}/log", web::get().to(log));
}

type Query = web::Query<HashMap<String, String>>;

/// The search box takes a SCIM filter, or plain text matched against names and emails.
fn search_filter(kind: ResourceKind, q: &str, resolver: &Resolver<'_>) -> Option<String> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    if let Ok(f) = crate::scim::filter::parse(q)
        && resolver.check(&f).is_ok()
    {
        return Some(q.to_string());
    }
    let lit = Value::String(q.to_string()).to_string();
    Some(match kind {
        ResourceKind::User => {
            format!(
                "userName co {lit} or displayName co {lit} or emails.value co {lit} or name.familyName co {lit}"
            )
        }
        ResourceKind::Group => format!("displayName co {lit}"),
    })
}

struct ListData {
    tenant: TenantRecord,
    body: Value,
    filter: Option<String>,
}

fn list_resources(
    dir: &Directory,
    slug: &str,
    kind: ResourceKind,
    q: &str,
    start: usize,
) -> Result<ListData, DirectoryError> {
    let tenant = dir.tenant(slug)?;
    let ctx = dir.console_scim_context(&tenant);
    let filter = search_filter(kind, q, &ctx.resolver(kind));
    let mut query = ListQuery {
        start_index: start.max(1),
        count: PAGE_SIZE,
        include_deleted: true,
        ..ListQuery::default()
    };
    if let Some(f) = &filter {
        query.filter = crate::scim::filter::parse(f).ok();
    }
    let page = dir
        .scim_list(&ctx, &[kind], &query)
        .map_err(DirectoryError::from)?;
    Ok(ListData {
        tenant,
        body: page.body,
        filter,
    })
}

fn status_of(r: &Value) -> (&'static str, &'static str) {
    if r["meta"]["deleted"].is_string() {
        ("Deleted by IdP", "badge gone")
    } else if r["active"] == json!(false) {
        ("Deactivated", "badge off")
    } else {
        ("Active", "badge ok")
    }
}

fn pager(base: &str, q: &str, body: &Value) -> Markup {
    let total = body["totalResults"].as_u64().unwrap_or(0) as usize;
    let start = body["startIndex"].as_u64().unwrap_or(1) as usize;
    let shown = body["itemsPerPage"].as_u64().unwrap_or(0) as usize;
    let q_enc: String = url_encode(q);
    html! {
        nav.pager aria-label="Pages" {
            span { (if total == 0 { 0 } else { start }) "–" (start + shown - usize::from(shown > 0)) " of " (total) }
            @if start > 1 {
                a href=(format!("{base}?q={q_enc}&start={}", start.saturating_sub(PAGE_SIZE).max(1))) { "Previous" }
            }
            @if start + shown <= total && shown > 0 && start + shown - 1 < total {
                a href=(format!("{base}?q={q_enc}&start={}", start + PAGE_SIZE)) { "Next" }
            }
        }
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn search_box(action: &str, q: &str, hint: &str) -> Markup {
    html! {
        form.search method="get" action=(action) role="search" {
            label for="q" { "Search" }
            div.inline {
                input id="q" name="q" type="search" value=(q) placeholder=(hint);
                button type="submit" { "Search" }
            }
        }
    }
}

/// What a Users or Groups list page shows: the search, the result and its rows.
struct ListPageData {
    q: String,
    data: ListData,
    base: String,
    rows: Vec<Value>,
}

/// Reads `q` and `start` and loads one page of a tenant's users or groups.
async fn load_page(
    dir: web::Data<Directory>,
    path: web::Path<String>,
    query: &Query,
    kind: ResourceKind,
) -> Result<ListPageData, HttpResponse> {
    let slug = path.into_inner();
    let q = query.get("q").cloned().unwrap_or_default();
    let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(1);
    let (s, qq) = (slug.clone(), q.clone());
    let data = blocking(move || list_resources(&dir, &s, kind, &qq, start)).await?;
    let rows = data.body["Resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(ListPageData {
        q,
        data,
        base: format!(
            "/admin/tenants/{slug}/{}",
            kind.endpoint().to_ascii_lowercase()
        ),
        rows,
    })
}

async fn users(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    query: Query,
) -> HttpResponse {
    let ListPageData {
        q,
        data,
        base,
        rows,
    } = match load_page(dir, path, &query, ResourceKind::User).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let body = html! {
        section.card {
            h2 { "Users" }
            (search_box(&base, &q, "Name, email, or a SCIM filter such as active eq false"))
            @if let Some(f) = &data.filter { p.hint { "Filter: " code { (f) } } }
            @if rows.is_empty() {
                p.empty { "No users match." }
            } @else {
                table.data {
                    thead { tr { th { "User name" } th { "Display name" } th { "Email" } th { "Status" } th { "Last change" } } }
                    tbody {
                        @for r in &rows {
                            @let (label, class) = status_of(r);
                            tr {
                                td { a href=(format!("{base}/{}", r["id"].as_str().unwrap_or(""))) { (r["userName"].as_str().unwrap_or("")) } }
                                td { (r["displayName"].as_str().unwrap_or("")) }
                                td { (r["emails"][0]["value"].as_str().unwrap_or("")) }
                                td { span class=(class) { (label) } }
                                td { (r["meta"]["lastModified"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            (pager(&base, &q, &data.body))
        }
    };
    page(
        StatusCode::OK,
        tenant_frame(&admin, &data.tenant, "users", body),
    )
}

fn attribute_rows(value: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if prefix.is_empty() && matches!(k.as_str(), "schemas" | "meta" | "groups") {
                    continue;
                }
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                attribute_rows(v, &name, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                attribute_rows(v, &format!("{prefix}[{i}]"), out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn history_table(events: &[EventRecord]) -> Markup {
    html! {
        @if events.is_empty() {
            p.empty { "No changes recorded." }
        } @else {
            table.data {
                thead { tr { th { "#" } th { "When" } th { "What" } th { "Version" } } }
                tbody {
                    @for e in events.iter().rev() {
                        tr {
                            td { (e.seq) }
                            td { (crate::format_time(e.ts_ms / 1000)) }
                            td { (e.resource_type) " " (e.action) @if let Some(m) = &e.member { " (member " code { (m) } ")" } }
                            td { (e.version) }
                        }
                    }
                }
            }
        }
    }
}

async fn user_detail(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (s, i) = (slug.clone(), id.clone());
    let loaded = blocking(move || {
        let tenant = dir.tenant(&s)?;
        let ctx = dir.console_scim_context(&tenant);
        let (user, history) = dir
            .console_resource(&ctx, ResourceKind::User, &i)
            .map_err(DirectoryError::from)?;
        Ok((tenant, user, history))
    })
    .await;
    let (tenant, user, history) = match loaded {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let (label, class) = status_of(&user);
    let deleted = user["meta"]["deleted"].is_string();
    let active = user["active"] != json!(false);
    let mut rows = Vec::new();
    attribute_rows(&user, "", &mut rows);
    let body = html! {
        p.crumbs { a href=(format!("/admin/tenants/{slug}/users")) { "Users" } " / " (user["userName"].as_str().unwrap_or("")) }
        section.card {
            div.row {
                h2 { (user["userName"].as_str().unwrap_or("")) " " span class=(class) { (label) } }
                @if !deleted {
                    @if admin.may(&format!("/admin/tenants/{slug}/users/{id}/active")) {
                        form method="post" action=(format!("/admin/tenants/{slug}/users/{id}/active")) {
                            (csrf_input(&admin))
                            input type="hidden" name="active" value=(if active { "false" } else { "true" });
                            @if active {
                                button.danger type="submit" { "Deactivate user" }
                            } @else {
                                button.primary type="submit" { "Reactivate user" }
                            }
                        }
                    }
                }
            }
            @if deleted {
                p.muted { "The identity provider deleted this user on " (user["meta"]["deleted"].as_str().unwrap_or("")) ". The record is kept; provisioning the same userName again creates a new user that links here." }
            }
            @if let Some(previous) = user["meta"]["previousId"].as_str() {
                p.muted.recreated { "re-created; previously " a href=(format!("/admin/tenants/{slug}/users/{previous}")) { code { (previous) } } }
            }
            table.data.attributes {
                tbody {
                    @for (k, v) in &rows {
                        tr { th scope="row" { code { (k) } } td { (v) } }
                    }
                }
            }
        }
        section.card {
            h2 { "Groups" }
            @match user["groups"].as_array() {
                Some(groups) if !groups.is_empty() => {
                    ul { @for g in groups { li { (g["display"].as_str().unwrap_or("")) " " code { (g["value"].as_str().unwrap_or("")) } } } }
                }
                _ => { p.empty { "Not a member of any group." } }
            }
        }
        section.card {
            h2 { "Change history" }
            (history_table(&history))
        }
    };
    page(StatusCode::OK, tenant_frame(&admin, &tenant, "users", body))
}

async fn set_active(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(form.get("csrf").map(String::as_str).unwrap_or("")) {
        return resp;
    }
    let (slug, id) = path.into_inner();
    let active = form.get("active").is_some_and(|v| v == "true");
    let (s, i, actor) = (slug.clone(), id.clone(), admin.actor());
    let done = blocking(move || {
        let tenant = dir.tenant(&s)?;
        let ctx = dir.console_scim_context(&tenant);
        let body = json!({
            "schemas": [crate::scim::patch::PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": active}]
        });
        dir.scim_patch(
            &ctx,
            ResourceKind::User,
            &i,
            &body,
            None,
            MembersInAnswer::None,
        )
        .map_err(DirectoryError::from)?;
        let action = if active {
            "user.reactivated"
        } else {
            "user.deactivated"
        };
        dir.audit(crate::directory::audit_row(
            Some(tenant.id),
            &actor,
            action,
            Some(i.clone()),
        ))
    })
    .await;
    match done {
        Ok(()) => redirect(&format!("/admin/tenants/{slug}/users/{id}")),
        Err(resp) => resp,
    }
}

async fn groups(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    query: Query,
) -> HttpResponse {
    let ListPageData {
        q,
        data,
        base,
        rows,
    } = match load_page(dir, path, &query, ResourceKind::Group).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let body = html! {
        section.card {
            h2 { "Groups" }
            (search_box(&base, &q, "Group name or a SCIM filter"))
            @if rows.is_empty() {
                p.empty { "No groups match." }
            } @else {
                table.data {
                    thead { tr { th { "Display name" } th { "Id" } th { "Status" } th { "Last change" } } }
                    tbody {
                        @for r in &rows {
                            @let deleted = r["meta"]["deleted"].is_string();
                            tr {
                                td { a href=(format!("{base}/{}", r["id"].as_str().unwrap_or(""))) { (r["displayName"].as_str().unwrap_or("")) } }
                                td { code { (r["id"].as_str().unwrap_or("")) } }
                                td { @if deleted { span.badge.gone { "Deleted by IdP" } } @else { span.badge.ok { "Active" } } }
                                td { (r["meta"]["lastModified"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            (pager(&base, &q, &data.body))
        }
    };
    page(
        StatusCode::OK,
        tenant_frame(&admin, &data.tenant, "groups", body),
    )
}

/// Members listed on a group's page (the rest are counted).
const MEMBERS_SHOWN: usize = 100;

async fn group_detail(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    group_page(&admin, dir, slug, id, None, StatusCode::OK).await
}

async fn group_page(
    admin: &Admin,
    dir: web::Data<Directory>,
    slug: String,
    id: String,
    error: Option<(String, String)>,
    status: StatusCode,
) -> HttpResponse {
    let (s, i) = (slug.clone(), id.clone());
    let loaded = blocking(move || {
        let tenant = dir.tenant(&s)?;
        let ctx = dir.console_scim_context(&tenant);
        let (group, _) = dir
            .console_resource(&ctx, ResourceKind::Group, &i)
            .map_err(DirectoryError::from)?;
        let permissions = dir
            .roles_of(&tenant)?
            .into_iter()
            .find(|r| r.group_id == i)
            .map(|r| r.permissions)
            .unwrap_or_default();
        let shown: Vec<&str> = group["members"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MEMBERS_SHOWN)
            .filter_map(|m| m["value"].as_str())
            .collect();
        let names = dir.user_names(&tenant, &shown)?;
        let shown: Vec<(String, String)> = shown.iter().map(|s| s.to_string()).zip(names).collect();
        Ok((tenant, group, permissions, shown))
    })
    .await;
    let (tenant, group, permissions, shown) = match loaded {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let name = group["displayName"].as_str().unwrap_or("");
    let deleted = group["meta"]["deleted"].is_string();
    let members = group["members"].as_array().cloned().unwrap_or_default();
    let action = format!("/admin/tenants/{slug}/groups/{id}/permissions");
    let (draft, message) = error.unwrap_or_default();
    let body = html! {
        p.crumbs { a href=(format!("/admin/tenants/{slug}/groups")) { "Groups" } " / " (name) }
        section.card {
            h2 { (name) " " @if deleted { span.badge.gone { "Deleted by IdP" } } @else { span.badge.ok { "Active" } } }
            dl.facts {
                dt { "Id" } dd { code { (id) } }
                @if let Some(x) = group["externalId"].as_str() { dt { "External id" } dd { code { (x) } } }
                dt { "Members" } dd { (members.len()) }
                dt { "Last change" } dd { (group["meta"]["lastModified"].as_str().unwrap_or("")) }
            }
        }
        section.card {
            h2 { "Role permissions" }
            p.hint { "Every group is a role. Applications read a user's effective permissions (the union over their groups, none while deactivated) from the Open API; changes apply at once." }
            @if permissions.is_empty() {
                p.empty { "No permissions on this role yet." }
            } @else {
                ul.chips {
                    @for p in &permissions {
                        li {
                            code { (p) }
                            @if admin.may(&action) {
                                form.inline-form method="post" action=(action) {
                                    (csrf_input(admin))
                                    input type="hidden" name="permission" value=(p);
                                    input type="hidden" name="grant" value="false";
                                    button type="submit" aria-label=(format!("Remove {p}")) { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            @if !deleted {
                @if admin.may(&action) {
                    @if !message.is_empty() { p.form-error role="alert" { (message) } }
                    form method="post" action=(action) {
                        (csrf_input(admin))
                        input type="hidden" name="grant" value="true";
                        (super::field("Permission", "permission", "text", &draft, None))
                        button.primary type="submit" { "Add permission" }
                    }
                }
            }
        }
        section.card {
            h2 { "Members" }
            @if members.is_empty() {
                p.empty { "No members." }
            } @else {
                ul {
                    @for (member, name) in &shown {
                        li { a href=(format!("/admin/tenants/{slug}/users/{member}")) { (if name.is_empty() { member } else { name }) } " " code { (member) } }
                    }
                }
                @if members.len() > MEMBERS_SHOWN {
                    p.muted { "and " (members.len() - MEMBERS_SHOWN) " more." }
                }
            }
        }
    };
    page(status, tenant_frame(admin, &tenant, "groups", body))
}

async fn set_permission(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let csrf = form.get("csrf").cloned().unwrap_or_default();
    if let Err(resp) = admin.check_csrf(&csrf) {
        return resp;
    }
    let (slug, id) = path.into_inner();
    let permission = form.get("permission").cloned().unwrap_or_default();
    let grant = form.get("grant").is_some_and(|g| g == "true");
    let (d, s, i, p, actor) = (
        dir.clone(),
        slug.clone(),
        id.clone(),
        permission.clone(),
        admin.actor(),
    );
    let done =
        crate::plumbing::blocking::block(move || d.set_role_permission(&s, &i, &p, grant, &actor))
            .await;
    match done {
        Ok(Ok(_)) => redirect(&format!("/admin/tenants/{slug}/groups/{id}")),
        Ok(Err(DirectoryError::Invalid(m))) => {
            group_page(
                &admin,
                dir,
                slug,
                id,
                Some((permission, m)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Ok(Err(e)) => super::directory_error(e),
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}

fn log_row(r: &AuditRecord) -> Markup {
    let error = r.outcome != "ok";
    html! {
        li.log-row.error[error] {
            details {
                summary {
                    span.when { (crate::format_time(r.ts)) }
                    @if error { span.badge.off { "Error" } } @else { span.badge.ok { "OK" } }
                    span.what {
                        @if let Some(m) = &r.method { (m) " " code { (r.path.clone().unwrap_or_default()) } } @else { (r.action) }
                    }
                    @if let Some(s) = r.status { span.status { (s) } }
                }
                dl {
                    dt { "Operation" } dd { (r.action) }
                    dt { "Actor" } dd { (r.actor) }
                    @if let Some(s) = r.status { dt { "Response status" } dd { (s) } }
                    @if let Some(l) = r.latency_ms { dt { "Latency" } dd { (format!("{l:.1} ms")) } }
                    @if let Some(c) = &r.credential_id { dt { "Credential" } dd { code { (c) } } }
                    @if let Some(a) = &r.remote { dt { "From" } dd { (a) } }
                    @if let Some(d) = &r.detail { dt { "Details" } dd { (d) } }
                }
            }
        }
    }
}

async fn log(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    query: Query,
) -> HttpResponse {
    let slug = path.into_inner();
    let status = query.get("status").cloned().unwrap_or_else(|| "all".into());
    let op = query.get("op").cloned().unwrap_or_default();
    let (s, st, o) = (slug.clone(), status.clone(), op.clone());
    let loaded = blocking(move || {
        let tenant = dir.tenant(&s)?;
        let rows: Vec<AuditRecord> = dir
            .audit_recent(Some(&s), 2000)?
            .into_iter()
            .filter(|r| match st.as_str() {
                "errors" => r.outcome != "ok",
                "ok" => r.outcome == "ok",
                _ => true,
            })
            .filter(|r| {
                o.is_empty() || r.method.as_deref() == Some(o.as_str()) || r.action.starts_with(&o)
            })
            .take(200)
            .collect();
        Ok((tenant, rows))
    })
    .await;
    let (tenant, rows) = match loaded {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let body = html! {
        section.card {
            h2 { "Provisioning log" }
            p.hint { "Every SCIM request and credential change, newest first. Open a row for its details; secrets are never recorded." }
            form.filters method="get" action=(format!("/admin/tenants/{slug}/log")) {
                div.field {
                    label for="status" { "Status" }
                    select id="status" name="status" {
                        @for (v, l) in [("all", "All"), ("errors", "Errors only"), ("ok", "Successful only")] {
                            option value=(v) selected[status == v] { (l) }
                        }
                    }
                }
                div.field {
                    label for="op" { "Operation" }
                    select id="op" name="op" {
                        @for (v, l) in [("", "Any"), ("GET", "GET"), ("POST", "POST"), ("PUT", "PUT"), ("PATCH", "PATCH"), ("DELETE", "DELETE"), ("token", "Token changes"), ("secret", "Secret changes"), ("scim.", "SCIM activation")] {
                            option value=(v) selected[op == v] { (l) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if rows.is_empty() {
                p.empty { "Nothing recorded yet for this filter." }
            } @else {
                ul.log { @for r in &rows { (log_row(r)) } }
            }
        }
    };
    page(StatusCode::OK, tenant_frame(&admin, &tenant, "log", body))
}
