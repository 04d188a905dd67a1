//! Admins: every console account, its role, how it signs in and when it last
//! did; Owners change roles here, and Owners and Admins invite single sign-on
//! accounts by email (`roster admin create|set-role|invite` in the CLI).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use super::{Admin, blocking, csrf_input, field, layout, page, redirect};
use crate::directory::{AdminRole, AdminSummary, Directory, DirectoryError};

/// Routes of the screen (changes need Owner: `required_role`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admins", web::get().to(list))
        .route("/admins/invite", web::post().to(invite))
        .route("/admins/{username}/role", web::post().to(set_role));
}

/// What the invite form was sent with, and why it failed.
#[derive(Default)]
struct InviteDraft {
    email: String,
    role: String,
    error: Option<String>,
}

fn invite_form(admin: &Admin, draft: &InviteDraft) -> Markup {
    html! {
        section.card {
            h2 { "Invite admin" }
            p.hint { "The account signs in through an identity provider on the login page, with this email; it has no password. Needed when that provider's Self-Service Sign-Up is off." }
            @if let Some(e) = &draft.error { p.form-error role="alert" { (e) } }
            form method="post" action="/admin/admins/invite" {
                (csrf_input(admin))
                (field("Email", "email", "email", &draft.email, None))
                div.field {
                    label for="f-invite-role" { "Role" }
                    select id="f-invite-role" name="role" {
                        @for r in AdminRole::ALL.into_iter().filter(|r| *r <= admin.role) {
                            option value=(r.as_str()) selected[r.as_str() == draft.role || (draft.role.is_empty() && r == AdminRole::Viewer)] { (r.label()) }
                        }
                    }
                }
                button.primary type="submit" { "Invite" }
            }
        }
    }
}

fn admins_page(
    admin: &Admin,
    admins: &[AdminSummary],
    error: Option<&str>,
    draft: &InviteDraft,
) -> Markup {
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
            @if admin.may("/admin/admins/invite") { (invite_form(admin, draft)) }
        },
    )
}

async fn list(admin: Admin, dir: web::Data<Directory>) -> HttpResponse {
    match blocking(move || dir.admins()).await {
        Ok(admins) => page(
            StatusCode::OK,
            admins_page(&admin, &admins, None, &InviteDraft::default()),
        ),
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
                    admins_page(
                        &admin,
                        &admins,
                        Some(&e.to_string()),
                        &InviteDraft::default(),
                    ),
                ),
                Err(resp) => resp,
            }
        }
        Ok(Err(e)) => super::directory_error(e),
        Err(_) => super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
    }
}

async fn invite(
    admin: Admin,
    dir: web::Data<Directory>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(form.get("csrf").map_or("", String::as_str)) {
        return resp;
    }
    let email = form
        .get("email")
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let role_text = form.get("role").cloned().unwrap_or_default();
    if let Ok(role) = role_text.parse::<AdminRole>()
        && role > admin.role
    {
        return super::error_page(
            StatusCode::FORBIDDEN,
            &format!(
                "Your role ({}) cannot invite an {}. Ask an Owner.",
                admin.role.label(),
                role.label()
            ),
        );
    }
    let (d, who, actor) = (dir.clone(), email.clone(), admin.actor());
    let done = crate::plumbing::blocking::block(move || {
        let role: AdminRole = role_text.parse().map_err(DirectoryError::Invalid)?;
        d.create_sso_admin(&who, role, &actor, false)
    })
    .await;
    let error = match done {
        Ok(Ok(())) => return redirect("/admin/admins"),
        Ok(Err(e @ (DirectoryError::Conflict(_) | DirectoryError::Invalid(_)))) => e.to_string(),
        Ok(Err(e)) => return super::directory_error(e),
        Err(_) => {
            return super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.");
        }
    };
    let draft = InviteDraft {
        email,
        role: form.get("role").cloned().unwrap_or_default(),
        error: Some(error),
    };
    match blocking(move || dir.admins()).await {
        Ok(admins) => page(
            StatusCode::BAD_REQUEST,
            admins_page(&admin, &admins, None, &draft),
        ),
        Err(resp) => resp,
    }
}
