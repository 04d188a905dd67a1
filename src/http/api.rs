//! The application surface: `POST /oauth/token` (RFC 6749 §4.4 client
//! credentials) and the read-only directory API under `/api/v1/`, for the
//! token's tenant only. One JSON error shape: `{"error": {"code", "message"}}`.
// Handlers answer early with a ready response, as the console's do.
#![allow(clippy::result_large_err)]

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::directory::apps::{AppPrincipal, TokenRefusal};
use crate::directory::{Directory, DirectoryError, IdpProfile, events};
use crate::plumbing::throttle::ScimAuthThrottle;
use crate::scim::error::ScimError;
use crate::scim::query::ListQuery;
use crate::scim::resource::Projection;
use crate::scim::schema::ResourceKind;

/// Default and largest page of the list endpoints.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Routes `/oauth/token` and `/api/v1/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth/token")
            .route(web::post().to(token))
            .default_service(web::to(|| async {
                api_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "use POST",
                )
            })),
    )
    .service(
        web::scope("/api/v1")
            .route("/openapi.json", web::get().to(openapi))
            .route("/users", web::get().to(list_users))
            .route(
                "/users/by-username/{user_name}",
                web::get().to(user_by_name),
            )
            .route("/users/{id}", web::get().to(get_user))
            .route("/users/{id}/groups", web::get().to(user_groups))
            .route("/users/{id}/permissions", web::get().to(user_permissions))
            .route("/roles", web::get().to(roles))
            .route("/events", web::get().to(events))
            .route("/groups", web::get().to(list_groups))
            .route("/groups/{id}", web::get().to(get_group))
            .route("/groups/{id}/members", web::get().to(group_members))
            .default_service(web::to(|| async {
                api_error(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
            })),
    );
}

fn api_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": {"code": code, "message": message}}))
}

/// An RFC 6749 §5.2 error answer.
fn oauth_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        builder.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"roster\""));
    }
    builder.json(json!({"error": code, "error_description": description}))
}

/// `POST /oauth/token`: `client_secret_basic` or `client_secret_post`.
async fn token(
    req: HttpRequest,
    dir: web::Data<Directory>,
    throttle: web::Data<ScimAuthThrottle>,
    body: web::Bytes,
) -> HttpResponse {
    let ip = req.peer_addr().map(|a| a.ip());
    if let Some(ip) = ip
        && let Err(wait) = throttle.check(ip)
    {
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, wait.to_string()))
            .json(json!({"error": "slow_down", "error_description": "too many failed client authentications; retry later"}));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required (application/x-www-form-urlencoded body)",
            );
        }
    }
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    // RFC 6749 §2.3.1: basic credentials are form-encoded before base64.
    let from_basic = basic.as_deref().and_then(|text| {
        let (id, secret) = text.split_once(':')?;
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Some((decode(id)?, decode(secret)?))
    });
    let credentials = match (from_basic, field("client_id"), field("client_secret")) {
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
        (Some(_), _, _) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method, not two",
            );
        }
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required (HTTP Basic or client_id and client_secret)",
            );
        }
    };
    let scope = field("scope").map(str::to_string);
    let (client_id, secret) = credentials;
    let outcome = crate::plumbing::blocking::block(move || {
        dir.issue_access_token(&client_id, &secret, scope.as_deref())
    })
    .await;
    match outcome {
        Ok(Ok(issued)) => {
            if let Some(ip) = ip {
                throttle.success(ip);
            }
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(json!({
                    "access_token": issued.access_token.as_str(),
                    "token_type": "Bearer",
                    "expires_in": issued.expires_in,
                    "scope": issued.scope,
                }))
        }
        Ok(Err(TokenRefusal::InvalidClient)) => {
            if let Some(ip) = ip {
                throttle.failure(ip);
            }
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client, wrong secret or revoked client",
            )
        }
        Ok(Err(TokenRefusal::InvalidScope(scope))) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("the client does not hold scope {scope:?}"),
        ),
        Ok(Err(TokenRefusal::Internal(e))) => {
            tracing::error!(error = %e, "token endpoint");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
        Err(_) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        ),
    }
}

