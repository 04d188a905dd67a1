//! The SCIM surface: authentication in front of every route, then thin handlers.

use std::borrow::Cow;
use std::time::Instant;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, web};

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::Value;

use crate::directory::scim::resources::{MemberStream, Rendered, none_match_hits};
use crate::directory::scim::{PatchAnswer, ScimPage, ScimRead, ScimRequest};
use crate::directory::{AuditRecord, AuthFailure, Directory, IdpProfile, ScimPrincipal};
use crate::plumbing::throttle::ScimAuthThrottle;
use crate::scim::SCIM_MEDIA_TYPE;
use crate::scim::discovery::{self, service_provider_config};
use crate::scim::error::ScimError;
use crate::scim::query::ListQuery;
use crate::scim::resource::Projection;
use crate::scim::schema::ResourceKind;

/// Routes under `/scim/v2/{tenant}`; every one passes `authenticate` first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use ResourceKind::{Group, User};
    cfg.service(
        web::scope("/scim/v2/{tenant}")
            .wrap(actix_web::middleware::from_fn(authenticate))
            // Users and Groups first: nearly every request is for them.
            .service(collection("/Users", User))
            .service(collection("/Groups", Group))
            .service(only_get(
                "/ServiceProviderConfig",
                service_provider_config_handler,
            ))
            .service(only_get("/ResourceTypes", resource_types_handler))
            .service(only_get("/ResourceTypes/{name}", resource_type_handler))
            .service(only_get("/Schemas", schemas_handler))
            .service(only_get("/Schemas/{id}", schema_handler))
            .service(
                web::resource("/.search")
                    .route(web::post().to(|r, d, p| search(r, d, p, vec![User, Group])))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Bulk")
                    .route(web::post().to(bulk))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found)),
    )
    .service(web::scope("/scim").default_service(web::to(not_found)));
}

fn only_get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

fn collection(path: &str, kind: ResourceKind) -> actix_web::Scope {
    web::scope(path)
        .service(
            web::resource("")
                .route(web::get().to(move |r, d| list(r, d, kind)))
                .route(web::post().to(move |r, d, p| create(r, d, p, kind)))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/.search")
                .route(web::post().to(move |r, d, p| search(r, d, p, vec![kind])))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{id}")
                .route(web::get().to(move |r, d| get_one(r, d, kind)))
                .route(web::put().to(move |r, d, p| replace(r, d, p, kind)))
                .route(web::patch().to(move |r, d, p| patch(r, d, p, kind)))
                .route(web::delete().to(move |r, d| delete(r, d, kind)))
                .default_service(web::to(method_not_allowed)),
        )
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
    let throttle = req.app_data::<web::Data<ScimAuthThrottle>>().cloned();
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
            unauthorized(req)
        }
        Err(AuthFailure::Internal(e)) => {
            let err: ScimError = e.into();
            error_response(req, &err)
        }
    };

    complete_audit(&mut audit, &response, &slug, started);
    // Queued in memory; every AUDIT_BATCH rows go to the store's writer thread.
    // Best effort: a failed audit write must not turn a served request into an error.
    if dir.queue_audit(audit) && dir.flush_audit_queued().await.is_err() {
        tracing::warn!("could not write the audit rows of SCIM requests");
    }
    Ok(response)
}

