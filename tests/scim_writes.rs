//! The writes IdPs really send, replayed literally against the real binary:
//! whole Okta and Entra ID lifecycles, PATCH atomicity, concurrent membership
//! changes, soft and hard delete, profiles and the change feed.

mod common;

use common::*;
use serde_json::{Value, json};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(scim: &Scim, path: &str, operations: Value) -> Resp {
    scim.send(
        "PATCH",
        path,
        &json!({"schemas": [PATCH_OP], "Operations": operations}),
    )
}

fn setup_with_idp(server: &Server, name: &str, idp: &str) -> Scim {
    let scim = Scim::setup(server, name);
    let slug = slug_of(&scim);
    ok(&server.data_dir, &["tenant", "set", &slug, "--idp", idp]);
    scim
}

fn slug_of(scim: &Scim) -> String {
    scim.base.rsplit('/').next().unwrap().to_string()
}

fn events(server: &Server, scim: &Scim) -> Vec<String> {
    ok(
        &server.data_dir,
        &["events", "--tenant", &slug_of(scim), "--limit", "1000"],
    )
    .lines()
    .map(|l| {
        let parts: Vec<&str> = l.split_whitespace().collect();
        format!("{} {}", parts[2], parts[4])
    })
    .collect()
}

#[test]
fn okta_lifecycle() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = setup_with_idp(&server, "Okta", "okta");
    let okta_user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": true
    });

    // Filter by userName: empty.
    let filter = enc(r#"userName eq "test.user@okta.local""#);
    let empty = scim.get(&format!("/Users?filter={filter}&startIndex=1&count=100"));
    assert_eq!(empty.json()["totalResults"], 0);

    // Create and get.
    let user = scim.create("/Users", &okta_user);
    let id = user["id"].as_str().unwrap().to_string();
    let user_path = format!("/Users/{id}");
    assert_eq!(
        scim.get(&user_path).json()["userName"],
        "test.user@okta.local"
    );

    // Update profile: Okta PUTs the whole object.
    let mut profile = okta_user.clone();
    profile["id"] = json!(id);
    profile["name"]["givenName"] = json!("Another");
    let put = scim.put(&user_path, &profile);
    assert_eq!(put.status, 200);
    assert_eq!(put.json()["name"]["givenName"], "Another");

    // Deactivate: replace without path; the user stays readable with active false.
    let off = patch(
        &scim,
        &user_path,
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.json()["active"], false);
    assert_eq!(scim.get(&user_path).json()["active"], false);
    assert_eq!(
        scim.get(&format!("/Users?filter={filter}")).json()["totalResults"],
        1
    );

    // Reactivate.
    let on = patch(
        &scim,
        &user_path,
        json!([{"op": "replace", "value": {"active": true}}]),
    );
    assert_eq!(on.json()["active"], true);

    // Group push: create, add member, rename (Okta repeats the id), remove member, empty.
    let group = scim.create(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []}),
    );
    let gid = group["id"].as_str().unwrap().to_string();
    let group_path = format!("/Groups/{gid}");
    let add = patch(
        &scim,
        &group_path,
        json!([{"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@okta.local"}]}]),
    );
    assert_eq!(add.status, 200, "{}", add.body);
    assert_eq!(
        add.json()["members"][0]["value"],
        id.as_str(),
        "a PATCH answers with the whole group"
    );
    assert_eq!(
        scim.get(&group_path).json()["members"][0]["value"],
        id.as_str()
    );
    let rename = patch(
        &scim,
        &group_path,
        json!([{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 Renamed"}}]),
    );
    assert_eq!(rename.status, 200, "{}", rename.body);
    assert_eq!(rename.json()["displayName"], "Test SCIMv2 Renamed");
    assert_eq!(
        scim.get(&user_path).json()["groups"][0]["display"],
        "Test SCIMv2 Renamed"
    );
    let remove = patch(
        &scim,
        &group_path,
        json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
    );
    assert_eq!(remove.status, 200);
    assert!(scim.get(&group_path).json().get("members").is_none());
    // Adding back and pushing an empty group.
    patch(
        &scim,
        &group_path,
        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
    );
    let emptied = patch(
        &scim,
        &group_path,
        json!([{"op": "replace", "path": "members", "value": []}]),
    );
    assert_eq!(emptied.status, 200);
    assert!(scim.get(&group_path).json().get("members").is_none());

    // Delete the group, delete the user, then re-create the user: a new id (RFC 7644 §3.6).
    assert_eq!(scim.delete(&group_path).status, 204);
    assert_scim_error(&scim.get(&group_path), 404, None);
    assert_eq!(scim.delete(&user_path).status, 204);
    assert_scim_error(&scim.get(&user_path), 404, None);
    assert_eq!(
        scim.get(&format!("/Users?filter={filter}")).json()["totalResults"],
        0
    );
    let mut again = okta_user.clone();
    again["active"] = json!(false);
    let recreated = scim.post("/Users", &again);
    assert_eq!(recreated.status, 201, "{}", recreated.body);
    assert_ne!(recreated.json()["id"], id.as_str(), "a new resource");
    assert_eq!(recreated.json()["active"], false);
    assert_eq!(recreated.json()["meta"]["version"], "W/\"1\"");
    assert_scim_error(&scim.get(&user_path), 404, None);

    let feed = events(&server, &scim);
    let expected = [
        "User created",
        "User updated",
        "User deactivated",
        "User reactivated",
        "Group created",
        "Group updated",
        "Group member.added",
        "Group updated",
        "Group updated",
        "Group member.removed",
        "Group updated",
        "Group member.added",
        "Group updated",
        "Group member.removed",
        "Group deleted",
        "User deleted",
        "User created",
    ];
    assert_eq!(feed, expected);
}

#[test]
fn entra_lifecycle() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = setup_with_idp(&server, "Entra", "entra");
    let user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1";
    let filter = enc(&format!(r#"userName eq "{user_name}""#));
    assert_eq!(
        scim.get(&format!("/Users?filter={filter}")).json()["totalResults"],
        0
    );

    let user = scim.create(
        "/Users",
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []
        }),
    );
    let id = user["id"].as_str().unwrap().to_string();
    let user_path = format!("/Users/{id}");
    assert_eq!(scim.get(&user_path).status, 200);
    assert_eq!(
        scim.get(&format!("/Users?filter={filter}")).json()["totalResults"],
        1
    );

    // Update: capitalised ops, a filtered email path, extension attribute.
    let update = patch(
        &scim,
        &user_path,
        json!([
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "Eqpj"},
            {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "271"}
        ]),
    );
    assert_eq!(update.status, 200, "{}", update.body);
    let u = update.json();
    assert_eq!(u["displayName"], "Pvlo");
    assert_eq!(
        u["emails"],
        json!([{"primary": true, "type": "work", "value": "TestBcwqnm@test.microsoft.com"}])
    );
    assert_eq!(u["name"]["givenName"], "Gtfd");
    assert_eq!(u["externalId"], "Eqpj");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "Eqpj");
    assert_eq!(u[ENTERPRISE]["manager"], json!({"value": "271"}));
    let by_mail = scim.get(&format!(
        "/Users?filter={}",
        enc(r#"emails[type eq "work" and value eq "testbcwqnm@test.microsoft.com"]"#)
    ));
    assert_eq!(
        by_mail.json()["totalResults"],
        1,
        "the email index follows PATCHes"
    );

    // Deactivate with a string boolean; still findable with active false.
    let off = patch(
        &scim,
        &user_path,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.json()["active"], false);
    let found = scim.get(&format!("/Users?filter={filter}")).json();
    assert_eq!(found["Resources"][0]["active"], false);
    let on = patch(
        &scim,
        &user_path,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    );
    assert_eq!(on.json()["active"], true);

    // Groups: Entra creates empty, then PATCHes members; group PATCH answers 204.
    let group = scim.create(
        "/Groups",
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"}
        }),
    );
    let gid = group["id"].as_str().unwrap().to_string();
    let group_path = format!("/Groups/{gid}");
    let add = patch(
        &scim,
        &group_path,
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}]),
    );
    assert_eq!(add.status, 204, "{}", add.body);
    assert_eq!(
        scim.get(&group_path).json()["members"][0]["value"],
        id.as_str()
    );
    let by_member = scim.get(&format!(
        "/Groups?excludedAttributes=members&filter={}",
        enc(&format!(r#"members[value eq "{id}"]"#))
    ));
    assert_eq!(by_member.json()["totalResults"], 1);
    let remove = patch(
        &scim,
        &group_path,
        json!([{"op": "Remove", "path": "members", "value": [{"value": id}]}]),
    );
    assert_eq!(remove.status, 204);
    assert!(scim.get(&group_path).json().get("members").is_none());
    let rename = patch(
        &scim,
        &group_path,
        json!([{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]),
    );
    assert_eq!(rename.status, 204);
    assert_eq!(
        scim.get(&format!("{group_path}?excludedAttributes=members"))
            .json()["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );
    // With an attributes query the resource comes back.
    let asked = scim.send(
        "PATCH",
        &format!("{group_path}?attributes=displayName"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "displayName", "value": "Again"}]}),
    );
    assert_eq!(asked.status, 200);
    assert_eq!(asked.json()["displayName"], "Again");

    assert_eq!(scim.delete(&group_path).status, 204);
    assert_eq!(scim.delete(&user_path).status, 204);
    assert_scim_error(&scim.get(&user_path), 404, None);
    let recreated = scim.create(
        "/Users",
        &json!({"userName": user_name, "externalId": "Eqpj", "active": true}),
    );
    assert_ne!(recreated["id"], id.as_str());
    assert!(
        recreated.get("displayName").is_none(),
        "re-created with the new state only"
    );

    let audit = ok(
        &data,
        &["audit", "--tenant", &slug_of(&scim), "--limit", "200"],
    );
    assert!(audit.contains("matched case-insensitively"), "{audit}");
    assert!(audit.contains("removed only those members"), "{audit}");
}

#[test]
fn patch_is_atomic_and_checks_preconditions() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Atomic");
    let user = scim.create(
        "/Users",
        &json!({"userName": "atom", "displayName": "Before", "title": "T"}),
    );
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let failed = patch(
        &scim,
        &path,
        json!([
            {"op": "replace", "path": "displayName", "value": "After"},
            {"op": "remove", "path": "title"},
            {"op": "add", "path": "shoeSize", "value": 42}
        ]),
    );
    let detail = assert_scim_error(&failed, 400, Some("invalidPath"));
    assert!(detail.starts_with("operation 3:"), "{detail}");
    let now = scim.get(&path);
    assert_eq!(now.json(), user, "a failed PATCH changes nothing");
    assert_eq!(now.header("etag"), Some("W/\"1\""));

    // Type errors surface after application too, and still change nothing.
    let typed = patch(
        &scim,
        &path,
        json!([{"op": "replace", "path": "title", "value": "x"}, {"op": "replace", "path": "active", "value": "maybe"}]),
    );
    assert_scim_error(&typed, 400, Some("invalidValue"));
    assert_scim_error(
        &patch(&scim, &path, json!([{"op": "remove", "path": "userName"}])),
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &patch(
            &scim,
            &path,
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        ),
        400,
        Some("mutability"),
    );
    assert_eq!(scim.get(&path).json(), user);

    let stale = request(
        "PATCH",
        &scim.url(&path),
        &[("Authorization", &scim.auth), ("If-Match", "W/\"7\"")],
        Some(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string()),
    );
    assert_scim_error(&stale, 412, Some("preconditionFailed"));
    let fresh = request(
        "PATCH",
        &scim.url(&path),
        &[("Authorization", &scim.auth), ("If-Match", "W/\"1\"")],
        Some(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string()),
    );
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.header("etag"), Some("W/\"2\""));
    assert_scim_error(
        &patch(
            &scim,
            "/Users/missing",
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        ),
        404,
        None,
    );
}