/// The application behind a request's access token, holding `scope`.
fn app(req: &HttpRequest, dir: &Directory, scope: &str) -> Result<AppPrincipal, HttpResponse> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let refuse = |error: &str, message: &str| {
        HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"roster\", error=\"{error}\""),
            ))
            .json(json!({"error": {"code": "unauthorized", "message": message}}))
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(refuse(
            "invalid_request",
            "send an access token from POST /oauth/token as Authorization: Bearer",
        ));
    };
    match dir.authenticate_app(token) {
        Ok(Some(principal)) if principal.scopes.iter().any(|s| s == scope) => Ok(principal),
        Ok(Some(_)) => Err(HttpResponse::Forbidden()
            .insert_header((
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"roster\", error=\"insufficient_scope\", scope=\"{scope}\""),
            ))
            .json(json!({"error": {"code": "insufficient_scope", "message": format!("this endpoint needs scope {scope}")}}))),
        Ok(None) => Err(refuse(
            "invalid_token",
            "the access token is unknown, expired or its client was revoked",
        )),
        Err(e) => Err(directory_error(e)),
    }
}

fn directory_error(e: DirectoryError) -> HttpResponse {
    match e {
        DirectoryError::NotFound(m) => api_error(StatusCode::NOT_FOUND, "not_found", &m),
        DirectoryError::Invalid(m) => api_error(StatusCode::BAD_REQUEST, "invalid_request", &m),
        DirectoryError::Conflict(m) => api_error(StatusCode::CONFLICT, "conflict", &m),
        DirectoryError::Gone(m) => api_error(StatusCode::GONE, "cursor_expired", &m),
        other => {
            tracing::error!(error = %other, "api error");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            )
        }
    }
}

fn scim_error(e: ScimError) -> HttpResponse {
    directory_error(DirectoryError::from(e))
}

/// The query string's parameters, decoded.
struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    fn of(req: &HttpRequest) -> QueryParams {
        QueryParams(
            form_urlencoded::parse(req.query_string().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1-`MAX_LIMIT`, `DEFAULT_LIMIT` when absent.
    fn limit(&self) -> Result<usize, HttpResponse> {
        match self.get("limit").map(str::parse::<usize>) {
            None => Ok(DEFAULT_LIMIT),
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("limit must be 1-{MAX_LIMIT}"),
            )),
        }
    }
}

/// `?cursor=&limit=&filter=&active=` as a SCIM cursor query.
fn list_query(req: &HttpRequest, kind: ResourceKind) -> Result<ListQuery, HttpResponse> {
    let params = QueryParams::of(req);
    let get = |name: &str| params.get(name).map(str::to_string);
    let bad = |m: String| api_error(StatusCode::BAD_REQUEST, "invalid_request", &m);
    let limit = params.limit()?;
    let mut filter = get("filter").filter(|f| !f.trim().is_empty());
    if let Some(email) = get("email") {
        if kind != ResourceKind::User {
            return Err(bad("email applies to users only".into()));
        }
        let clause = format!("emails.value eq {}", json!(email));
        filter = Some(match filter {
            Some(f) => format!("({f}) and {clause}"),
            None => clause,
        });
    }
    if let Some(active) = get("active") {
        if kind != ResourceKind::User {
            return Err(bad("active applies to users only".into()));
        }
        let value = match active.as_str() {
            "true" => "true",
            "false" => "false",
            _ => return Err(bad("active must be true or false".into())),
        };
        filter = Some(match filter {
            Some(f) => format!("({f}) and active eq {value}"),
            None => format!("active eq {value}"),
        });
    }
    let mut scim_params = vec![
        ("count".to_string(), limit.to_string()),
        ("cursor".to_string(), get("cursor").unwrap_or_default()),
    ];
    if let Some(f) = filter {
        scim_params.push(("filter".into(), f));
    }
    if kind == ResourceKind::Group {
        scim_params.push(("excludedAttributes".into(), "members".into()));
    }
    ListQuery::from_params(&scim_params).map_err(scim_error)
}

/// Runs directory work off the async workers and answers 200 with its JSON,
/// or the API error its failure maps to.
async fn answer(
    work: impl FnOnce() -> Result<Value, DirectoryError> + Send + 'static,
) -> HttpResponse {
    match crate::plumbing::blocking::block(work).await {
        Ok(Ok(body)) => HttpResponse::Ok().json(body),
        Ok(Err(e)) => directory_error(e),
        Err(_) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        ),
    }
}

/// A list page in the API's shape: `{"data": [...], "next": cursor or null}`.
fn page_json(list: &Value) -> Value {
    json!({
        "data": list.get("Resources").cloned().unwrap_or(json!([])),
        "next": list.get("nextCursor").cloned().unwrap_or(Value::Null),
    })
}

