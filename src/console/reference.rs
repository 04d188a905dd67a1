//! Integration Configuration → API reference: the OpenAPI document the server
//! serves at `/api/v1/openapi.json`, rendered for people. The page reads the
//! same document (handed over by the server at start), so the two cannot
//! disagree.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::{Admin, layout, page, settings_tabs};
use crate::directory::events::EVENT_TYPES;

/// The OpenAPI document of the application API.
pub struct ApiDocument(pub Value);

/// Routes of the page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/api-reference", web::get().to(show));
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn operation(path: &str, method: &str, op: &Value) -> Markup {
    let scopes: Vec<&str> = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["bearer"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    html! {
        article.endpoint id=(text(&op["operationId"])) {
            h3 { code { (method.to_uppercase()) " " (path) } }
            p { (text(&op["summary"])) }
            @if !scopes.is_empty() {
                p.muted { "Scope: " @for s in &scopes { code { (s) } " " } }
            }
            @if !params.is_empty() {
                table.data {
                    thead { tr { th { "Parameter" } th { "In" } th { "Type" } th { "Description" } } }
                    tbody {
                        @for p in &params {
                            tr {
                                td { code { (text(&p["name"])) } }
                                td { (text(&p["in"])) }
                                td { (text(&p["schema"]["type"])) }
                                td { (text(&p["description"])) }
                            }
                        }
                    }
                }
            }
            p.muted { "Answers: "
                @if let Some(responses) = op["responses"].as_object() {
                    @for code in responses.keys() { code { (code) } " " }
                }
            }
        }
    }
}

fn reference_page(admin: &Admin, doc: &Value) -> Markup {
    let server = doc["servers"][0]["url"].as_str().unwrap_or_default();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let token = paths.get("/oauth/token");
    layout(
        "API reference",
        Some(admin),
        html! {
            h1 { "Integration Configuration" }
            (settings_tabs("reference"))
            section.card {
                h2 { (text(&doc["info"]["title"])) " " span.muted { (text(&doc["info"]["version"])) } }
                p { (text(&doc["info"]["description"])) }
                p { "Machine-readable: " a href="/api/v1/openapi.json" { code { "/api/v1/openapi.json" } } " (OpenAPI 3.1). Server: " code { (server) } }
            }
            section.card {
                h2 { "Signing in" }
                p { "Create an API client for the tenant under Open API Configuration, then exchange its Client ID and Client Secret Key for an access token and send it as " code { "Authorization: Bearer …" } ". Tokens expire after " code { "expires_in" } " seconds; ask for a new one then." }
                pre { code { "curl -u CLIENT_ID:CLIENT_SECRET -d grant_type=client_credentials " (server) "/oauth/token" } }
                @if let Some(t) = token.and_then(|t| t.get("post")) { (operation("/oauth/token", "post", t)) }
                p { "Errors of the API answer " code { "{\"error\": {\"code\": …, \"message\": …}}" } "; the token endpoint answers per RFC 6749 §5.2 (" code { "invalid_client" } ", " code { "invalid_scope" } ", " code { "unsupported_grant_type" } ")." }
            }
            section.card {
                h2 { "Directory" }
                @for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/api/v1")) {
                    @if let Some(get) = item.get("get") { (operation(path, "get", get)) }
                }
            }
            section.card {
                h2 { "Events" }
                p { "The change feed (" code { "/api/v1/events" } ") and webhooks carry the same events, in commit order. Their types:" }
                ul.columns { @for t in EVENT_TYPES { li { code { (t) } } } }
                h3 { "Webhooks" }
                p { "Each event is POSTed as JSON with the headers " code { "webhook-id" } ", " code { "webhook-timestamp" } " and " code { "webhook-signature" } " (Standard Webhooks). To check a message, take the signing secret without its " code { "whsec_" } " prefix, base64-decode it, compute HMAC-SHA256 over " code { "id.timestamp.body" } " and compare its base64 with the part after " code { "v1," } ". Answer any 2xx to acknowledge; anything else is retried. Deliveries are at least once: deduplicate on " code { "webhook-id" } "." }
            }
        },
    )
}

async fn show(admin: Admin, req: HttpRequest) -> HttpResponse {
    match req.app_data::<web::Data<ApiDocument>>() {
        Some(doc) => page(StatusCode::OK, reference_page(&admin, &doc.0)),
        None => super::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The API reference is served by the running server.",
        ),
    }
}