#[test]
fn membership_changes_are_idempotent_lenient_and_never_lost() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Members");
    let ids: Vec<String> = (0..50)
        .map(|i| {
            scim.create("/Users", &json!({"userName": format!("m{i}")}))["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let group = scim.create("/Groups", &json!({"displayName": "Crowd"}));
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());

    // 50 concurrent single-member adds: none lost.
    std::thread::scope(|s| {
        for id in &ids {
            let (scim, group_path) = (&scim, &group_path);
            s.spawn(move || {
                let r = patch(
                    scim,
                    group_path,
                    json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                );
                assert_eq!(r.status, 200, "{}", r.body);
            });
        }
    });
    let members = scim.get(&group_path).json()["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(members, 50);
    assert_eq!(scim.get(&group_path).header("etag"), Some("W/\"51\""));

    // Idempotent: adding an existing member or removing an absent one is fine.
    let again = patch(
        &scim,
        &group_path,
        json!([{"op": "add", "path": "members", "value": [{"value": ids[0]}]}]),
    );
    assert_eq!(again.status, 200);
    let absent = patch(
        &scim,
        &group_path,
        json!([{"op": "remove", "path": "members[value eq \"not-a-member\"]"}]),
    );
    assert_eq!(absent.status, 200);

    // An unknown id does not fail the others (default: skip and report).
    let mixed = patch(
        &scim,
        &group_path,
        json!([
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": [{"value": ids[1]}, {"value": "stale-id"}, {"value": ids[2]}]}
        ]),
    );
    assert_eq!(mixed.status, 200, "{}", mixed.body);
    let values: Vec<String> = scim.get(&group_path).json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values.len(), 2);
    let audit = ok(&data, &["audit", "--tenant", &slug_of(&scim)]);
    assert!(
        audit.contains("skipped unknown member id(s): stale-id"),
        "{audit}"
    );

    // Strict setting: the whole PATCH is refused and nothing changes.
    ok(
        &data,
        &[
            "tenant",
            "set",
            &slug_of(&scim),
            "--unknown-members",
            "reject",
        ],
    );
    let strict = patch(
        &scim,
        &group_path,
        json!([{"op": "add", "path": "members", "value": [{"value": ids[3]}, {"value": "stale-id"}]}]),
    );
    assert_scim_error(&strict, 400, Some("invalidValue"));
    assert_eq!(
        scim.get(&group_path).json()["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Nested groups are members too, and show as type Group.
    let parent = scim.create(
        "/Groups",
        &json!({"displayName": "Parent", "members": [{"value": group["id"], "type": "Group"}]}),
    );
    assert_eq!(parent["members"][0]["type"], "Group");
}

#[test]
fn delete_policies() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Policy");
    let slug = slug_of(&scim);
    let first = scim.create(
        "/Users",
        &json!({"userName": "gone", "externalId": "ext-1"}),
    );
    let id = first["id"].as_str().unwrap();
    assert_eq!(scim.delete(&format!("/Users/{id}")).status, 204);
    assert_eq!(
        scim.get("/Users").json()["totalResults"],
        0,
        "tombstones are listed nowhere"
    );
    // The deleted user's externalId is free again: a new user takes it.
    let second = scim.create(
        "/Users",
        &json!({"userName": "gone-renamed", "externalId": "ext-1"}),
    );
    let second_id = second["id"].as_str().unwrap();
    assert_ne!(second_id, id);
    assert_eq!(second["meta"]["version"], "W/\"1\"");

    ok(&data, &["tenant", "set", &slug, "--delete-policy", "hard"]);
    assert!(ok(&data, &["tenant", "show", &slug]).contains("delete policy: hard"));
    // A DELETE takes no query parameters: ones it does not read are ignored.
    assert_eq!(
        scim.delete(&format!("/Users/{second_id}?count=many&attributes=nope"))
            .status,
        204
    );
    let fresh = scim.create(
        "/Users",
        &json!({"userName": "gone-renamed", "externalId": "ext-1"}),
    );
    assert_ne!(fresh["id"], second_id, "hard delete leaves nothing behind");
    let bad = roster(&data, &["tenant", "set", &slug, "--delete-policy", "shred"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("soft or hard"));
}

#[test]
fn auto_profile_detects_the_client() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = setup_with_idp(&server, "Auto", "auto");
    let group = scim.create("/Groups", &json!({"displayName": "G"}));
    let path = scim.url(&format!("/Groups/{}", group["id"].as_str().unwrap()));
    let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "H"}]}).to_string();
    let okta = request(
        "PATCH",
        &path,
        &[
            ("Authorization", &scim.auth),
            ("User-Agent", "Okta SCIM Client 1.0.0"),
        ],
        Some(&body),
    );
    assert_eq!(okta.status, 200);
    let entra = request(
        "PATCH",
        &format!("{path}?aadOptscim062020"),
        &[("Authorization", &scim.auth)],
        Some(&body),
    );
    assert_eq!(entra.status, 204, "Entra's flag selects its profile");
    let audit = ok(&data, &["audit", "--tenant", &slug_of(&scim)]);
    assert!(audit.contains("client looks like okta"), "{audit}");
    assert!(audit.contains("client looks like entra"), "{audit}");
}

