//! The console's Open API Configuration (API clients), the permission editor
//! on a group's page and the API reference, driven over HTTP as a browser
//! would, with the application API checked for each effect.

mod common;

use common::*;
use serde_json::{Value, json};

/// The value of the input with this id on a page.
fn input_value(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} on the page"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("a value") + 7;
    rest[v..].split('"').next().unwrap().to_string()
}

fn token_status(server: &Server, id: &str, secret: &str, scope: Option<&str>) -> (u16, Value) {
    let mut body = "grant_type=client_credentials".to_string();
    if let Some(s) = scope {
        body.push_str(&format!("&scope={}", enc(s)));
    }
    let r = request(
        "POST",
        &format!("{}/oauth/token", server.base),
        &[FORM, ("Authorization", &basic(id, secret))],
        Some(&body),
    );
    let json = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, json)
}

fn access_token(server: &Server, id: &str, secret: &str) -> String {
    let (status, body) = token_status(server, id, secret, None);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn api(server: &Server, token: &str, path: &str) -> Resp {
    get(
        &format!("{}/api/v1{path}", server.base),
        Some(&bearer(token)),
    )
}

#[test]
fn api_clients_are_created_edited_rotated_and_revoked_in_the_console() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Acme HR");
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    scim.create("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}));
    let console = Console::sign_in(&server, "ops");

    // Integration Configuration opens on Open API Configuration for the first tenant.
    let first = console.get("/admin/settings/api");
    assert_eq!(first.status, 303);
    assert_eq!(
        first.header("location"),
        Some(format!("/admin/settings/api/{slug}").as_str())
    );
    let home = format!("/admin/settings/api/{slug}");
    let empty = console.get(&home);
    assert_eq!(empty.status, 200);
    assert!(
        empty.body.contains("Open API Configuration") && empty.body.contains("No API clients yet")
    );

    // A bad name keeps what was typed and says why.
    let bad = console.post(
        &format!("{home}/clients"),
        &[("name", ""), ("scope", "directory:read")],
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("1-100 printable characters"),
        "{}",
        bad.body
    );
    let no_scope = console.post(&format!("{home}/clients"), &[("name", "HR portal")]);
    assert_eq!(no_scope.status, 400);
    assert!(no_scope.body.contains("value=\"HR portal\""));
    assert!(no_scope.body.contains("at least one scope"));

    // Created: Client ID and Client Secret Key shown once, with copy and eye.
    let made = console.post(
        &format!("{home}/clients"),
        &[
            ("name", "HR portal"),
            ("scope", "directory:read"),
            ("scope", "events:read"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let client_id = input_value(&made.body, "once-id");
    let secret = input_value(&made.body, "once-secret");
    assert!(client_id.starts_with("rc_") && secret.starts_with("rcs_"));
    assert!(made.body.contains("will not be shown again"));
    assert!(
        made.body.contains("data-toggle=\"once-secret\""),
        "eye toggle"
    );
    assert!(
        made.body.contains(&format!("data-copy=\"{secret}\"")),
        "copy icon"
    );
    let listed = console.get(&home);
    assert!(listed.body.contains(&client_id));
    assert!(
        !listed.body.contains(&secret),
        "the secret is shown once only"
    );

    // The application signs in and reads the directory.
    let token = access_token(&server, &client_id, &secret);
    assert_eq!(api(&server, &token, "/users").status, 200);

    // Edit / Cancel / Save: rename and drop directory:read.
    let editing = console.get(&format!("{home}?edit={client_id}"));
    assert!(editing.body.contains(">Save<") && editing.body.contains(">Cancel<"));
    let bad_edit = console.post(
        &format!("{home}/clients/{client_id}"),
        &[("name", "HR portal"), ("scope", "admin:everything")],
    );
    assert_eq!(bad_edit.status, 400);
    assert!(bad_edit.body.contains("unknown scope"), "{}", bad_edit.body);
    let saved = console.post(
        &format!("{home}/clients/{client_id}"),
        &[("name", "HR feed"), ("scope", "events:read")],
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Saved HR feed."));
    // Taking a scope away applies at once, also to the token already issued.
    let narrowed = api(&server, &token, "/users");
    assert_eq!(narrowed.status, 403, "{}", narrowed.body);
    assert_eq!(api(&server, &token, "/events").status, 200);
    assert_eq!(
        token_status(&server, &client_id, &secret, Some("directory:read")).0,
        400
    );

    // Rotate without grace: the old secret stops now, the new one is shown once.
    let rotated = console.post(
        &format!("{home}/clients/{client_id}/rotate"),
        &[("grace_minutes", "0")],
    );
    assert_eq!(rotated.status, 200);
    let new_secret = input_value(&rotated.body, "once-secret");
    assert_ne!(new_secret, secret);
    assert_eq!(token_status(&server, &client_id, &secret, None).0, 401);
    let token = access_token(&server, &client_id, &new_secret);

    // Revoke: its tokens stop at once.
    let revoked = console.post(&format!("{home}/clients/{client_id}/revoke"), &[]);
    assert_eq!(revoked.status, 303);
    assert_eq!(api(&server, &token, "/events").status, 401);
    assert_eq!(token_status(&server, &client_id, &new_secret, None).0, 401);
    assert!(!console.get(&home).body.contains(&client_id));

    // Forms without the session's CSRF token are refused and change nothing.
    let forged = request(
        "POST",
        &format!("{}{home}/clients", server.base),
        &[FORM, ("Cookie", &console.cookie)],
        Some("name=Forged&scope=directory:read"),
    );
    assert_eq!(forged.status, 403);
    assert!(!console.get(&home).body.contains("Forged"));

    // Every change is audited, no secret in the audit or the log.
    let audit = ok(&data, &["audit", "--tenant", &slug]);
    for action in ["app.created", "app.updated", "app.rotated", "app.revoked"] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }
    for s in [&secret, &new_secret] {
        assert!(!audit.contains(s.as_str()));
        assert!(!server.log_text().contains(s.as_str()));
    }
}

#[test]
fn group_pages_edit_role_permissions() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Acme HR");
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    let ada = scim.create("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}));
    let ada_id = ada["id"].as_str().unwrap();
    let group = scim.create("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Payroll", "members": [{"value": ada_id}]}));
    let group_id = group["id"].as_str().unwrap();
    let console = Console::sign_in(&server, "ops");
    let out = ok(
        &data,
        &["app", "create", "--tenant", &slug, "--name", "portal"],
    );
    let id = field(&out, "client_id");
    let secret = field(&out, "client_secret");
    let token = access_token(&server, &id, &secret);

    let list = console.get(&format!("/admin/tenants/{slug}/groups"));
    assert!(
        list.body
            .contains(&format!("/admin/tenants/{slug}/groups/{group_id}"))
    );
    let page_path = format!("/admin/tenants/{slug}/groups/{group_id}");
    let page = console.get(&page_path);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Role permissions") && page.body.contains("No permissions"));
    assert!(page.body.contains("ada@example.com"), "members are listed");

    let action = format!("{page_path}/permissions");
    let granted = console.post(
        &action,
        &[("grant", "true"), ("permission", "payroll:approve")],
    );
    assert_eq!(granted.status, 303);
    assert!(console.get(&page_path).body.contains("payroll:approve"));
    let perms = api(&server, &token, &format!("/users/{ada_id}/permissions")).json();
    assert_eq!(perms["permissions"], json!(["payroll:approve"]), "{perms}");

    let bad = console.post(&action, &[("grant", "true"), ("permission", "pay roll")]);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("a permission is 1-100"), "{}", bad.body);
    assert!(bad.body.contains("value=\"pay roll\""));

    let removed = console.post(
        &action,
        &[("grant", "false"), ("permission", "payroll:approve")],
    );
    assert_eq!(removed.status, 303);
    let perms = api(&server, &token, &format!("/users/{ada_id}/permissions")).json();
    assert_eq!(perms["permissions"], json!([]));
    assert_eq!(
        console
            .get(&format!("/admin/tenants/{slug}/groups/nope"))
            .status,
        404
    );
    let audit = ok(&data, &["audit", "--tenant", &slug]);
    assert!(
        audit.contains("role.granted") && audit.contains("role.revoked"),
        "{audit}"
    );
}

#[test]
fn the_api_reference_page_matches_the_openapi_document() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let console = Console::sign_in(&server, "ops");
    let doc = get(&format!("{}/api/v1/openapi.json", server.base), None).json();
    let page = console.get("/admin/settings/api-reference");
    assert_eq!(page.status, 200);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 11);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let title = format!("{} {path}", method.to_uppercase());
            assert!(
                page.body.contains(&title),
                "{title} missing from the reference"
            );
            let summary = op["summary"].as_str().unwrap();
            let escaped = summary
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            assert!(page.body.contains(&escaped), "summary of {title} missing");
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    page.body
                        .contains(&format!("<code>{}</code>", p["name"].as_str().unwrap()))
                );
            }
        }
    }
    for t in doc["webhooks"]["event"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| *t != "webhook.test")
    {
        assert!(page.body.contains(t.as_str().unwrap()), "{t} missing");
    }
    // Not for anyone without a session.
    assert_eq!(
        get(
            &format!("{}/admin/settings/api-reference", server.base),
            None
        )
        .status,
        303
    );
}