/// 401 with both challenges a SCIM client may answer.
fn unauthorized(req: ServiceRequest) -> ServiceResponse<BoxBody> {
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

/// Fills in a request's audit row from its response (leniency notes, the
/// client-facing error, status, latency) and counts it in the metrics.
fn complete_audit(
    audit: &mut AuditRecord,
    response: &ServiceResponse<BoxBody>,
    slug: &str,
    started: Instant,
) {
    let mut details: Vec<String> = Vec::new();
    if let Some(notes) = response.request().extensions().get::<AuditNotes>() {
        details.extend(notes.0.iter().cloned());
    }
    // The client-facing error detail, for "why was this refused?" in the log.
    if let Some(err) = response.response().error()
        && let Some(scim) = err.as_error::<ScimError>()
    {
        details.push(scim.detail.clone());
    }
    if !details.is_empty() {
        let prefix = audit.detail.take().map(|d| vec![d]).unwrap_or_default();
        audit.detail = Some(
            prefix
                .into_iter()
                .chain(details)
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    let status = response.status().as_u16();
    if let Some(m) = response
        .request()
        .app_data::<web::Data<super::metrics::Metrics>>()
    {
        // Operation = method and endpoint (Users, Groups, Bulk, ...): bounded labels.
        let endpoint = audit
            .path
            .as_deref()
            .and_then(|p| p.split('/').nth(4))
            .filter(|e| {
                [
                    "Users",
                    "Groups",
                    "Bulk",
                    ".search",
                    "Schemas",
                    "ResourceTypes",
                    "ServiceProviderConfig",
                ]
                .contains(e)
            })
            .unwrap_or("other");
        let op = format!("{} {endpoint}", audit.method.as_deref().unwrap_or("?"));
        let outcome = if status < 400 { "ok" } else { "error" };
        m.scim_operation(slug, &op, outcome);
    }
    audit.status = Some(status);
    audit.outcome = if status < 400 { "ok" } else { "error" }.into();
    audit.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
}

fn principal(req: &HttpRequest) -> Result<ScimPrincipal, ScimError> {
    req.extensions()
        .get::<ScimPrincipal>()
        .cloned()
        .ok_or_else(|| ScimError::new(401, "authentication required"))
}

/// Who is calling: the tenant and the IdP profile in effect.
struct Caller {
    tenant: crate::directory::TenantRecord,
    profile: IdpProfile,
}

fn caller(req: &HttpRequest) -> Result<Caller, ScimError> {
    let tenant = principal(req)?.tenant;
    let profile = IdpProfile::of_setting(tenant.idp).unwrap_or_else(|| {
        let agent = header_value(req, header::USER_AGENT).unwrap_or_default();
        let guess = IdpProfile::detect(&agent, req.query_string());
        note(
            req,
            vec![format!("profile auto: client looks like {}", guess.name())],
        );
        guess
    });
    Ok(Caller { tenant, profile })
}

/// Leniency notes of a request, picked up by the audit row.
#[derive(Clone, Debug, Default)]
pub struct AuditNotes(pub Vec<String>);

fn note(req: &HttpRequest, notes: Vec<String>) {
    if notes.is_empty() {
        return;
    }
    let mut ext = req.extensions_mut();
    match ext.get_mut::<AuditNotes>() {
        Some(existing) => existing.0.extend(notes),
        None => {
            ext.insert(AuditNotes(notes));
        }
    }
}

fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_MEDIA_TYPE)
        .body(json_bytes(body))
}

/// A JSON body as bytes: straight into a buffer, without `Display`'s
/// formatter layer. A `Value` always serializes (string keys, finite numbers).
fn json_bytes(body: &Value) -> Vec<u8> {
    // Room for a typical user: growing from serde_json's 128 bytes took
    // three reallocations per answer.
    let mut bytes = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => bytes,
        Err(_) => Vec::new(),
    }
}

fn resource_response(status: StatusCode, rendered: &Rendered) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    builder
        .content_type(SCIM_MEDIA_TYPE)
        .insert_header((header::ETAG, rendered.etag.clone()));
    if status == StatusCode::CREATED
        && let Some(location) = rendered.body["meta"]["location"].as_str()
    {
        builder.insert_header((header::LOCATION, location.to_string()));
    }
    builder.body(json_bytes(&rendered.body))
}

/// 304 when the request's `If-None-Match` names this ETag (the client's copy is current).
fn not_modified(req: &HttpRequest, etag: &str) -> Option<HttpResponse> {
    none_match_hits(header_value(req, header::IF_NONE_MATCH).as_deref(), etag).then(|| {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.to_string()))
            .finish()
    })
}

fn header_value(req: &HttpRequest, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The query string's pairs, decoded; borrowed where nothing needed decoding.
/// Bytes that are not UTF-8 decode to U+FFFD (and then fail to match).
fn query_params(req: &HttpRequest) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(req.query_string().as_bytes()).collect()
}

