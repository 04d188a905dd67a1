//! The admin console (server-rendered with maud).
//!
//! This build has no console screens yet: `/admin/` says so and points at the
//! CLI, rather than serving a half-working page.

use actix_web::{HttpResponse, web};
use maud::{DOCTYPE, Markup, html};

/// Routes under `/admin`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(index))
        .route("/admin/", web::get().to(index));
}

/// The shared page frame.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Roster" }
            }
            body { main { (body) } }
        }
    }
}

async fn index() -> HttpResponse {
    let page = layout(
        "Console",
        html! {
            h1 { "Roster" }
            p { "Roster is running. The web console is not part of this build yet." }
            p { "Manage tenants, SCIM credentials and keys with the command line: " code { "roster --help" } "." }
        },
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(page.into_string())
}
