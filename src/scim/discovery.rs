//! Discovery documents. They advertise exactly what Roster serves today.

use serde_json::{Value, json};

/// URN of the ServiceProviderConfig schema.
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The ServiceProviderConfig of a tenant endpoint (`base` = tenant SCIM base URL).
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": format!("{base}/ServiceProviderConfig"),
        "patch": {"supported": false},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": false, "maxResults": 0},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A tenant token (rst_...) generated in the console or with `roster token create`.",
                "primary": true
            },
            {
                "type": "httpbasic",
                "name": "HTTP Basic",
                "description": "The tenant's client id (roster_scim_<slug>) and secret key."
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}
