//! Embedded static files: CSS, JS, icons. In debug builds rust-embed reads them
//! from disk, so asset edits need no rebuild.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

/// The files under `assets/`.
#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// Routes `/assets/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{file:.*}", web::get().to(serve));
}

async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(file) = Assets::get(&path) else {
        return HttpResponse::NotFound().body("no such asset");
    };
    let etag: String = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if cached {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    let mime = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    HttpResponse::Ok()
        .content_type(mime)
        .insert_header((header::ETAG, etag))
        // URLs carry the content hash (?v=), so a year of caching is safe.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(file.data.into_owned())
}
