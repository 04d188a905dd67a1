//! Discovery documents. They advertise exactly what Roster serves today.

use serde_json::{Value, json};

use super::query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use super::schema::{LIST_RESPONSE, Registry, ResourceKind};

/// URN of the ServiceProviderConfig schema.
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The ServiceProviderConfig of a tenant endpoint (`base` = tenant SCIM base URL;
/// `max_payload` = the request body limit, which bounds bulk requests too).
pub fn service_provider_config(base: &str, max_payload: usize) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": format!("{base}/ServiceProviderConfig"),
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": super::bulk::MAX_OPERATIONS,
            "maxPayloadSize": max_payload
        },
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        // No cursorTimeout: cursors are stateless and never expire, and RFC 9865
        // allows only a positive number of seconds there.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_PAGE_SIZE,
            "maxPageSize": MAX_PAGE_SIZE
        },
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

/// A ListResponse of discovery documents.
pub fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// All ResourceType documents.
pub fn resource_types(registry: &Registry, base: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .iter()
        .map(|k| registry.resource_type_json(*k, base))
        .collect()
}