async fn list(req: HttpRequest, dir: web::Data<Directory>, kind: ResourceKind) -> HttpResponse {
    let principal = match app(&req, &dir, "directory:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let query = match list_query(&req, kind) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    answer(move || {
        let ctx = dir.scim_context(&principal.tenant, IdpProfile::Generic);
        Ok(page_json(&dir.scim_list(&ctx, &[kind], &query)?.body))
    })
    .await
}

async fn list_users(req: HttpRequest, dir: web::Data<Directory>) -> HttpResponse {
    list(req, dir, ResourceKind::User).await
}

async fn list_groups(req: HttpRequest, dir: web::Data<Directory>) -> HttpResponse {
    list(req, dir, ResourceKind::Group).await
}

/// One user or group (groups without members: they have their own pages);
/// `part` picks one attribute of it as `{"data": ...}`.
async fn get_one(
    req: HttpRequest,
    dir: web::Data<Directory>,
    id: String,
    kind: ResourceKind,
    part: Option<&'static str>,
) -> HttpResponse {
    let principal = match app(&req, &dir, "directory:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let excluded = (kind == ResourceKind::Group).then_some("members");
    answer(move || {
        let projection = Projection::parse(None, excluded)?;
        let ctx = dir.scim_context(&principal.tenant, IdpProfile::Generic);
        let body = dir.scim_get(&ctx, kind, &id, &projection)?.body;
        Ok(match part {
            Some(name) => json!({"data": body.get(name).cloned().unwrap_or(json!([]))}),
            None => body,
        })
    })
    .await
}

async fn get_user(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    get_one(req, dir, path.into_inner(), ResourceKind::User, None).await
}

async fn get_group(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    get_one(req, dir, path.into_inner(), ResourceKind::Group, None).await
}

async fn user_groups(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    get_one(
        req,
        dir,
        path.into_inner(),
        ResourceKind::User,
        Some("groups"),
    )
    .await
}

/// A user by userName (case-insensitive, as SCIM compares it).
async fn user_by_name(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    let principal = match app(&req, &dir, "directory:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let filter = format!("userName eq {}", json!(path.into_inner()));
    answer(move || {
        let query = ListQuery::from_params(&[("filter", filter.as_str()), ("count", "1")])?;
        let ctx = dir.scim_context(&principal.tenant, IdpProfile::Generic);
        let list = dir.scim_list(&ctx, &[ResourceKind::User], &query)?.body;
        list["Resources"]
            .get(0)
            .cloned()
            .ok_or_else(|| DirectoryError::NotFound("no user with this userName".into()))
    })
    .await
}

/// Longest long-poll of the change feed.
const MAX_WAIT_SECS: u64 = 30;

/// `GET /api/v1/events?after=CURSOR&limit=N&wait=SECONDS`: the tenant's
/// changes in commit order; with `wait`, an empty answer waits for the next one.
async fn events(req: HttpRequest, dir: web::Data<Directory>) -> HttpResponse {
    let principal = match app(&req, &dir, "events:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let params = QueryParams::of(&req);
    let get = |name: &str| params.get(name);
    let bad = |m: &str| api_error(StatusCode::BAD_REQUEST, "invalid_request", m);
    let after = match get("after").filter(|a| !a.is_empty()) {
        None => 0,
        Some(cursor) => match events::parse_cursor(cursor) {
            Some(n) => n,
            None => return bad("after must be a cursor this API returned"),
        },
    };
    let limit = match params.limit() {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let wait = match get("wait").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) if n <= MAX_WAIT_SECS => n,
        Some(_) => return bad("wait must be 0-30 seconds"),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let tenant = principal.tenant.id;
    loop {
        let d = dir.clone();
        let read =
            crate::plumbing::blocking::block(move || d.events_of(tenant, after, limit)).await;
        let batch = match read {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => return directory_error(e),
            Err(_) => {
                return api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                );
            }
        };
        if !batch.is_empty() || std::time::Instant::now() >= deadline {
            let next = batch.last().map_or(after, |e| e.seq);
            let data: Vec<Value> = batch.iter().map(events::event_json).collect();
            return HttpResponse::Ok()
                .json(json!({"data": data, "next": events::event_cursor(next)}));
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `GET /api/v1/groups/{id}/members?limit=&cursor=`: a group's members in pages;
/// the cursor is the last member id of the page before.
async fn group_members(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    let principal = match app(&req, &dir, "directory:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let params = QueryParams::of(&req);
    let limit = match params.limit() {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let after = params
        .get("cursor")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let group = path.into_inner();
    answer(move || {
        let ctx = dir.scim_context(&principal.tenant, IdpProfile::Generic);
        let (members, more) = dir.group_members_page(&ctx, &group, after.as_deref(), limit)?;
        let next = match members.last() {
            Some(last) if more => last["value"].clone(),
            _ => Value::Null,
        };
        Ok(json!({"data": members, "next": next}))
    })
    .await
}

/// `GET /api/v1/users/{id}/permissions`: the union over the user's roles
/// while the user is active.
async fn user_permissions(
    req: HttpRequest,
    dir: web::Data<Directory>,
    path: web::Path<String>,
) -> HttpResponse {
    let principal = match app(&req, &dir, "directory:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let user = path.into_inner();
    answer(move || {
        dir.effective_permissions(&principal.tenant, &user)?
            .ok_or_else(|| DirectoryError::NotFound("no such user".into()))
    })
    .await
}

/// `GET /api/v1/roles`: the groups that carry permissions.
async fn roles(req: HttpRequest, dir: web::Data<Directory>) -> HttpResponse {
    let principal = match app(&req, &dir, "directory:read") {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    answer(move || {
        let data: Vec<Value> = dir
            .roles_of(&principal.tenant)?
            .into_iter()
            .map(|r| json!({"group": r.group_id, "name": r.name, "permissions": r.permissions}))
            .collect();
        Ok(json!({"data": data}))
    })
    .await
}

/// One documented endpoint of the directory API.
struct Endpoint {
    path: &'static str,
    summary: &'static str,
    scope: &'static str,
    query: &'static [(&'static str, &'static str, &'static str)],
    list: bool,
}

const PAGE: (&str, &str, &str) = ("limit", "integer", "page size, 1-1000 (default 100)");
const CURSOR: (&str, &str, &str) = ("cursor", "string", "the `next` of the previous page");

/// Every route under `/api/v1` but the document itself; the OpenAPI document
/// is built from this table, and a test checks each one answers.
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/users",
        summary: "Users of the tenant, deactivated ones with active: false",
        scope: "directory:read",
        query: &[
            PAGE,
            CURSOR,
            ("filter", "string", "a SCIM filter (RFC 7644 §3.4.2.2)"),
            ("active", "boolean", "only active or only deactivated users"),
            ("email", "string", "users with this email address"),
        ],
        list: true,
    },
    Endpoint {
        path: "/users/{id}",
        summary: "One user",
        scope: "directory:read",
        query: &[],
        list: false,
    },
    Endpoint {
        path: "/users/by-username/{userName}",
        summary: "One user by userName (case-insensitive)",
        scope: "directory:read",
        query: &[],
        list: false,
    },
    Endpoint {
        path: "/users/{id}/groups",
        summary: "The groups of a user",
        scope: "directory:read",
        query: &[],
        list: true,
    },
    Endpoint {
        path: "/users/{id}/permissions",
        summary: "Effective permissions: the union over the user's roles, empty while deactivated",
        scope: "directory:read",
        query: &[],
        list: false,
    },
    Endpoint {
        path: "/groups",
        summary: "Groups of the tenant (without members)",
        scope: "directory:read",
        query: &[PAGE, CURSOR, ("filter", "string", "a SCIM filter")],
        list: true,
    },
    Endpoint {
        path: "/groups/{id}",
        summary: "One group (without members)",
        scope: "directory:read",
        query: &[],
        list: false,
    },
    Endpoint {
        path: "/groups/{id}/members",
        summary: "The members of a group, in pages",
        scope: "directory:read",
        query: &[PAGE, CURSOR],
        list: true,
    },
    Endpoint {
        path: "/roles",
        summary: "Groups that carry permissions",
        scope: "directory:read",
        query: &[],
        list: true,
    },
    Endpoint {
        path: "/events",
        summary: "The change feed in commit order; long-polls with wait",
        scope: "events:read",
        query: &[
            ("after", "string", "the `next` of the previous call"),
            PAGE,
            (
                "wait",
                "integer",
                "seconds (0-30) to hold an empty answer open",
            ),
        ],
        list: true,
    },
];

/// The OpenAPI 3.1 document of this API, built from `ENDPOINTS`.
pub fn openapi_document(server: &str) -> Value {
    let error_ref = json!({"$ref": "#/components/responses/Error"});
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let mut parameters: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(e.query.iter().map(|(name, ty, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": ty}})
        }));
        let body = if e.list {
            json!({"$ref": "#/components/schemas/Page"})
        } else {
            json!({"type": "object"})
        };
        let operation_id = e
            .path
            .trim_start_matches('/')
            .replace(['{', '}'], "")
            .replace(['/', '-'], "_");
        let mut responses = json!({
            "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
            "400": error_ref, "401": error_ref, "403": error_ref, "404": error_ref
        });
        if e.path == "/events" {
            responses["410"] = error_ref.clone();
        }
        paths.insert(
            format!("/api/v1{}", e.path),
            json!({"get": {
                "operationId": format!("get_{operation_id}"),
                "summary": e.summary,
                "security": [{"bearer": [e.scope]}],
                "parameters": parameters,
                "responses": responses
            }}),
        );
    }
    paths.insert(
        "/oauth/token".into(),
        json!({"post": {
            "operationId": "token",
            "summary": "Client credentials grant (RFC 6749 §4.4): client_secret_basic or client_secret_post",
            "security": [{}, {"clientBasic": []}],
            "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {"type": "string"},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"}
                }
            }}}},
            "responses": {
                "200": {"description": "An access token", "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"type": "string"},
                        "expires_in": {"type": "integer"},
                        "scope": {"type": "string"}
                    }
                }}}},
                "400": {"$ref": "#/components/responses/OAuthError"},
                "401": {"$ref": "#/components/responses/OAuthError"}
            }
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Roster directory API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read the users, groups, roles and changes your identity providers provisioned into one Roster tenant."
        },
        "servers": [{"url": server}],
        "paths": paths,
        "webhooks": {"event": {"post": {
            "operationId": "webhook_event",
            "summary": "One change event POSTed to a tenant's webhook endpoint, signed per Standard Webhooks; any 2xx acknowledges it, anything else is retried with backoff",
            "parameters": [
                {"name": "webhook-id", "in": "header", "required": true, "description": "the event id (ev_N): deliveries are at least once, deduplicate on it", "schema": {"type": "string"}},
                {"name": "webhook-timestamp", "in": "header", "required": true, "description": "Unix seconds of the attempt", "schema": {"type": "string"}},
                {"name": "webhook-signature", "in": "header", "required": true, "description": "v1,<base64 HMAC-SHA256 of \"id.timestamp.body\"> keyed by the base64-decoded part of the whsec_ secret after the prefix", "schema": {"type": "string"}}
            ],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {"type": "string", "enum": webhook_types()},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "data": {"$ref": "#/components/schemas/Event"}
                }
            }}}},
            "responses": {"200": {"description": "Received"}}
        }}},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": format!("{server}/oauth/token"),
                    "scopes": {
                        "directory:read": "read users, groups and roles",
                        "events:read": "read the change feed"
                    }
                }}},
                "clientBasic": {"type": "http", "scheme": "basic"}
            },
            "schemas": {
                "Page": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {"type": "array", "items": {"type": "object"}},
                        "next": {"type": ["string", "null"]}
                    }
                },
                "Event": {
                    "type": "object",
                    "required": ["id", "type", "occurred_at", "resource"],
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"type": "string", "enum": webhook_types()},
                        "occurred_at": {"type": "string", "format": "date-time"},
                        "resource": {"type": "object", "properties": {
                            "type": {"type": "string"}, "id": {"type": "string"}, "version": {"type": "integer"}
                        }},
                        "member": {"type": "object", "properties": {"id": {"type": "string"}}},
                        "changed": {"type": "array", "items": {"type": "string"}}
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                    }}
                }
            },
            "responses": {
                "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "OAuthError": {"description": "An RFC 6749 §5.2 error", "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}
                }}}}
            }
        }
    })
}

/// Event types a webhook receives: the feed's and the test message's.
fn webhook_types() -> Vec<&'static str> {
    let mut types = events::EVENT_TYPES.to_vec();
    types.push(crate::directory::webhooks::TEST_EVENT);
    types
}

async fn openapi(dir: web::Data<Directory>) -> HttpResponse {
    HttpResponse::Ok().json(openapi_document(&dir.public_base()))
}
