//! Integration Configuration → Rotate Encryption Keys.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use super::{Admin, blocking, csrf_input, layout, page, settings_tabs};
use crate::directory::DekState;
use crate::directory::{Directory, KeyStatus, RotationReport};

/// Routes of the page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/keys", web::get().to(show))
        .route("/settings/keys/rotate", web::post().to(rotate));
}

fn keys_page(
    admin: &Admin,
    keys: &[KeyStatus],
    rotated_at: Option<i64>,
    fingerprint: &str,
    report: Option<&RotationReport>,
) -> Markup {
    let active = keys.iter().find(|k| k.dek.state == DekState::Active);
    layout(
        "Integration Configuration",
        Some(admin),
        html! {
            h1 { "Integration Configuration" }
            (settings_tabs("keys"))
            @if let Some(r) = report {
                p.notice role="status" {
                    "Encryption key rotated: " (r.resealed) " secret(s) re-encrypted with data key " (r.new_key_id) "."
                }
            }
            section.card {
                h2 { "Rotate Encryption Keys" }
                p { "Every stored secret (SCIM client secrets and other credentials) is encrypted with a data key. Rotating generates a new data key, re-encrypts every secret with it and retires the old key, in one step." }
                dl.facts {
                    dt { "Active data key" } dd { (active.map(|k| k.dek.id.to_string()).unwrap_or_else(|| "-".into())) }
                    dt { "Secrets encrypted" } dd { (active.map(|k| k.secrets).unwrap_or(0)) }
                    dt { "Keys last rotated" } dd id="last-rotated" { (rotated_at.map(crate::format_time).unwrap_or_else(|| "never".into())) }
                    dt { "Master key fingerprint" } dd { code { (fingerprint) } }
                }
                @if admin.may("/admin/settings/keys/rotate") {
                    button.primary type="button" data-open-dialog="rotate-confirm" { "Rotate Encryption Key" }
                    dialog id="rotate-confirm" aria-labelledby="rotate-title" {
                        form method="post" action="/admin/settings/keys/rotate" {
                            (csrf_input(admin))
                            h3 id="rotate-title" { "Rotate the encryption key?" }
                            p { "A new data key is generated and all stored secrets are re-encrypted with it. Tokens and secrets keep working." }
                            div.actions {
                                button.primary type="submit" { "Rotate Encryption Key" }
                                button type="button" data-close-dialog { "Cancel" }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Key history" }
                table.data {
                    thead { tr { th { "Key" } th { "State" } th { "Created" } th { "Retired" } th.num { "Secrets" } } }
                    tbody {
                        @for k in keys.iter().rev() {
                            tr {
                                td { (k.dek.id) }
                                td { @if k.dek.state == DekState::Active { span.badge.ok { "Active" } } @else { span.badge.off { "Retired" } } }
                                td { (crate::format_time(k.dek.created)) }
                                td { (k.dek.retired_at.map(crate::format_time).unwrap_or_default()) }
                                td.num { (k.secrets) }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn render(
    admin: &Admin,
    dir: web::Data<Directory>,
    report: Option<RotationReport>,
) -> HttpResponse {
    let loaded = blocking(move || {
        let (keys, rotated) = dir.key_status()?;
        Ok((keys, rotated, dir.master_fingerprint()))
    })
    .await;
    match loaded {
        Ok((keys, rotated, fp)) => page(
            StatusCode::OK,
            keys_page(admin, &keys, rotated, &fp, report.as_ref()),
        ),
        Err(resp) => resp,
    }
}

async fn show(admin: Admin, dir: web::Data<Directory>) -> HttpResponse {
    render(&admin, dir, None).await
}

async fn rotate(
    admin: Admin,
    dir: web::Data<Directory>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(form.get("csrf").map(String::as_str).unwrap_or("")) {
        return resp;
    }
    let (d, actor) = (dir.clone(), admin.actor());
    match blocking(move || d.rotate_data_key(&actor)).await {
        Ok(report) => render(&admin, dir, Some(report)).await,
        Err(resp) => resp,
    }
}