#[test]
fn bulk_with_cross_references_fail_on_errors_and_limits() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::launch(
        &data,
        Launch {
            args: vec!["--body-limit", "65536"],
            ..Launch::default()
        },
    )
    .unwrap();
    let scim = Scim::setup(&server, "Bulk");
    let spc = scim.get("/ServiceProviderConfig").json();
    assert_eq!(
        spc["bulk"],
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 65536})
    );

    // The group comes first but names users created later in the same request.
    let resp = scim.post(
        "/Bulk",
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g1",
                 "data": {"displayName": "Tour Guides", "members": [
                     {"type": "User", "value": "bulkId:alice"}, {"type": "User", "value": "bulkId:bob"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "alice", "data": {"userName": "alice"}},
                {"method": "POST", "path": "/Users", "bulkId": "bob", "data": {"userName": "bob"}},
                {"method": "PATCH", "path": "/Users/bulkId:bob",
                 "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}}
            ]
        }),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let body = resp.json();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "201", "200"]);
    assert_eq!(ops[0]["bulkId"], "g1");
    let group_location = ops[0]["location"].as_str().unwrap();
    assert!(group_location.starts_with(&scim.url("/Groups/")));
    assert_eq!(ops[0]["version"], "W/\"1\"");
    let group = get(group_location, Some(&scim.auth)).json();
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    let bob = get(ops[2]["location"].as_str().unwrap(), Some(&scim.auth)).json();
    assert_eq!(bob["active"], false);

    // failOnErrors: processing stops after the first error.
    let resp = scim.post(
        "/Bulk",
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "alice"}},
                {"method": "POST", "path": "/Users", "bulkId": "carol", "data": {"userName": "carol"}}
            ]
        }),
    );
    let ops = resp.json()["Operations"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    let carol = scim
        .get(&format!("/Users?filter={}", enc(r#"userName eq "carol""#)))
        .json();
    assert_eq!(carol["totalResults"], 0);

    // Unresolvable and circular references are per-operation errors.
    let resp = scim.post(
        "/Bulk",
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "DELETE", "path": "/Users/bulkId:nobody"},
                {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "A", "members": [{"value": "bulkId:b"}]}},
                {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]}}
            ]
        }),
    );
    let ops = resp.json()["Operations"].as_array().unwrap().clone();
    assert_eq!(
        ops.iter()
            .map(|o| o["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["409", "409", "409"]
    );

    // Limits: maxOperations and maxPayloadSize.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let too_many = scim.post("/Bulk", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": many}));
    assert_scim_error(&too_many, 413, None);
    let big: Vec<Value> = (0..900)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {"userName": format!("user-number-{i}-{}", "x".repeat(40))}}))
        .collect();
    let too_big = scim.post("/Bulk", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": big}));
    assert_scim_error(&too_big, 413, None);
}

