//! Admins: every console account, its role, how it signs in and when it last
//! did; Owners change roles here (`roster admin create|set-role` in the CLI).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use super::{Admin, blocking, csrf_input, layout, page, redirect};
use crate::directory::{AdminRole, AdminSummary, Directory, DirectoryError};

/// Routes of the screen (changes need Owner: `required_role`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admins", web::get().to(list))
        .route("/admins/{username}/role", web::post().to(set_role));
}

fn admins_page(admin: &Admin, admins: &[AdminSummary], error: Option<&str>) -> Markup {
    let owner = admin.role == AdminRole::Owner;
    layout(
        "Admins",
        Some(admin),
        html! {
            h1 { "Admins" }
            @if let Some(e) = error { p.form-error role="alert" { (e) } }
            section.card {
                p.hint { "Owner: everything, including key rotation, sign-in settings and admins. Admin: tenants, credentials, API clients, webhooks, users, groups and roles. Viewer: reads everything but secrets, changes nothing." }
                table.data {
                    thead { tr { th { "Username" } th { "Role" } th { "Signs in with" } th { "Last sign-in" } th { "Created" } } }
                    tbody {
                        @for a in admins {
                            tr {
                                td { (a.username) @if a.username == admin.username { " (you)" } }
                                td {
                                    @if owner {
                                        form.inline-form method="post" action=(format!("/admin/admins/{}/role", a.username)) {
                                            (csrf_input(admin))
                                            select name="role" aria-label=(format!("Role of {}", a.username)) {
                                                @for r in AdminRole::ALL {
                                                    option value=(r.as_str()) selected[r == a.role] { (r.label()) }
                                                }
                                            }
                                            " "
                                            button type="submit" { "Change" }
                                        }
                                    } @else {
                                        (a.role.label())
                                    }
                                }
                                td {
                                    @match a.sign_in_method.as_deref() {
                                        Some(m) if m.starts_with("sso:") => { "Single sign-on" }
                                        _ if a.password => { "Password" }
                                        _ => { "Single sign-on" }
                                    }
                                }
                                td { (a.last_sign_in.map(crate::format_time).unwrap_or_else(|| "never".into())) }
                                td { (crate::format_time(a.created)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn list(admin: Admin, dir: web::Data<Directory>) -> HttpResponse {
    match blocking(move || dir.admins()).await {
        Ok(admins) => page(StatusCode::OK, admins_page(&admin, &admins, None)),
        Err(resp) => resp,
    }
}

async fn set_role(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(form.get("csrf").map_or("", String::as_str)) {
        return resp;
    }
    let username = path.into_inner();
    let role = form.get("role").cloned().unwrap_or_default();
    let actor = admin.actor();
    let d = dir.clone();
    let changed = crate::plumbing::blocking::block(move || {
        let role: AdminRole = role.parse().map_err(DirectoryError::Invalid)?;
        d.set_admin_role(&username, role, &actor)
    })
    .await;
    match changed {
        Ok(Ok(())) => redirect("/admin/admins"),
        Ok(Err(e @ (DirectoryError::Conflict(_) | DirectoryError::Invalid(_)))) => {
            match blocking(move || dir.admins()).await {
                Ok(admins) => page(
                    StatusCode::BAD_REQUEST,
                    admins_page(&admin, &admins, Some(&e.to_string())),
                ),
                Err(resp) => resp,
            }
        }
        Ok(Err(e)) => super::directory_error(e),
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}
