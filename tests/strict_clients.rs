//! What strict SCIM clients rely on: discovery that validates, password sync,
//! RFC 7644 §3.6 re-creation after a DELETE, and one-line secrets on stdin.

mod common;

use common::*;
use serde_json::{Value, json};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every integer RFC 7643 §5 / RFC 9865 call positive is positive; the
/// attributes they require are there with the right types.
#[test]
fn discovery_documents_validate() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Discovery");
    let spc = scim.get("/ServiceProviderConfig").json();
    for feature in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(spc[feature]["supported"].is_boolean(), "{feature}: {spc}");
    }
    assert_eq!(spc["changePassword"]["supported"], true);
    for (section, field) in [
        ("bulk", "maxOperations"),
        ("bulk", "maxPayloadSize"),
        ("filter", "maxResults"),
        ("pagination", "defaultPageSize"),
        ("pagination", "maxPageSize"),
    ] {
        assert!(
            spc[section][field].as_u64().is_some_and(|n| n > 0),
            "{section}.{field} must be a positive integer: {spc}"
        );
    }
    // RFC 9865: cursorTimeout, when present, is a positive number of seconds.
    if let Some(timeout) = spc["pagination"].get("cursorTimeout") {
        assert!(timeout.as_u64().is_some_and(|n| n > 0), "{spc}");
    }
    assert!(spc["pagination"]["cursor"].is_boolean());
    assert!(spc["pagination"]["index"].is_boolean());
    let schemes = spc["authenticationSchemes"].as_array().unwrap();
    assert!(!schemes.is_empty());
    for scheme in schemes {
        for field in ["type", "name", "description"] {
            assert!(scheme[field].is_string(), "{scheme}");
        }
    }

    let types = scim.get("/ResourceTypes").json();
    for rt in types["Resources"].as_array().unwrap() {
        for field in ["id", "name", "endpoint", "schema"] {
            assert!(rt[field].is_string(), "{field}: {rt}");
        }
        for ext in rt["schemaExtensions"].as_array().into_iter().flatten() {
            assert!(ext["schema"].is_string() && ext["required"].is_boolean());
        }
    }
    let schemas = scim.get("/Schemas").json();
    let list = schemas["Resources"].as_array().unwrap();
    assert!(list.len() >= 3);
    fn check_attrs(attrs: &[Value], schema: &str) {
        for a in attrs {
            assert!(a["name"].is_string(), "{schema}: {a}");
            for field in ["multiValued", "required", "caseExact"] {
                assert!(a[field].is_boolean(), "{schema}.{}: {field}", a["name"]);
            }
            for field in ["type", "mutability", "returned", "uniqueness"] {
                assert!(a[field].is_string(), "{schema}.{}: {field}", a["name"]);
            }
            if let Some(subs) = a["subAttributes"].as_array() {
                check_attrs(subs, schema);
            }
        }
    }
    for schema in list {
        let id = schema["id"].as_str().unwrap();
        check_attrs(schema["attributes"].as_array().unwrap(), id);
    }
}

/// A password set by POST, PUT or PATCH is stored (as a hash) and never echoed.
#[test]
fn password_sync_is_accepted_and_never_echoed() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Passwords");
    let created = scim.post(
        "/Users",
        &json!({"userName": "pat@example.com", "password": "first-Secret-1"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(!created.body.contains("first-Secret-1"));
    assert!(created.json().get("password").is_none());
    let id = created.json()["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");

    // Okta's password sync: a PATCH replace of password.
    let patched = scim.send(
        "PATCH",
        &path,
        &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {"password": "second-Secret-2"}}]}),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert!(!patched.body.contains("second-Secret-2"));
    assert!(patched.json().get("password").is_none());
    assert_eq!(patched.json()["meta"]["version"], "W/\"2\"");
    let with_path = scim.send(
        "PATCH",
        &format!("{path}?attributes=password,userName"),
        &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "password", "value": "third-Secret-3"}]}),
    );
    assert_eq!(with_path.status, 200, "{}", with_path.body);
    assert!(
        with_path.json().get("password").is_none(),
        "returned: never"
    );

    let replaced = scim.put(
        &path,
        &json!({"userName": "pat@example.com", "password": "fourth-Secret-4"}),
    );
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert!(!replaced.body.contains("fourth-Secret-4"));
    let got = scim.get(&path);
    assert!(got.json().get("password").is_none());
    assert_eq!(got.json()["meta"]["version"], "W/\"4\"");
    let audit = ok(&data, &["audit", "--tenant", "passwords", "--limit", "50"]);
    for secret in ["first-", "second-", "third-", "fourth-"] {
        assert!(!audit.contains(secret), "{audit}");
    }
    assert!(!server.log_text().contains("Secret-"));
}