#[test]
fn one_member_change_on_a_100k_member_group() {
    use roster::store::Kind;
    use roster::store::records::ResourceRecord;
    let (_tmp, data) = temp_data_dir();
    let slug = create_tenant(&data, "Big");
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    let token = ok(&data, &["token", "create", "--tenant", &slug])
        .trim()
        .to_string();
    let group_id = "big-group";
    {
        let config = roster::config::Config {
            data_dir: data.clone(),
            ..roster::config::Config::default()
        };
        let tenant = roster::directory::Directory::open(&config)
            .unwrap()
            .tenant(&slug)
            .unwrap()
            .id;
        // Seeded straight into the store file: 100 000 SCIM creates would take minutes.
        let store = roster::store::Store::open(&data.join("roster.redb")).unwrap();
        let record = |id: String, data: Value| ResourceRecord {
            id,
            schemas: vec![],
            data: data.as_object().unwrap().clone(),
            password_hash: None,
            created_ms: 0,
            modified_ms: 0,
            version: 1,
            previous_id: None,
            deleted_ms: None,
        };
        store
            .write(|tx| {
                for i in 0..100_000u32 {
                    let id = format!("u{i:06}");
                    tx.put_resource(
                        Kind::User,
                        tenant,
                        &record(id.clone(), json!({"userName": id})),
                        None,
                    )?;
                    tx.add_member(tenant, group_id, &id, "User")?;
                }
                tx.put_resource(
                    Kind::Group,
                    tenant,
                    &record(group_id.into(), json!({"displayName": "Everyone"})),
                    None,
                )
            })
            .unwrap();
    }
    let server = Server::start(&data);
    let scim = Scim {
        base: format!("{}/scim/v2/{slug}", server.base),
        auth: bearer(&token),
    };
    let newcomer = scim.create("/Users", &json!({"userName": "newcomer"}));
    let nid = newcomer["id"].as_str().unwrap();
    let path = format!("/Groups/{group_id}");
    let add = patch(
        &scim,
        &path,
        json!([{"op": "add", "path": "members", "value": [{"value": nid}]}]),
    );
    // Too many members to list in the answer: 204, never a partial group.
    assert_eq!(add.status, 204, "{}", add.body);
    assert_eq!(add.header("etag"), Some("W/\"2\""));
    let lean = scim.get(&format!("{path}?excludedAttributes=members"));
    assert!(lean.json().get("members").is_none());
    assert_eq!(lean.header("etag"), Some("W/\"2\""));
    let member_filter = |id: &str| enc(&format!(r#"members[value eq "{id}"]"#));
    assert_eq!(
        scim.get(&format!("/Groups?count=0&filter={}", member_filter(nid)))
            .json()["totalResults"],
        1
    );
    assert_eq!(
        scim.get(&format!("/Users/{nid}")).json()["groups"][0]["value"],
        group_id
    );
    let remove = patch(
        &scim,
        &path,
        json!([{"op": "remove", "path": format!("members[value eq \"{nid}\"]")}]),
    );
    assert_eq!(remove.status, 204);
    let asked = scim.send(
        "PATCH",
        &format!("{path}?excludedAttributes=members"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "externalId", "value": "all"}]}),
    );
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert_eq!(asked.json()["externalId"], "all");
    assert!(asked.json().get("members").is_none());
    assert_eq!(
        scim.get(&format!("/Groups?count=0&filter={}", member_filter(nid)))
            .json()["totalResults"],
        0
    );
    assert_eq!(
        scim.get(&format!(
            "/Groups?count=0&filter={}",
            member_filter("u099999")
        ))
        .json()["totalResults"],
        1
    );
    // The full group is written as it is read (chunked), and is whole.
    let full = scim.get(&path);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("transfer-encoding"), Some("chunked"));
    assert!(full.header("content-length").is_none());
    let etag = full.header("etag").unwrap().to_string();
    let full = full.json();
    assert_eq!(full["displayName"], "Everyone");
    assert_eq!(full["meta"]["resourceType"], "Group");
    let members = full["members"].as_array().unwrap();
    assert_eq!(members.len(), 100_000);
    let mut values: Vec<&str> = members
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 100_000);
    assert_eq!(values[99_999], "u099999");
    assert_eq!(members[7]["type"], "User");
    assert!(
        members[7]["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{}", members[7]["value"].as_str().unwrap()))
    );
    let unchanged = request(
        "GET",
        &scim.url(&path),
        &[("Authorization", &scim.auth), ("If-None-Match", &etag)],
        None,
    );
    assert_eq!(unchanged.status, 304);
    // A projection that reshapes members is answered whole, in memory.
    let values_only = scim.get(&format!("{path}?attributes=members.value"));
    assert!(values_only.header("content-length").is_some());
    let values_only = values_only.json();
    assert_eq!(values_only["members"].as_array().unwrap().len(), 100_000);
    assert!(values_only["members"][0].get("$ref").is_none());
}