/// Reads a JSON body within the configured limit: 413 beyond it, 400 if not JSON.
async fn read_json(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, ScimError> {
    if let Some(ct) = header_value(req, header::CONTENT_TYPE) {
        let ct = ct.to_ascii_lowercase();
        if !ct.contains("json") {
            return Err(ScimError::typed(
                415,
                "invalidSyntax",
                format!("send application/scim+json, not {ct}"),
            ));
        }
    }
    let limit = req
        .app_data::<web::Data<BodyLimit>>()
        .map(|l| l.0)
        .unwrap_or(crate::config::DEFAULT_BODY_LIMIT);
    let mut body = web::BytesMut::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                ScimError::typed(400, "invalidSyntax", "the body could not be read")
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ScimError::new(
                    413,
                    format!("the request body exceeds the limit of {limit} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    // A client trickling its body holds a connection; it gets this long.
    match actix_web::rt::time::timeout(BODY_TIMEOUT, read).await {
        Ok(done) => done?,
        Err(_) => {
            return Err(ScimError::new(
                408,
                format!(
                    "the request body did not arrive within {} seconds",
                    BODY_TIMEOUT.as_secs()
                ),
            ));
        }
    }
    if body.is_empty() {
        return Err(ScimError::typed(
            400,
            "invalidSyntax",
            "the request body is empty",
        ));
    }
    let value = serde_json::from_slice(&body).map_err(|e| {
        ScimError::typed(
            400,
            "invalidSyntax",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    crate::scim::limits::check_shape(&value)?;
    Ok(value)
}

/// How long a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The request body limit, shared with handlers that read the payload themselves.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

async fn service_provider_config_handler(
    req: HttpRequest,
    dir: web::Data<Directory>,
) -> Result<HttpResponse, ScimError> {
    let principal = principal(&req)?;
    let limit = req
        .app_data::<web::Data<BodyLimit>>()
        .map(|l| l.0)
        .unwrap_or(crate::config::DEFAULT_BODY_LIMIT);
    let body = service_provider_config(&dir.scim_endpoint(&principal.tenant.slug), limit);
    Ok(scim_json(StatusCode::OK, &body))
}

async fn resource_types_handler(
    req: HttpRequest,
    dir: web::Data<Directory>,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    let body = discovery::list(discovery::resource_types(&ctx.registry, &ctx.base));
    Ok(scim_json(StatusCode::OK, &body))
}

async fn resource_type_handler(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    let name = &path.1;
    discovery::resource_types(&ctx.registry, &ctx.base)
        .into_iter()
        .find(|rt| {
            rt["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(name))
        })
        .map(|rt| scim_json(StatusCode::OK, &rt))
        .ok_or_else(|| ScimError::new(404, format!("no resource type {name}")))
}

async fn schemas_handler(
    req: HttpRequest,
    dir: web::Data<Directory>,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    let schemas = ctx
        .registry
        .all()
        .iter()
        .map(|s| s.to_json(&ctx.base))
        .collect();
    Ok(scim_json(StatusCode::OK, &discovery::list(schemas)))
}

async fn schema_handler(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    let id = &path.1;
    ctx.registry
        .schema(id)
        .map(|s| scim_json(StatusCode::OK, &s.to_json(&ctx.base)))
        .ok_or_else(|| ScimError::new(404, format!("no schema {id}")))
}

/// The request on a resource as the directory's face takes it.
/// The request on a resource as the directory's face takes it, without
/// reading the query (a DELETE has no projection to parse).
fn scim_target(
    req: &HttpRequest,
    dir: &Directory,
    kind: ResourceKind,
) -> Result<ScimRequest, ScimError> {
    let caller = caller(req)?;
    Ok(ScimRequest {
        ctx: dir.scim_context(&caller.tenant, caller.profile),
        kind,
        id: req.match_info().get("id").unwrap_or_default().to_string(),
        if_match: header_value(req, header::IF_MATCH),
        projection: Projection::default(),
        projection_asked: false,
    })
}

/// `scim_target` with the projection of `attributes` / `excludedAttributes`.
fn scim_request(
    req: &HttpRequest,
    dir: &Directory,
    kind: ResourceKind,
) -> Result<ScimRequest, ScimError> {
    let mut request = scim_target(req, dir, kind)?;
    let params = query_params(req);
    request.projection_asked = params.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("attributes") || k.eq_ignore_ascii_case("excludedAttributes")
    });
    request.projection = ListQuery::from_params(&params)?.projection;
    Ok(request)
}

fn page_response(page: ScimPage) -> HttpResponse {
    match page {
        ScimPage::Json(body) => HttpResponse::Ok().content_type(SCIM_MEDIA_TYPE).body(body),
        ScimPage::Body(body) => scim_json(StatusCode::OK, &body),
    }
}

async fn list(
    req: HttpRequest,
    dir: web::Data<Directory>,
    kind: ResourceKind,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let query = ListQuery::from_params(&query_params(&req))?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    Ok(page_response(dir.scim().list(ctx, kind, query).await?))
}

async fn search(
    req: HttpRequest,
    dir: web::Data<Directory>,
    payload: web::Payload,
    kinds: Vec<ResourceKind>,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let query = ListQuery::from_search(&read_json(&req, payload).await?)?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    Ok(page_response(dir.scim().search(ctx, kinds, query).await?))
}

async fn create(
    req: HttpRequest,
    dir: web::Data<Directory>,
    payload: web::Payload,
    kind: ResourceKind,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, payload).await?;
    let request = scim_request(&req, &dir, kind)?;
    let (rendered, notes) = dir.scim().create(request, body).await?;
    note(&req, notes);
    Ok(resource_response(StatusCode::CREATED, &rendered))
}

async fn get_one(
    req: HttpRequest,
    dir: web::Data<Directory>,
    kind: ResourceKind,
) -> Result<HttpResponse, ScimError> {
    let request = scim_request(&req, &dir, kind)?;
    let read = dir.scim().get(request).await?;
    let etag = match &read {
        ScimRead::Json { etag, .. } => etag,
        ScimRead::Resource(rendered) => &rendered.etag,
        ScimRead::Streamed(stream) => &stream.etag,
    };
    if let Some(unchanged) = not_modified(&req, etag) {
        return Ok(unchanged);
    }
    Ok(match read {
        ScimRead::Json { body, etag } => HttpResponse::Ok()
            .content_type(SCIM_MEDIA_TYPE)
            .insert_header((header::ETAG, etag))
            .body(body),
        ScimRead::Resource(rendered) => resource_response(StatusCode::OK, &rendered),
        ScimRead::Streamed(stream) => streamed_group(*stream),
    })
}

/// A large group's answer: each chunk (a thousand members) is read when the
/// client has taken the previous one, so memory stays flat.
fn streamed_group(stream: MemberStream) -> HttpResponse {
    let etag = stream.etag.clone();
    let chunks = stream.map(|chunk| {
        chunk.map(web::Bytes::from).map_err(|e| {
            tracing::warn!(error = %e.detail, "group response cut short");
            std::io::Error::other("storage error while streaming a group")
        })
    });
    HttpResponse::Ok()
        .content_type(SCIM_MEDIA_TYPE)
        .insert_header((header::ETAG, etag))
        .streaming(futures_util::stream::iter(chunks))
}

async fn replace(
    req: HttpRequest,
    dir: web::Data<Directory>,
    payload: web::Payload,
    kind: ResourceKind,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, payload).await?;
    let request = scim_request(&req, &dir, kind)?;
    let (rendered, notes) = dir.scim().replace(request, body).await?;
    note(&req, notes);
    Ok(resource_response(StatusCode::OK, &rendered))
}

async fn patch(
    req: HttpRequest,
    dir: web::Data<Directory>,
    payload: web::Payload,
    kind: ResourceKind,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, payload).await?;
    let request = scim_request(&req, &dir, kind)?;
    let (answer, notes) = dir.scim().patch(request, body).await?;
    note(&req, notes);
    Ok(match answer {
        PatchAnswer::Resource(rendered) => resource_response(StatusCode::OK, &rendered),
        PatchAnswer::NoContent(etag) => HttpResponse::NoContent()
            .insert_header((header::ETAG, etag))
            .finish(),
    })
}

async fn bulk(
    req: HttpRequest,
    dir: web::Data<Directory>,
    payload: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let caller = caller(&req)?;
    let body = read_json(&req, payload).await?;
    let ctx = dir.scim_context(&caller.tenant, caller.profile);
    let (response, notes) = dir.scim().bulk(ctx, body).await?;
    note(&req, notes);
    Ok(scim_json(StatusCode::OK, &response))
}

async fn delete(
    req: HttpRequest,
    dir: web::Data<Directory>,
    kind: ResourceKind,
) -> Result<HttpResponse, ScimError> {
    dir.scim().delete(scim_target(&req, &dir, kind)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let err = ScimError::new(
        405,
        format!("{} is not allowed on {}", req.method(), req.path()),
    );
    actix_web::ResponseError::error_response(&err)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let err = ScimError::new(404, format!("no SCIM resource at {}", req.path()));
    actix_web::ResponseError::error_response(&err)
}
