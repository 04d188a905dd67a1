//! Bulk (RFC 7644 §3.7): request parsing and `bulkId` reference resolution.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::error::ScimError;
use super::schema::{ResourceKind, get_ci};

/// URN of the BulkRequest message.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// URN of the BulkResponse message.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Most operations in one bulk request (advertised).
pub const MAX_OPERATIONS: usize = 1000;

/// One bulk operation as sent.
#[derive(Clone, Debug)]
pub struct BulkOp {
    /// POST, PUT, PATCH or DELETE.
    pub method: String,
    /// The client's id for a POST, used in `bulkId:` references.
    pub bulk_id: Option<String>,
    /// `/Users`, `/Groups/{id}`...
    pub path: String,
    /// The ETag precondition.
    pub version: Option<String>,
    /// The body.
    pub data: Option<Value>,
}

/// A parsed bulk request.
#[derive(Clone, Debug)]
pub struct BulkRequest {
    /// Stop after this many errors (None: never).
    pub fail_on_errors: Option<usize>,
    /// The operations, in order.
    pub operations: Vec<BulkOp>,
}

fn syntax(msg: impl Into<String>) -> ScimError {
    ScimError::typed(400, "invalidSyntax", msg)
}

/// Parses a BulkRequest body.
pub fn parse(body: &Value) -> Result<BulkRequest, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| syntax("the body must be a BulkRequest object"))?;
    let schemas_ok = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(BULK_REQUEST)));
    if !schemas_ok {
        return Err(syntax(format!("schemas must contain {BULK_REQUEST}")));
    }
    let fail_on_errors = match get_ci(obj, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            ScimError::typed(
                400,
                "invalidValue",
                "failOnErrors must be a positive integer",
            )
        })? as usize),
    };
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("the BulkRequest needs an \"Operations\" array"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            format!(
                "the bulk request has {} operations; the maximum is {MAX_OPERATIONS}",
                ops.len()
            ),
        ));
    }
    let mut operations = Vec::with_capacity(ops.len());
    for (n, op) in ops.iter().enumerate() {
        let at = n + 1;
        let o = op
            .as_object()
            .ok_or_else(|| syntax(format!("bulk operation {at} is not an object")))?;
        let text = |k: &str| get_ci(o, k).and_then(Value::as_str).map(str::to_string);
        let method = text("method")
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| {
                syntax(format!(
                    "bulk operation {at} needs a method: POST, PUT, PATCH or DELETE"
                ))
            })?;
        let path =
            text("path").ok_or_else(|| syntax(format!("bulk operation {at} needs a path")))?;
        let bulk_id = text("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(syntax(format!(
                "bulk operation {at}: a POST needs a bulkId"
            )));
        }
        let data = get_ci(o, "data").cloned();
        if method != "DELETE" && data.is_none() {
            return Err(syntax(format!("bulk operation {at}: {method} needs data")));
        }
        operations.push(BulkOp {
            method,
            bulk_id,
            path,
            version: text("version"),
            data,
        });
    }
    Ok(BulkRequest {
        fail_on_errors,
        operations,
    })
}

/// Where a bulk operation is aimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Users or Groups.
    pub kind: ResourceKind,
    /// The resource id (absent for POST).
    pub id: Option<String>,
}

/// Parses `/Users`, `/Groups/{id}`.
pub fn target(path: &str) -> Result<Target, ScimError> {
    let trimmed = path.trim().trim_start_matches('/');
    let mut parts = trimmed.splitn(2, '/');
    let kind = match parts.next().map(str::to_ascii_lowercase).as_deref() {
        Some("users") => ResourceKind::User,
        Some("groups") => ResourceKind::Group,
        _ => {
            return Err(ScimError::typed(
                400,
                "invalidPath",
                format!("bulk path {path:?} must be /Users or /Groups[/id]"),
            ));
        }
    };
    let id = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Target { kind, id })
}

/// Replaces every `bulkId:x` in strings of `value` (and returns the ids it could not resolve).
pub fn resolve_refs(value: &mut Value, ids: &HashMap<String, String>) -> Vec<String> {
    let mut missing = Vec::new();
    resolve_in(value, ids, &mut missing);
    missing
}

fn resolve_in(value: &mut Value, ids: &HashMap<String, String>, missing: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains("bulkId:") => {
            // A whole value ("bulkId:x") or a path segment ("/Users/bulkId:x").
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(at) = rest.find("bulkId:") {
                out.push_str(&rest[..at]);
                let tail = &rest[at + "bulkId:".len()..];
                let end = tail.find(['/', '?', ' ']).unwrap_or(tail.len());
                let reference = &tail[..end];
                match ids.get(reference) {
                    Some(id) => out.push_str(id),
                    None => {
                        missing.push(reference.to_string());
                        out.push_str(&rest[at..at + "bulkId:".len() + end]);
                    }
                }
                rest = &tail[end..];
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve_in(v, ids, missing)),
        Value::Object(map) => map.values_mut().for_each(|v| resolve_in(v, ids, missing)),
        _ => {}
    }
}

/// The `bulkId:` references in an operation (path and data).
pub fn references(op: &BulkOp) -> Vec<String> {
    let mut probe = json!([op.path, op.data]);
    resolve_refs(&mut probe, &HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        let req = parse(&json!({
            "schemas": [BULK_REQUEST], "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"userName": "a"}},
                {"method": "post", "path": "/Groups", "bulkId": "ytrewq",
                 "data": {"displayName": "g", "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
                {"method": "DELETE", "path": "/Users/bulkId:qwerty"}
            ]
        }))
        .unwrap();
        assert_eq!(req.fail_on_errors, Some(1));
        assert_eq!(references(&req.operations[1]), vec!["qwerty"]);
        assert_eq!(references(&req.operations[2]), vec!["qwerty"]);
        let mut data = req.operations[1].data.clone().unwrap();
        let ids = HashMap::from([("qwerty".to_string(), "u1".to_string())]);
        assert!(resolve_refs(&mut data, &ids).is_empty());
        assert_eq!(data["members"][0]["value"], "u1");
        assert_eq!(
            target("/Groups/abc").unwrap(),
            Target {
                kind: ResourceKind::Group,
                id: Some("abc".into())
            }
        );
        assert!(target("/Robots").is_err());
    }

    #[test]
    fn rejects_bad_requests() {
        for body in [
            json!({"Operations": []}),
            json!({"schemas": [BULK_REQUEST]}),
            json!({"schemas": [BULK_REQUEST], "Operations": [{"method": "GET", "path": "/Users"}]}),
            json!({"schemas": [BULK_REQUEST], "Operations": [{"method": "POST", "path": "/Users", "data": {}}]}),
            json!({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": []}),
        ] {
            assert_eq!(parse(&body).unwrap_err().status, 400, "{body}");
        }
        let many: Vec<Value> = (0..1001)
            .map(|_| json!({"method": "DELETE", "path": "/Users/x"}))
            .collect();
        assert_eq!(
            parse(&json!({"schemas": [BULK_REQUEST], "Operations": many}))
                .unwrap_err()
                .status,
            413
        );
    }
}