/// RFC 7644 §3.6: after a DELETE the old id is gone for every operation, and a
/// POST with the same keys is a new resource with a new id that remembers the
/// deleted one (shown in the console), across a restart.
#[test]
fn recreated_user_gets_a_new_id_and_links_the_deleted_one() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Recreate");
    let body = json!({"userName": "ria@example.com", "externalId": "ext-ria",
                      "name": {"givenName": "Ria"}});
    let first = scim.create("/Users", &body);
    let old_id = first["id"].as_str().unwrap().to_string();
    let group = scim.create(
        "/Groups",
        &json!({"displayName": "Crew", "members": [{"value": old_id}]}),
    );
    let gid = group["id"].as_str().unwrap().to_string();
    let old_path = format!("/Users/{old_id}");
    assert_eq!(scim.delete(&old_path).status, 204);

    // A duplicate POST after the delete is not blocked by the deleted row.
    let second = scim.post("/Users", &body);
    assert_eq!(second.status, 201, "{}", second.body);
    let new_id = second.json()["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(second.json()["meta"]["version"], "W/\"1\"");
    assert!(
        second.json().get("groups").is_none(),
        "no memberships carried over"
    );
    // Now the keys are the new user's: a third POST conflicts.
    assert_scim_error(&scim.post("/Users", &body), 409, Some("uniqueness"));

    let check_old_gone = |scim: &Scim| {
        assert_scim_error(&scim.get(&old_path), 404, None);
        assert_scim_error(&scim.put(&old_path, &body), 404, None);
        assert_scim_error(
            &scim.send(
                "PATCH",
                &old_path,
                &json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "replace", "path": "active", "value": false}]}),
            ),
            404,
            None,
        );
        assert_scim_error(&scim.delete(&old_path), 404, None);
        let found = scim
            .get(&format!(
                "/Users?filter={}",
                enc(r#"userName eq "ria@example.com""#)
            ))
            .json();
        assert_eq!(found["totalResults"], 1, "{found}");
        assert_eq!(found["Resources"][0]["id"], new_id.as_str());
        let crew = scim.get(&format!("/Groups/{gid}")).json();
        assert!(crew.get("members").is_none(), "{crew}");
    };
    check_old_gone(&scim);

    let server = server.restart();
    let scim = Scim {
        base: format!("{}/scim/v2/recreate", server.base),
        auth: scim.auth.clone(),
    };
    check_old_gone(&scim);

    // The console's user page names the deleted record.
    ok_in(&data, &["admin", "create", "--username", "ops"], PASSWORD);
    let login = request(
        "POST",
        &format!("{}/admin/login", server.base),
        &[FORM],
        Some(&format!("username=ops&password={PASSWORD}")),
    );
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let page = request(
        "GET",
        &format!("{}/admin/tenants/recreate/users/{new_id}", server.base),
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("re-created; previously "),
        "{}",
        page.body
    );
    assert!(page.body.contains(&old_id));
    let old_page = request(
        "GET",
        &format!("{}/admin/tenants/recreate/users/{old_id}", server.base),
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(old_page.status, 200);
    assert!(old_page.body.contains("deleted this user"));
    assert!(!old_page.body.contains("re-created; previously"));
    assert!(ok(&data, &["check"]).starts_with("ok:"));
}

fn ok_in(data: &std::path::Path, args: &[&str], stdin: &str) {
    let out = roster_in(data, args, &[], Some(stdin));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// `roster admin create|reset-password` take exactly one line of stdin.
#[test]
fn admin_passwords_are_one_line_of_stdin() {
    let (_tmp, data) = temp_data_dir();
    let create = |stdin: &str| {
        roster_in(
            &data,
            &["admin", "create", "--username", "ops"],
            &[],
            Some(stdin),
        )
    };
    for (input, says) in [
        ("first-line-long\nsecond-line-long\n", "more than one line"),
        ("first-line-long\n\n", "more than one line"),
        ("", "empty"),
        ("\n", "empty"),
        ("short\n", "at least 12 characters"),
    ] {
        let out = create(input);
        assert_eq!(out.code, 1, "{input:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{input:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
        assert!(!out.stderr.contains("first-line"), "no secret in errors");
    }
    // Nothing was created by the refused attempts; a CRLF line works.
    let out = create(&format!("{PASSWORD}\r\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reset = |stdin: &str| {
        roster_in(
            &data,
            &["admin", "reset-password", "--username", "ops"],
            &[],
            Some(stdin),
        )
    };
    let two = reset("new-password-one\nnew-password-two");
    assert_eq!(two.code, 1);
    assert!(two.stderr.contains("more than one line"), "{}", two.stderr);
    assert_eq!(
        reset("new-password-one").code,
        0,
        "no newline at the end is fine"
    );

    let server = Server::start(&data);
    let login = |password: &str| {
        request(
            "POST",
            &format!("{}/admin/login", server.base),
            &[FORM],
            Some(&format!("username=ops&password={password}")),
        )
    };
    assert_eq!(login("new-password-one").status, 303);
    assert_ne!(login(PASSWORD).status, 303);
}

/// A PATCH whose path is a whole extension URN: add and replace set the
/// sub-attributes given (a nested "schemas" is tolerated), remove drops it.
#[test]
fn patch_targets_a_whole_extension() {
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Extension");
    let user = scim.create("/Users", &json!({"userName": "ext@example.com"}));
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let op = |op: &str, value: Option<Value>| {
        let mut operation = json!({"op": op, "path": ENTERPRISE});
        if let Some(v) = value {
            operation["value"] = v;
        }
        scim.send(
            "PATCH",
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [operation]}),
        )
    };
    let added = op(
        "add",
        Some(json!({"schemas": [ENTERPRISE], "department": "Ops", "costCenter": "7"})),
    );
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.json()[ENTERPRISE]["department"], "Ops");
    assert!(
        added.json()["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE))
    );
    let replaced = op("replace", Some(json!({"department": "Sales"})));
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.json()[ENTERPRISE]["department"], "Sales");
    assert_eq!(
        replaced.json()[ENTERPRISE]["costCenter"],
        "7",
        "others kept"
    );
    assert_scim_error(&op("add", Some(json!("Ops"))), 400, Some("invalidValue"));
    let removed = op("remove", None);
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(removed.json().get(ENTERPRISE).is_none(), "{}", removed.body);
    assert!(scim.get(&path).json().get(ENTERPRISE).is_none());
}
