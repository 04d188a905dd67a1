//! The SCIM surface: authentication in front of every route, then thin handlers.

use std::time::Instant;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, web};

use super::throttle::AuthThrottle;
use crate::directory::{AuthFailure, Directory, ScimPrincipal};
use crate::scim::SCIM_MEDIA_TYPE;
use crate::scim::discovery::service_provider_config;
use crate::scim::error::ScimError;
use crate::store::records::AuditRecord;

/// Routes under `/scim/v2/{tenant}`; every one passes `authenticate` first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2/{tenant}")
            .wrap(actix_web::middleware::from_fn(authenticate))
            .route(
                "/ServiceProviderConfig",
                web::get().to(service_provider_config_handler),
            )
            .default_service(web::to(not_found)),
    )
    .service(web::scope("/scim").default_service(web::to(not_found)));
}

fn error_response(req: ServiceRequest, err: &ScimError) -> ServiceResponse<BoxBody> {
    let resp = actix_web::ResponseError::error_response(err);
    req.into_response(resp)
}

/// Authenticates the request for the tenant in its path, throttles repeated
/// failures per address, and writes one audit row per request.
async fn authenticate(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let Some(dir) = req.app_data::<web::Data<Directory>>().cloned() else {
        return Ok(error_response(
            req,
            &ScimError::new(500, "server not ready"),
        ));
    };
    let throttle = req.app_data::<web::Data<AuthThrottle>>().cloned();
    let ip = req.peer_addr().map(|a| a.ip());
    let slug = req
        .match_info()
        .get("tenant")
        .unwrap_or_default()
        .to_string();

    if let (Some(throttle), Some(ip)) = (&throttle, ip)
        && let Err(wait) = throttle.check(ip)
    {
        let err = ScimError::new(429, "too many failed authentication attempts; retry later");
        let mut resp = error_response(req, &err);
        if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(resp);
    }

    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let outcome = dir.authenticate_scim(&slug, authorization.as_deref());
    let mut audit = AuditRecord {
        ts: crate::now_unix(),
        actor: "scim".into(),
        action: "scim.request".into(),
        remote: ip.map(|i| i.to_string()),
        method: Some(req.method().to_string()),
        path: Some(req.path().to_string()),
        ..AuditRecord::default()
    };

    let response = match outcome {
        Ok(principal) => {
            if let (Some(throttle), Some(ip)) = (&throttle, ip) {
                throttle.success(ip);
            }
            audit.tenant = Some(principal.tenant.id);
            audit.credential_id = Some(principal.credential_id.clone());
            req.extensions_mut().insert(principal);
            next.call(req).await?
        }
        Err(AuthFailure::Inactive(principal)) => {
            audit.tenant = Some(principal.tenant.id);
            audit.credential_id = Some(principal.credential_id);
            audit.detail = Some("SCIM is deactivated for this tenant".into());
            let err = ScimError::new(
                403,
                "SCIM provisioning is deactivated for this tenant; an admin can activate it",
            );
            error_response(req, &err)
        }
        Err(AuthFailure::Unauthorized(reason)) => {
            if let (Some(throttle), Some(ip)) = (&throttle, ip) {
                throttle.failure(ip);
            }
            audit.tenant = dir.tenant(&slug).ok().map(|t| t.id);
            audit.detail = Some(reason.to_string());
            let err = ScimError::new(
                401,
                "authentication failed: send a valid bearer token or basic credentials of this tenant",
            );
            let mut resp = error_response(req, &err);
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"roster\""),
            );
            resp.headers_mut().append(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"roster\""),
            );
            resp
        }
        Err(AuthFailure::Internal(e)) => {
            let err: ScimError = e.into();
            error_response(req, &err)
        }
    };

    let status = response.status().as_u16();
    audit.status = Some(status);
    audit.outcome = if status < 400 { "ok" } else { "error" }.into();
    audit.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    // Best effort: a failed audit write must not turn a served request into an error.
    let written = web::block(move || dir.audit(audit)).await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::warn!("could not write the audit row of a SCIM request");
    }
    Ok(response)
}

fn principal(req: &HttpRequest) -> Result<ScimPrincipal, ScimError> {
    req.extensions()
        .get::<ScimPrincipal>()
        .cloned()
        .ok_or_else(|| ScimError::new(401, "authentication required"))
}

async fn service_provider_config_handler(
    req: HttpRequest,
    dir: web::Data<Directory>,
) -> Result<HttpResponse, ScimError> {
    let principal = principal(&req)?;
    let body = service_provider_config(&dir.scim_endpoint(&principal.tenant.slug));
    Ok(HttpResponse::Ok()
        .content_type(SCIM_MEDIA_TYPE)
        .body(body.to_string()))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let err = ScimError::new(404, format!("no SCIM resource at {}", req.path()));
    actix_web::ResponseError::error_response(&err)
}
