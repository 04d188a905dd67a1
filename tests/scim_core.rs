//! SCIM 2.0 core over HTTP against the real binary: the literal requests of
//! Okta's SCIM 2.0 reference and Microsoft's SCIM tutorial, discovery,
//! filters, sorting, paging (index and cursor), projection, errors.

mod common;

use common::*;
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

fn okta_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

fn assert_list(body: &Value, total: u64, items: u64) {
    assert_eq!(body["schemas"][0], LIST);
    assert_eq!(body["totalResults"].as_u64(), Some(total), "{body}");
    assert_eq!(body["itemsPerPage"].as_u64(), Some(items), "{body}");
    assert_eq!(
        body["Resources"].as_array().map(|a| a.len() as u64),
        Some(items)
    );
}

#[test]
fn okta_user_lifecycle_create_get_filter_replace_delete() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Okta App");

    // Test connector configuration: GET /Users?startIndex=1&count=2 on an empty tenant.
    let empty = scim.get("/Users?startIndex=1&count=2");
    assert_eq!(empty.status, 200);
    assert_list(&empty.json(), 0, 0);
    assert_eq!(empty.json()["startIndex"], 1);

    // Existence check before create: 200 with an empty ListResponse, never 404.
    let filter = enc(r#"userName eq "test.user@okta.local""#);
    let check = scim.get(&format!("/Users?filter={filter}&startIndex=1&count=100"));
    assert_eq!(check.status, 200);
    assert_list(&check.json(), 0, 0);

    // Create: 201 with the full resource, Location and ETag; the password is never returned.
    let resp = scim.post("/Users", &okta_user());
    assert_eq!(resp.status, 201, "{}", resp.body);
    let user = resp.json();
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["userName"], "test.user@okta.local");
    assert_eq!(user["name"]["givenName"], "Test");
    assert_eq!(user["emails"][0]["value"], "test.user@okta.local");
    assert_eq!(user["active"], true);
    assert_eq!(user["externalId"], "00ujl29u0le5T6Aj10h7");
    assert!(user.get("password").is_none());
    assert_eq!(user["schemas"], json!([USER]));
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(user["meta"]["location"], scim.url(&format!("/Users/{id}")));
    assert_eq!(
        resp.header("location"),
        Some(scim.url(&format!("/Users/{id}")).as_str())
    );
    assert_eq!(resp.header("etag"), Some("W/\"1\""));
    assert_eq!(user["meta"]["version"], "W/\"1\"");
    assert!(user["meta"]["created"].as_str().unwrap().ends_with('Z'));

    // Duplicate userName (any case) is 409 uniqueness.
    let mut dup = okta_user();
    dup["userName"] = json!("TEST.USER@OKTA.LOCAL");
    dup["externalId"] = json!("other");
    assert_scim_error(&scim.post("/Users", &dup), 409, Some("uniqueness"));

    // Get and filter (userName is case-insensitive).
    let got = scim.get(&format!("/Users/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), user);
    let filter = enc(r#"userName eq "Test.User@OKTA.local""#);
    let found = scim
        .get(&format!("/Users?filter={filter}&startIndex=1&count=100"))
        .json();
    assert_list(&found, 1, 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Okta's profile update: GET then PUT of the full object with id, meta and groups.
    let put_body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Another User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true,
        "meta": {"resourceType": "User", "created": "1999-01-01T00:00:00Z"}
    });
    let replaced = scim.put(&format!("/Users/{id}"), &put_body);
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    let replaced_body = replaced.json();
    assert_eq!(replaced_body["name"]["givenName"], "Another");
    assert_eq!(replaced_body["displayName"], "Another User");
    assert_eq!(
        replaced_body["meta"]["created"], user["meta"]["created"],
        "readOnly meta ignored"
    );
    assert_eq!(replaced.header("etag"), Some("W/\"2\""));
    assert!(replaced_body.get("nickName").is_none());

    // Deactivation through PUT keeps the user readable and filterable.
    let mut inactive = put_body.clone();
    inactive["active"] = json!(false);
    assert_eq!(scim.put(&format!("/Users/{id}"), &inactive).status, 200);
    let by_state = scim
        .get(&format!("/Users?filter={}", enc("active eq false")))
        .json();
    assert_list(&by_state, 1, 1);
    assert_eq!(scim.get(&format!("/Users/{id}")).json()["active"], false);

    // Delete, then 404 with a SCIM error body.
    let deleted = scim.delete(&format!("/Users/{id}"));
    assert_eq!(deleted.status, 204);
    assert_scim_error(&scim.get(&format!("/Users/{id}")), 404, None);
    assert_scim_error(&scim.delete(&format!("/Users/{id}")), 404, None);
    assert_list(&scim.get("/Users").json(), 0, 0);
    // The userName is free again.
    assert_eq!(scim.post("/Users", &okta_user()).status, 201);
}

#[test]
fn microsoft_tutorial_requests() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Entra App");

    // Keep-alive / test connection: a random non-existent user must be 200 with totalResults 0.
    let probe = scim.get("/Users?filter=userName+eq+%22non-existent+user%22");
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert_list(&probe.json(), 0, 0);

    let user = scim.create(
        "/Users",
        &json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "active": true,
            "emails": [{
                "primary": true,
                "type": "work",
                "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
            }],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName"
            },
            "roles": []
        }),
    );
    let id = user["id"].as_str().unwrap();
    assert_eq!(user["name"]["formatted"], "givenName familyName");
    assert!(user.get("roles").is_none(), "empty arrays are not stored");

    // Entra's matching queries: externalId (case-exact) and emails[type eq "work"].
    let by_ext = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)
        ))
        .json();
    assert_list(&by_ext, 1, 1);
    let wrong_case = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF""#)
        ))
        .json();
    assert_list(&wrong_case, 0, 0);
    let by_mail = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"emails[type eq "work"].value eq "x" or emails[type eq "work" and value eq "TEST_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"]"#)
        ));
    // `emails[...].value eq` is not filter grammar: a clear 400 rather than a guess.
    assert_scim_error(&by_mail, 400, Some("invalidFilter"));
    let by_mail = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"emails[type eq "work" and value eq "TEST_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"]"#)
        ))
        .json();
    assert_list(&by_mail, 1, 1);

    // Group create with the old ADSCIM schema URN tolerated.
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
    let gid = group["id"].as_str().unwrap();
    assert_eq!(
        group["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    let found = scim
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc(r#"displayName eq "displayName""#)
        ))
        .json();
    assert_list(&found, 1, 1);
    let none = scim
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc(r#"displayName eq "another""#)
        ))
        .json();
    assert_list(&none, 0, 0);
    assert_scim_error(
        &scim.post("/Groups", &json!({"displayName": "DISPLAYNAME"})),
        409,
        Some("uniqueness"),
    );

    // Put the user in the group with a full PUT; User.groups is derived.
    let put = scim.put(
        &format!("/Groups/{gid}"),
        &json!({"displayName": "displayName", "members": [{"value": id}]}),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["members"][0]["value"], id);
    assert_eq!(put.json()["members"][0]["type"], "User");
    let u = scim.get(&format!("/Users/{id}")).json();
    assert_eq!(u["groups"][0]["value"], gid);
    assert_eq!(u["groups"][0]["display"], "displayName");
    let g = scim
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .json();
    assert!(g.get("members").is_none());
    let by_member = scim
        .get(&format!(
            "/Groups?filter={}",
            enc(&format!(r#"members[value eq "{id}"]"#))
        ))
        .json();
    assert_list(&by_member, 1, 1);

    // Deleting the user removes the membership.
    assert_eq!(scim.delete(&format!("/Users/{id}")).status, 204);
    assert!(
        scim.get(&format!("/Groups/{gid}"))
            .json()
            .get("members")
            .is_none()
    );
}

#[test]
fn discovery_endpoints_are_truthful() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Disco");

    let spc = scim.get("/ServiceProviderConfig").json();
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["pagination"]["cursor"], true);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], true);

    let types = scim.get("/ResourceTypes").json();
    assert_list(&types, 2, 2);
    let user_type = scim.get("/ResourceTypes/User").json();
    assert_eq!(user_type["endpoint"], "/Users");
    assert_eq!(user_type["schema"], USER);
    assert_eq!(user_type["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_scim_error(&scim.get("/ResourceTypes/Robot"), 404, None);

    let schemas = scim.get("/Schemas").json();
    assert_list(&schemas, 3, 3);
    let ent = scim.get(&format!("/Schemas/{ENTERPRISE}")).json();
    let names: Vec<&str> = ent["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager"
        ]
    );
    let user_schema = scim.get(&format!("/Schemas/{USER}")).json();
    let password = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "password")
        .unwrap()
        .clone();
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
    assert_scim_error(&scim.get("/Schemas/urn:nope"), 404, None);
    assert_scim_error(
        &request(
            "POST",
            &scim.url("/Schemas"),
            &[("Authorization", &scim.auth)],
            Some("{}"),
        ),
        405,
        None,
    );
}