/// Concurrent creates share durable commits; the duplicates among them are
/// refused one by one without costing the others their write, and everything
/// answered 201 is there after a crash.
#[test]
fn concurrent_writes_share_commits_and_stay_isolated() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Batch");
    // 40 distinct names, each sent twice at once: one of each pair wins.
    let names: Vec<String> = (0..80)
        .map(|i| format!("batch{}@example.com", i % 40))
        .collect();
    let statuses: Vec<(String, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let scim = &scim;
                s.spawn(move || {
                    let r = scim.post(
                        "/Users",
                        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}),
                    );
                    let id = if r.status == 201 { r.json()["id"].as_str().unwrap().to_string() } else { String::new() };
                    if r.status == 409 {
                        assert_scim_error(&r, 409, Some("uniqueness"));
                    }
                    (name.clone(), r.status, id)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created: Vec<&(String, u16, String)> = statuses.iter().filter(|s| s.1 == 201).collect();
    assert_eq!(created.len(), 40, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| s.1 == 409).count(), 40);
    let mut winners: Vec<&str> = created.iter().map(|s| s.0.as_str()).collect();
    winners.sort();
    winners.dedup();
    assert_eq!(winners.len(), 40, "each name created exactly once");

    let metrics = get(&format!("{}/metrics", server.base), None).body;
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    assert!(
        counter("roster_store_commits_total") < counter("roster_store_writes_total"),
        "concurrent writes were not batched:\n{metrics}"
    );

    // A crash right after the answers: every 201 was committed before it was sent.
    server.kill();
    let server = Server::start(&data);
    let scim = Scim {
        base: scim
            .base
            .replace(&scim.base[..scim.base.find("/scim").unwrap()], &server.base),
        ..scim
    };
    for (name, _, id) in created {
        let r = scim.get(&format!("/Users/{id}"));
        assert_eq!(r.status, 200, "{name} lost after restart");
        assert_eq!(r.json()["userName"], name.as_str());
    }
    let list = scim.get("/Users?count=0").json();
    assert_eq!(list["totalResults"], 40);
}

