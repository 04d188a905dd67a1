//! Shape limits of a request body, checked once it parses and before any of
//! it is looked at: no SCIM resource needs more, and each bounds the work a
//! hostile body can cause. The byte size is bounded before parsing
//! (`body_limit`).

use serde_json::Value;

use super::error::ScimError;

/// Deepest nesting of objects and arrays (a User needs 3).
pub const MAX_DEPTH: usize = 16;
/// Longest string value or attribute name, in bytes.
pub const MAX_STRING: usize = 64 * 1024;
/// Most attributes in one object.
pub const MAX_KEYS: usize = 1000;
/// Most values in one array (group members in one request among them).
pub const MAX_ITEMS: usize = 20_000;

/// Checks a parsed body against the limits above.
pub fn check_shape(body: &Value) -> Result<(), ScimError> {
    check(body, 1)
}

fn too_big(what: String) -> ScimError {
    ScimError::typed(400, "invalidValue", what)
}

fn check(value: &Value, depth: usize) -> Result<(), ScimError> {
    match value {
        Value::String(s) if s.len() > MAX_STRING => Err(too_big(format!(
            "a string value is {} bytes long; the limit is {MAX_STRING}",
            s.len()
        ))),
        Value::Array(_) | Value::Object(_) if depth > MAX_DEPTH => Err(too_big(format!(
            "the body nests deeper than {MAX_DEPTH} levels"
        ))),
        Value::Array(items) if items.len() > MAX_ITEMS => Err(too_big(format!(
            "an array has {} values; the limit per request is {MAX_ITEMS}",
            items.len()
        ))),
        Value::Array(items) => items.iter().try_for_each(|v| check(v, depth + 1)),
        Value::Object(map) if map.len() > MAX_KEYS => Err(too_big(format!(
            "an object has {} attributes; the limit is {MAX_KEYS}",
            map.len()
        ))),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.len() > MAX_STRING {
                return Err(too_big(format!(
                    "an attribute name is {} bytes long; the limit is {MAX_STRING}",
                    k.len()
                )));
            }
            check(v, depth + 1)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn each_limit_is_enforced_at_its_edge() {
        assert!(check_shape(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(check_shape(&nested(MAX_DEPTH + 1)).unwrap_err().status, 400);
        assert!(check_shape(&json!({"a": "x".repeat(MAX_STRING)})).is_ok());
        assert!(check_shape(&json!({"a": "x".repeat(MAX_STRING + 1)})).is_err());
        let items: Vec<Value> = (0..MAX_ITEMS).map(|i| json!(i)).collect();
        assert!(check_shape(&json!({ "members": items })).is_ok());
        let items: Vec<Value> = (0..=MAX_ITEMS).map(|i| json!(i)).collect();
        assert!(check_shape(&json!({ "members": items })).is_err());
        let keys: serde_json::Map<String, Value> = (0..=MAX_KEYS)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        let err = check_shape(&Value::Object(keys)).unwrap_err();
        assert_eq!(err.scim_type, Some("invalidValue"));
    }
}