fn seed_users(scim: &Scim, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            scim.create(
                "/Users",
                &json!({
                    "userName": n,
                    "displayName": format!("User {n}"),
                    "title": if i % 2 == 0 { "Engineer" } else { "Manager" },
                    "active": i % 3 != 0,
                    "emails": [{"value": format!("{n}@example.com"), "type": "work", "primary": true}],
                    ENTERPRISE: {"department": format!("D{}", i % 2), "employeeNumber": format!("{}", 100 + i)}
                }),
            )["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn user_names(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn filters_sorting_paging_and_projection() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Query");
    seed_users(&scim, &["carol", "alice", "erin", "bob", "dave"]);

    let q = |filter: &str| scim.get(&format!("/Users?filter={}", enc(filter)));
    let cases: &[(&str, &[&str])] = &[
        (r#"userName sw "a" or userName ew "e""#, &["alice", "dave"]),
        (
            r#"title eq "engineer" and active eq true"#,
            &["erin", "dave"],
        ),
        (r#"not (title eq "Engineer")"#, &["alice", "bob"]),
        (
            r#"emails[type eq "work" and value co "@example.com"] and userName lt "c""#,
            &["alice", "bob"],
        ),
        (
            &format!(r#"{ENTERPRISE}:department eq "d1""#),
            &["alice", "bob"],
        ),
        (
            &format!(r#"{ENTERPRISE}:employeeNumber ge "103""#),
            &["bob", "dave"],
        ),
        (
            r#"displayName co "User""#,
            &["carol", "alice", "erin", "bob", "dave"],
        ),
        (
            r#"meta.created gt "2000-01-01T00:00:00Z""#,
            &["carol", "alice", "erin", "bob", "dave"],
        ),
        (r#"nickName pr"#, &[]),
        (r#"emails.value eq "ERIN@example.com""#, &["erin"]),
    ];
    for (filter, expected) in cases {
        let resp = q(filter);
        assert_eq!(resp.status, 200, "{filter}: {}", resp.body);
        let mut got = user_names(&resp.json());
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{filter}");
    }

    // Bad filters: 400 invalidFilter with a message that points at the problem.
    let detail = assert_scim_error(&q(r#"userName eq"#), 400, Some("invalidFilter"));
    assert!(detail.contains("expected a value"), "{detail}");
    let detail = assert_scim_error(&q(r#"shoeSize eq "9""#), 400, Some("invalidFilter"));
    assert!(detail.contains("unknown attribute shoeSize"), "{detail}");
    let detail = assert_scim_error(&q(r#"active gt true"#), 400, Some("invalidFilter"));
    assert!(detail.contains("only eq and ne"), "{detail}");

    // Sorting, default and descending, with index paging.
    let sorted = scim.get("/Users?sortBy=userName").json();
    assert_eq!(
        user_names(&sorted),
        ["alice", "bob", "carol", "dave", "erin"]
    );
    let page = scim
        .get("/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2")
        .json();
    assert_eq!(user_names(&page), ["dave", "carol"]);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["totalResults"], 5);
    let by_mail = scim
        .get("/Users?sortBy=emails&sortOrder=descending&count=1")
        .json();
    assert_eq!(user_names(&by_mail), ["erin"]);
    assert_scim_error(
        &scim.get("/Users?sortBy=shoeSize"),
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &scim.get("/Users?sortOrder=sideways"),
        400,
        Some("invalidValue"),
    );
    assert_scim_error(&scim.get("/Users?count=ten"), 400, Some("invalidValue"));

    // count=0 returns only totalResults; past the end is an empty page.
    let zero = scim.get("/Users?count=0").json();
    assert_list(&zero, 5, 0);
    let past = scim.get("/Users?startIndex=10").json();
    assert_list(&past, 5, 0);

    // Default order is creation order and stays stable while users are added between pages.
    let first = scim.get("/Users?startIndex=1&count=2").json();
    assert_eq!(user_names(&first), ["carol", "alice"]);
    seed_users(&scim, &["zed"]);
    let second = scim.get("/Users?startIndex=3&count=2").json();
    assert_eq!(user_names(&second), ["erin", "bob"]);
    let third = scim.get("/Users?startIndex=5&count=2").json();
    assert_eq!(user_names(&third), ["dave", "zed"]);

    // Cursor paging (RFC 9865): forward through everything, then back.
    let mut cursor = String::new();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = scim
            .get(&format!("/Users?count=2&cursor={}", enc(&cursor)))
            .json();
        assert_eq!(page["totalResults"], 6);
        assert!(page.get("startIndex").is_none());
        seen.extend(user_names(&page));
        pages.push(page.clone());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["carol", "alice", "erin", "bob", "dave", "zed"]);
    let back = pages[2]["previousCursor"].as_str().unwrap();
    let previous = scim
        .get(&format!("/Users?count=2&cursor={}", enc(back)))
        .json();
    assert_eq!(user_names(&previous), ["erin", "bob"]);
    assert_scim_error(
        &scim.get("/Users?cursor=garbage!"),
        400,
        Some("invalidCursor"),
    );

    // Projection on reads, lists and writes.
    let only = scim
        .get(&format!(
            "/Users?attributes=userName,emails.value&filter={}",
            enc(r#"userName eq "bob""#)
        ))
        .json();
    let bob = &only["Resources"][0];
    let mut keys: Vec<&str> = bob
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(keys, ["emails", "id", "schemas", "userName"]);
    assert_eq!(bob["emails"], json!([{"value": "bob@example.com"}]));
    let without = scim
        .get(&format!(
            "/Users?excludedAttributes=emails,meta,{ENTERPRISE}:department"
        ))
        .json();
    let first = &without["Resources"][0];
    assert!(first.get("emails").is_none() && first.get("meta").is_none());
    assert!(first[ENTERPRISE].get("department").is_none());
    assert!(first[ENTERPRISE].get("employeeNumber").is_some());
    let created = scim.send(
        "POST",
        "/Users?attributes=userName",
        &json!({"userName": "projected", "displayName": "hidden"}),
    );
    assert_eq!(created.status, 201);
    assert!(created.json().get("displayName").is_none());
    assert_scim_error(
        &scim.get("/Users?attributes=shoeSize"),
        400,
        Some("invalidValue"),
    );
    // A bad projection on a write is refused before anything is written.
    let refused = scim.send(
        "POST",
        "/Users?attributes=shoeSize",
        &json!({"userName": "not-created"}),
    );
    assert_scim_error(&refused, 400, Some("invalidValue"));
    let none = scim.get(&format!(
        "/Users?filter={}",
        enc(r#"userName eq "not-created""#)
    ));
    assert_eq!(none.json()["totalResults"], 0);
}

#[test]
fn search_with_post() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Search");
    seed_users(&scim, &["ann", "ben"]);
    scim.create("/Groups", &json!({"displayName": "Admins"}));
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["userName", "displayName"],
        "filter": "userName sw \"a\"",
        "startIndex": 1,
        "count": 10
    });
    let resp = scim.post("/Users/.search", &body);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let list = resp.json();
    assert_eq!(user_names(&list), ["ann"]);
    assert!(list["Resources"][0].get("emails").is_none());

    // The root search spans both resource types; a filter valid for one still works.
    let root = scim.post(
        "/.search",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "displayName co \"a\"", "sortBy": "displayName"}),
    );
    assert_eq!(root.status, 200, "{}", root.body);
    let root_body = root.json();
    let kinds: Vec<&str> = root_body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(root.json()["totalResults"], 2, "{}", root.body);
    assert_eq!(root_body["Resources"][0]["displayName"], "Admins");
    assert!(kinds.contains(&"Group") && kinds.contains(&"User"));
    assert_scim_error(
        &scim.post("/Users/.search", &json!({"schemas": ["wrong"]})),
        400,
        Some("invalidSyntax"),
    );
}

#[test]
fn errors_are_scim_error_bodies() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::launch(
        &data,
        Launch {
            args: vec!["--body-limit", "2048"],
            ..Launch::default()
        },
    )
    .unwrap();
    let scim = Scim::setup(&server, "Errors");
    let auth = [("Authorization", scim.auth.as_str())];

    let malformed = request("POST", &scim.url("/Users"), &auth, Some("{\"userName\": "));
    let detail = assert_scim_error(&malformed, 400, Some("invalidSyntax"));
    assert!(detail.contains("not valid JSON"), "{detail}");
    let as_json = request(
        "POST",
        &scim.url("/Users"),
        &[
            ("Authorization", &scim.auth),
            ("Content-Type", "application/json"),
        ],
        Some(r#"{"userName":"plainjson"}"#),
    );
    assert_eq!(as_json.status, 201, "application/json is accepted too");
    let form = request(
        "POST",
        &scim.url("/Users"),
        &[
            ("Authorization", &scim.auth),
            ("Content-Type", "text/plain"),
        ],
        Some(r#"{"userName":"x"}"#),
    );
    assert_scim_error(&form, 415, Some("invalidSyntax"));

    for (body, expected) in [
        (json!({"userName": "a", "shoeSize": 9}), "unknown attribute"),
        (
            json!({"userName": "a", "active": "perhaps"}),
            "active must be a boolean",
        ),
        (
            json!({"displayName": "no user name"}),
            "userName is required",
        ),
        (
            json!({"userName": "a", "urn:example:custom:2.0:User": {"x": 1}}),
            "urn:example:custom:2.0:User",
        ),
    ] {
        let detail = assert_scim_error(&scim.post("/Users", &body), 400, Some("invalidValue"));
        assert!(detail.contains(expected), "{body}: {detail}");
    }
    // Unknown members: skipped and reported by default, refused under the strict setting.
    let skipped = scim.create(
        "/Groups",
        &json!({"displayName": "G", "members": [{"value": "ghost"}]}),
    );
    assert!(skipped.get("members").is_none());
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    assert!(
        ok(&data, &["audit", "--tenant", &slug]).contains("skipped unknown member id(s): ghost")
    );
    ok(
        &data,
        &["tenant", "set", &slug, "--unknown-members", "reject"],
    );
    let detail = assert_scim_error(
        &scim.post(
            "/Groups",
            &json!({"displayName": "G2", "members": [{"value": "ghost"}]}),
        ),
        400,
        Some("invalidValue"),
    );
    assert!(detail.contains("ghost"));

    let big = json!({"userName": "big", "displayName": "x".repeat(4000)});
    assert_scim_error(&scim.post("/Users", &big), 413, None);

    assert_scim_error(&scim.get("/Users/does-not-exist"), 404, None);
    assert_scim_error(&scim.get("/Robots"), 404, None);
    assert_scim_error(
        &request("PATCH", &scim.url("/Users"), &auth, Some("{}")),
        405,
        None,
    );
    assert_scim_error(
        &request("DELETE", &scim.url("/Users"), &auth, None),
        405,
        None,
    );
    assert_scim_error(
        &scim.put("/Users/nope", &json!({"userName": "x"})),
        404,
        None,
    );
}

#[test]
fn etags_and_conditional_requests() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Tags");
    let user = scim.create("/Users", &json!({"userName": "etag"}));
    let url = scim.url(&format!("/Users/{}", user["id"].as_str().unwrap()));
    let auth = scim.auth.as_str();
    let unchanged = request(
        "GET",
        &url,
        &[("Authorization", auth), ("If-None-Match", "W/\"1\"")],
        None,
    );
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.header("etag"), Some("W/\"1\""));
    let stale = request(
        "PUT",
        &url,
        &[("Authorization", auth), ("If-Match", "W/\"9\"")],
        Some(r#"{"userName":"etag","title":"x"}"#),
    );
    assert_scim_error(&stale, 412, Some("preconditionFailed"));
    let fresh = request(
        "PUT",
        &url,
        &[("Authorization", auth), ("If-Match", "W/\"1\"")],
        Some(r#"{"userName":"etag","title":"x"}"#),
    );
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.header("etag"), Some("W/\"2\""));
    let changed = request(
        "GET",
        &url,
        &[("Authorization", auth), ("If-None-Match", "W/\"1\"")],
        None,
    );
    assert_eq!(changed.status, 200);
    assert_scim_error(
        &request(
            "DELETE",
            &url,
            &[("Authorization", auth), ("If-Match", "W/\"1\"")],
            None,
        ),
        412,
        Some("preconditionFailed"),
    );
}

#[test]
fn custom_extensions_registered_from_the_cli() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Custom");
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    let urn = "urn:acme:params:scim:schemas:extension:hr:2.0:User";
    let file = tmp.path().join("hr.json");
    std::fs::write(
        &file,
        json!({
            "id": urn,
            "name": "AcmeHR",
            "description": "Acme HR attributes",
            "attributes": [
                {"name": "badgeNumber", "type": "integer"},
                {"name": "site", "type": "string", "caseExact": false}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let out = ok(
        &data,
        &[
            "schema",
            "add",
            "--tenant",
            &slug,
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.contains(urn));
    assert!(ok(&data, &["schema", "list", "--tenant", &slug]).contains(urn));
    let again = roster(
        &data,
        &[
            "schema",
            "add",
            "--tenant",
            &slug,
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(again.code, 4);
    let bad_file = tmp.path().join("bad.json");
    std::fs::write(&bad_file, r#"{"id": "not-a-urn", "attributes": []}"#).unwrap();
    let bad = roster(
        &data,
        &[
            "schema",
            "add",
            "--tenant",
            &slug,
            "--file",
            bad_file.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("must be a URN"), "{}", bad.stderr);

    // Advertised.
    assert_list(&scim.get("/Schemas").json(), 4, 4);
    assert_eq!(
        scim.get(&format!("/Schemas/{urn}")).json()["name"],
        "AcmeHR"
    );
    let rt = scim.get("/ResourceTypes/User").json();
    assert!(
        rt["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == urn)
    );

    // Validated, stored, filterable.
    let user = scim.create(
        "/Users",
        &json!({"schemas": [USER, urn], "userName": "badge", urn: {"badgeNumber": 42, "SITE": "Paris"}}),
    );
    assert_eq!(user[urn]["badgeNumber"], 42);
    assert_eq!(user[urn]["site"], "Paris");
    assert!(user["schemas"].as_array().unwrap().iter().any(|s| s == urn));
    let detail = assert_scim_error(
        &scim.post(
            "/Users",
            &json!({"userName": "b2", urn: {"badgeNumber": "x"}}),
        ),
        400,
        Some("invalidValue"),
    );
    assert!(
        detail.contains("badgeNumber must be an integer"),
        "{detail}"
    );
    let found = scim
        .get(&format!(
            "/Users?filter={}",
            enc(&format!(
                "{urn}:badgeNumber gt 40 and {urn}:site eq \"paris\""
            ))
        ))
        .json();
    assert_list(&found, 1, 1);

    // Unregistered extension: 400 naming it, except under a lenient profile (OneLogin).
    let other = "urn:acme:params:scim:schemas:extension:other:2.0:User";
    let detail = assert_scim_error(
        &scim.post("/Users", &json!({"userName": "o1", other: {"x": 1}})),
        400,
        Some("invalidValue"),
    );
    assert!(detail.contains(other));
    let onelogin_slug = field(
        &ok(
            &data,
            &["tenant", "create", "--name", "OL", "--idp", "onelogin"],
        ),
        "slug",
    );
    ok(&data, &["scim", "activate", "--tenant", &onelogin_slug]);
    let token = ok(&data, &["token", "create", "--tenant", &onelogin_slug])
        .trim()
        .to_string();
    let lenient = Scim {
        base: format!("{}/scim/v2/{onelogin_slug}", server.base),
        auth: bearer(&token),
    };
    let kept = lenient.create("/Users", &json!({"userName": "o1", other: {"x": 1}}));
    assert_eq!(kept[other]["x"], 1);
    let audit = ok(&data, &["audit", "--tenant", &onelogin_slug]);
    assert!(audit.contains("stored unregistered extension"), "{audit}");

    ok(&data, &["schema", "remove", "--tenant", &slug, "--id", urn]);
    assert_list(&scim.get("/Schemas").json(), 3, 3);
}

#[test]
fn resources_persist_stay_isolated_and_keep_passwords_hashed() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let a = Scim::setup(&server, "Tenant A");
    let b = Scim::setup(&server, "Tenant B");
    let user = a.create("/Users", &okta_user());
    let id = user["id"].as_str().unwrap().to_string();
    let group = a.create(
        "/Groups",
        &json!({"displayName": "Team", "members": [{"value": id}]}),
    );

    // Tenant B sees none of it, and cannot reference A's user as a member.
    assert_scim_error(&b.get(&format!("/Users/{id}")), 404, None);
    assert_list(&b.get("/Users").json(), 0, 0);
    let steal = b.create(
        "/Groups",
        &json!({"displayName": "Steal", "members": [{"value": id}]}),
    );
    assert!(
        steal.get("members").is_none(),
        "another tenant's user is never a member"
    );
    // Same userName is fine in another tenant.
    assert_eq!(b.post("/Users", &okta_user()).status, 201);

    let listing = ok(&data, &["tenant", "list"]);
    assert!(listing.contains("      1       1  Tenant A"), "{listing}");

    let server = server.restart();
    let a = Scim {
        base: a
            .base
            .replace(&a.base[..a.base.find("/scim").unwrap()], &server.base),
        auth: a.auth,
    };
    let again = a.get(&format!("/Users/{id}"));
    assert_eq!(again.status, 200);
    for key in ["created", "lastModified", "version"] {
        assert_eq!(again.json()["meta"][key], user["meta"][key]);
    }
    let g = a
        .get(&format!("/Groups/{}", group["id"].as_str().unwrap()))
        .json();
    assert_eq!(g["members"][0]["value"], id.as_str());
    assert!(server.stop().success());

    let file = std::fs::read(data.join("roster.redb")).unwrap();
    assert!(
        !file.windows(8).any(|w| w == b"1mz050nq"),
        "the SCIM password is stored only as an argon2id hash"
    );
}

/// Pages sorted by userName (read in index order) agree with the same sort
/// done by the general path (a filter forces it), across case, tombstones,
/// both orders and every page boundary.
#[test]
fn name_sorted_pages_match_the_general_sort() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Sorted");
    let names = [
        "delta", "Alpha", "charlie", "Bravo", "echo", "Foxtrot", "golf",
    ];
    let mut ids = Vec::new();
    for name in names {
        ids.push(
            scim.create("/Users", &json!({"userName": name}))["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // A soft-deleted user must not appear, nor shift the pages.
    assert_eq!(scim.delete(&format!("/Users/{}", ids[2])).status, 204);
    let names_of = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect()
    };
    for order in ["ascending", "descending"] {
        for start in 1..=7 {
            let indexed = scim
                .get(&format!(
                    "/Users?sortBy=userName&sortOrder={order}&startIndex={start}&count=2"
                ))
                .json();
            let general = scim
                .get(&format!(
                    "/Users?filter=userName%20pr&sortBy=userName&sortOrder={order}&startIndex={start}&count=2"
                ))
                .json();
            assert_eq!(
                names_of(&indexed),
                names_of(&general),
                "{order} from {start}"
            );
            assert_eq!(indexed["totalResults"], 6);
            assert_eq!(general["totalResults"], 6);
        }
    }
    let all = names_of(&scim.get("/Users?sortBy=userName").json());
    assert_eq!(all, ["Alpha", "Bravo", "delta", "echo", "Foxtrot", "golf"]);
    // Lookups by a unique index (the point-query path) agree with the filter.
    let total = |q: &str| scim.get(&format!("/Users?filter={}", enc(q))).json();
    assert_eq!(total(r#"userName eq "charlie""#)["totalResults"], 0);
    assert_eq!(names_of(&total(r#"userName eq "ALPHA""#)), ["Alpha"]);
    assert_eq!(
        total(r#"userName eq "Alpha" and title pr"#)["totalResults"],
        0
    );
    let second = scim
        .get(&format!(
            "/Users?filter={}&startIndex=2",
            enc(r#"userName eq "Alpha""#)
        ))
        .json();
    assert_eq!(second["totalResults"], 1);
    assert_eq!(second["Resources"].as_array().unwrap().len(), 0);
    // A sort on meta (general path) still sees meta.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let bravo = scim.send(
        "PUT",
        &format!("/Users/{}", ids[3]),
        &json!({"userName": "Bravo", "title": "touched"}),
    );
    assert_eq!(bravo.status, 200, "{}", bravo.body);
    let newest = scim.get("/Users?sortBy=meta.lastModified&sortOrder=descending&count=1");
    assert_eq!(names_of(&newest.json()), ["Bravo"]);
}

/// Pages sorted by meta.lastModified (read from its index) agree with the
/// general path: ties (concurrent creates in one millisecond) in id order, an
/// update moves a resource to the end, tombstones are left out, and the index
/// survives a restart.
#[test]
fn modified_sorted_pages_match_the_general_sort() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Timed");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let scim = &scim;
                s.spawn(move || {
                    (0..10)
                        .map(|i| {
                            scim.create("/Users", &json!({"userName": format!("t{t}-{i}")}))["id"]
                                .as_str()
                                .unwrap()
                                .to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    std::thread::sleep(std::time::Duration::from_millis(5));
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "moved"}]
    });
    assert_eq!(
        scim.send("PATCH", &format!("/Users/{}", ids[0]), &patch)
            .status,
        200
    );
    assert_eq!(scim.delete(&format!("/Users/{}", ids[1])).status, 204);
    let page = |scim: &Scim, path: &str| -> (Vec<String>, Vec<String>, u64) {
        let v = scim.get(path).json();
        let rows = v["Resources"].as_array().unwrap();
        (
            rows.iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect(),
            rows.iter()
                .map(|r| r["meta"]["lastModified"].as_str().unwrap().to_string())
                .collect(),
            v["totalResults"].as_u64().unwrap(),
        )
    };
    let check = |scim: &Scim| {
        for order in ["ascending", "descending"] {
            for start in (1..=41).step_by(3) {
                let q = format!(
                    "sortBy=meta.lastModified&sortOrder={order}&startIndex={start}&count=4"
                );
                let (fast, times, total) = page(scim, &format!("/Users?{q}"));
                let (general, _, _) = page(scim, &format!("/Users?filter=userName%20pr&{q}"));
                assert_eq!(fast, general, "{order} from {start}");
                assert_eq!(total, 39);
                assert!(!fast.contains(&ids[1]), "a tombstone is listed");
                let instants: Vec<_> = times
                    .iter()
                    .map(|t| {
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .unwrap()
                    })
                    .collect();
                let sorted = instants.windows(2).all(|w| match order {
                    "ascending" => w[0] <= w[1],
                    _ => w[0] >= w[1],
                });
                assert!(sorted, "{order} from {start}: {times:?}");
            }
        }
        let (newest, _, _) = page(
            scim,
            "/Users?sortBy=meta.lastModified&sortOrder=descending&count=1",
        );
        assert_eq!(newest, [ids[0].clone()], "the updated user is the newest");
    };
    check(&scim);
    let group = scim.create("/Groups", &json!({"displayName": "Later"}));
    let (groups, _, _) = page(&scim, "/Groups?sortBy=meta.lastModified&count=5");
    assert_eq!(groups, [group["id"].as_str().unwrap().to_string()]);
    let base = scim.base.replace(&server.base, "");
    drop(server);
    let server = Server::start(&data);
    check(&Scim {
        base: format!("{}{base}", server.base),
        auth: scim.auth.clone(),
    });
}

/// Deep startIndex pages (served from cached page anchors) agree with the
/// general path across tombstones, and follow creates and deletes at once.
#[test]
fn deep_pages_match_the_general_path_and_follow_changes() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Deep");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let scim = &scim;
                s.spawn(move || {
                    (0..75)
                        .map(|i| {
                            scim.create("/Users", &json!({"userName": format!("deep{t}-{i}")}))
                                    ["id"]
                                    .as_str()
                                    .unwrap()
                                    .to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for id in ids.iter().step_by(7) {
        assert_eq!(scim.delete(&format!("/Users/{id}")).status, 204);
    }
    let live = 600 - ids.iter().step_by(7).count();
    let page_ids = |path: &str| -> (Vec<String>, u64) {
        let v = scim.get(path).json();
        let ids = v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        (ids, v["totalResults"].as_u64().unwrap())
    };
    let check_all = |expected_total: usize| {
        for start in (1..=expected_total + 2).step_by(61) {
            let (fast, total) = page_ids(&format!("/Users?startIndex={start}&count=50"));
            let (general, _) = page_ids(&format!(
                "/Users?filter=userName%20pr&startIndex={start}&count=50"
            ));
            assert_eq!(fast, general, "page from {start}");
            assert_eq!(total as usize, expected_total);
        }
    };
    check_all(live);
    // A change right after a deep read must show in the next deep read.
    let last = page_ids(&format!("/Users?startIndex={live}&count=5")).0;
    assert_eq!(last.len(), 1);
    assert_eq!(scim.delete(&format!("/Users/{}", last[0])).status, 204);
    assert!(
        page_ids(&format!("/Users?startIndex={live}&count=5"))
            .0
            .is_empty()
    );
    let new = scim.create("/Users", &json!({"userName": "deep-late"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        page_ids(&format!("/Users?startIndex={live}&count=5")).0,
        vec![new]
    );
    // An early delete shifts every later page.
    assert_eq!(scim.delete(&format!("/Users/{}", ids[1])).status, 204);
    check_all(live - 1);
}