/// Audit rows of requests are buffered and committed lazily (no fsync of their
/// own): a graceful stop still persists every one, the last partial batch too.
#[test]
fn request_audit_rows_survive_a_graceful_restart() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Audited");
    // One full batch (256 rows) goes through the writer; the rest stay buffered.
    for i in 0..300 {
        let r = scim.get(&format!("/Users?filter=userName%20eq%20%22n{i}%22"));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(server.stop().success());
    let audit = ok(
        &data,
        &["audit", "--tenant", &slug_of(&scim), "--limit", "1000"],
    );
    let rows = audit.lines().filter(|l| l.contains("scim.request")).count();
    assert_eq!(rows, 300, "{audit}");
}

/// A user with these unique keys.
fn keyed_user(name: &str, external_id: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
           "userName": name, "externalId": external_id, "active": true})
}

/// A deleted user keeps its keys (so a POST with them links to it); a live
/// user may take one of them meanwhile. Re-creating the first under other keys
/// must leave the second its key: still found, still unique.
#[test]
fn a_recreated_user_leaves_alone_a_key_another_user_took() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Revive");
    let kim = scim.create("/Users", &keyed_user("kim@example.com", "ext-kim"));
    let kim_id = kim["id"].as_str().unwrap().to_string();
    assert_eq!(scim.delete(&format!("/Users/{kim_id}")).status, 204);
    let lee = scim.create("/Users", &keyed_user("lee@example.com", "ext-lee"));
    let lee_id = lee["id"].as_str().unwrap().to_string();
    let renamed = scim.put(
        &format!("/Users/{lee_id}"),
        &keyed_user("kim@example.com", "ext-lee"),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);

    // Kim's externalId comes back as a new user, zed.
    let recreated = scim.create("/Users", &keyed_user("zed@example.com", "ext-kim"));
    assert_ne!(recreated["id"], kim_id.as_str());

    let found = scim.get("/Users?filter=userName%20eq%20%22kim@example.com%22");
    assert_eq!(found.status, 200, "{}", found.body);
    let found = found.json();
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], lee_id.as_str());
    let taken = scim.post("/Users", &keyed_user("kim@example.com", "ext-other"));
    assert_scim_error(&taken, 409, Some("uniqueness"));
}

