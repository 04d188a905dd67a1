//! SCIM error bodies (RFC 7644 §3.12).

use serde_json::{Value, json};

/// URN of the SCIM error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM error: HTTP status, optional `scimType`, and a detail safe to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimError {
    /// HTTP status code.
    pub status: u16,
    /// RFC 7644 `scimType` keyword, where one applies.
    pub scim_type: Option<&'static str>,
    /// Human-readable detail; never contains secrets.
    pub detail: String,
}

impl ScimError {
    /// An error without `scimType`.
    pub fn new(status: u16, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// An error with a `scimType` keyword.
    pub fn typed(status: u16, scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// The response body. `status` is a string, as RFC 7644 §3.12 specifies.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.into()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let b = ScimError::typed(409, "uniqueness", "taken").body();
        assert_eq!(b["status"], "409");
        assert_eq!(b["scimType"], "uniqueness");
        assert_eq!(b["schemas"][0], ERROR_SCHEMA);
        assert!(ScimError::new(404, "x").body().get("scimType").is_none());
    }
}