/// Point filters are answered from the unique indexes (userName, externalId,
/// group displayName); after renames, deletes and a new owner of the name,
/// every answer is still the current one.
#[test]
fn point_filters_follow_renames_and_deletes() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Hints");
    let ids_for = |filter: &str| -> Vec<String> {
        let r = scim.get(&format!(
            "/Users?filter={}",
            filter
                .replace('\\', "%5C")
                .replace(' ', "%20")
                .replace('"', "%22")
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        assert_eq!(
            body["totalResults"],
            body["Resources"].as_array().unwrap().len()
        );
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect()
    };
    let ann = scim.create("/Users", &keyed_user("ann@example.com", "ext-1"));
    let ann_id = ann["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(
            ids_for(r#"userName eq "ANN@example.com""#),
            [ann_id.as_str()]
        );
        assert_eq!(ids_for(r#"externalId eq "ext-1""#), [ann_id.as_str()]);
    }
    // externalId is caseExact; a JSON escape in the value is decoded.
    assert!(ids_for(r#"externalId eq "EXT-1""#).is_empty());
    assert_eq!(
        ids_for(r#"userName eq "\u0061nn@example.com""#),
        [ann_id.as_str()]
    );

    // Renamed and given another externalId: the old keys find nobody.
    let renamed = scim.put(
        &format!("/Users/{ann_id}"),
        &keyed_user("anna@example.com", "ext-2"),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert!(ids_for(r#"userName eq "ann@example.com""#).is_empty());
    assert!(ids_for(r#"externalId eq "ext-1""#).is_empty());
    assert_eq!(
        ids_for(r#"userName eq "anna@example.com""#),
        [ann_id.as_str()]
    );

    // A new user takes the old keys: found, not the renamed one.
    let bob = scim.create("/Users", &keyed_user("ann@example.com", "ext-1"));
    let bob_id = bob["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids_for(r#"userName eq "ann@example.com""#),
        [bob_id.as_str()]
    );
    assert_eq!(ids_for(r#"externalId eq "ext-1""#), [bob_id.as_str()]);

    // Deleted: gone from the filter.
    assert_eq!(scim.delete(&format!("/Users/{bob_id}")).status, 204);
    assert!(ids_for(r#"userName eq "ann@example.com""#).is_empty());
    assert!(ids_for(r#"externalId eq "ext-1""#).is_empty());

    // Groups by displayName, renamed the same way.
    let group = scim.create(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops"}),
    );
    let group_id = group["id"].as_str().unwrap().to_string();
    let groups_for = |name: &str| -> usize {
        let r = scim.get(&format!("/Groups?filter=displayName%20eq%20%22{name}%22"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["totalResults"].as_u64().unwrap() as usize
    };
    assert_eq!(groups_for("ops"), 1);
    let renamed = scim.put(
        &format!("/Groups/{group_id}"),
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Platform"}),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(groups_for("ops"), 0);
    assert_eq!(groups_for("platform"), 1);
}

/// A PATCH or PUT that keeps a user's own userName and externalId passes the
/// uniqueness check (those keys are the user's already); one that takes
/// another live user's key, in any case for userName, is refused and changes
/// nothing.
#[test]
fn changing_to_another_users_key_is_refused_and_keeping_ones_own_is_not() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Keys");
    let ann = scim.create("/Users", &keyed_user("ann@example.com", "ext-ann"));
    let ann_id = ann["id"].as_str().unwrap().to_string();
    scim.create("/Users", &keyed_user("bob@example.com", "ext-bob"));
    let patch = |ops: Value| {
        scim.send(
            "PATCH",
            &format!("/Users/{ann_id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
        )
    };

    let kept = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(kept.status, 200, "{}", kept.body);
    let recased = patch(json!([{"op": "replace", "path": "userName", "value": "ANN@example.com"}]));
    assert_eq!(recased.status, 200, "{}", recased.body);

    let taken_name =
        patch(json!([{"op": "replace", "path": "userName", "value": "Bob@Example.com"}]));
    assert_scim_error(&taken_name, 409, Some("uniqueness"));
    let taken_ext = patch(json!([{"op": "replace", "path": "externalId", "value": "ext-bob"}]));
    assert_scim_error(&taken_ext, 409, Some("uniqueness"));
    let put = scim.put(
        &format!("/Users/{ann_id}"),
        &keyed_user("bob@example.com", "ext-ann"),
    );
    assert_scim_error(&put, 409, Some("uniqueness"));

    let now = scim.get(&format!("/Users/{ann_id}")).json();
    assert_eq!(now["userName"], "ANN@example.com", "{now}");
    assert_eq!(now["externalId"], "ext-ann", "{now}");
    assert_eq!(now["active"], false, "{now}");
}

/// A deleted user's userName, taken by another user and given up again, is
/// out of the index; re-creating the user must claim it again, so the name
/// stays unique and is found.
#[test]
fn a_recreated_user_claims_again_a_key_another_user_gave_up() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Reclaim");
    let nina = scim.create("/Users", &keyed_user("nina@example.com", "ext-nina"));
    let nina_id = nina["id"].as_str().unwrap().to_string();
    assert_eq!(scim.delete(&format!("/Users/{nina_id}")).status, 204);
    let amy = scim.create("/Users", &keyed_user("amy@example.com", "ext-amy"));
    let amy_id = amy["id"].as_str().unwrap().to_string();
    for name in ["nina@example.com", "amy@example.com"] {
        let renamed = scim.put(&format!("/Users/{amy_id}"), &keyed_user(name, "ext-amy"));
        assert_eq!(renamed.status, 200, "{}", renamed.body);
    }

    let recreated = scim.create("/Users", &keyed_user("nina@example.com", "ext-nina"));
    let new_id = recreated["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, nina_id);
    let again = scim.post("/Users", &keyed_user("NINA@example.com", "ext-other"));
    assert_scim_error(&again, 409, Some("uniqueness"));
    let found = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "nina@example.com""#)
        ))
        .json();
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], new_id.as_str());
}
