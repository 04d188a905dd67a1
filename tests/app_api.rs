//! Applications read the directory: API clients from the CLI, tokens from
//! `POST /oauth/token` (RFC 6749 §4.4), and `/api/v1/` scoped to one tenant.

mod common;

use common::*;
use serde_json::json;

struct Client {
    id: String,
    secret: String,
}

fn create_app(data: &std::path::Path, slug: &str, scopes: &str) -> Client {
    let out = roster(
        data,
        &[
            "app",
            "create",
            "--tenant",
            slug,
            "--name",
            "HR portal",
            "--scopes",
            scopes,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    Client {
        id: lines[0].strip_prefix("client_id: ").unwrap().to_string(),
        secret: lines[1]
            .strip_prefix("client_secret: ")
            .unwrap()
            .to_string(),
    }
}

fn token_request(server: &Server, headers: &[(&str, &str)], body: &str) -> Resp {
    request(
        "POST",
        &format!("{}/oauth/token", server.base),
        headers,
        Some(body),
    )
}

fn token_basic(server: &Server, c: &Client) -> Resp {
    let auth = basic(&c.id, &c.secret);
    token_request(
        server,
        &[FORM, ("Authorization", &auth)],
        "grant_type=client_credentials",
    )
}

fn access_token(server: &Server, c: &Client) -> String {
    let resp = token_basic(server, c);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["access_token"].as_str().unwrap().to_string()
}

fn api(server: &Server, token: &str, path: &str) -> Resp {
    get(
        &format!("{}/api/v1{path}", server.base),
        Some(&bearer(token)),
    )
}

fn assert_api_error(resp: &Resp, status: u16, code: &str) {
    assert_eq!(resp.status, status, "{}", resp.body);
    assert_eq!(resp.json()["error"]["code"], code, "{}", resp.body);
    assert!(resp.json()["error"]["message"].is_string());
}

#[test]
fn an_application_gets_a_token_and_reads_its_tenant() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Acme");
    let ids: Vec<String> = ["ann", "bob", "cid"]
        .iter()
        .map(|n| {
            scim.create(
                "/Users",
                &json!({"userName": format!("{n}@acme.test"),
                        "emails": [{"value": format!("{n}@mail.test"), "primary": true}]}),
            )["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let off = scim.send(
        "PATCH",
        &format!("/Users/{}", ids[1]),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]}),
    );
    assert_eq!(off.status, 200);
    let group = scim.create(
        "/Groups",
        &json!({"displayName": "Staff", "members": [{"value": ids[0]}]}),
    );
    let gid = group["id"].as_str().unwrap().to_string();

    let app = create_app(&data, "acme", "directory:read");
    assert!(app.id.starts_with("rc_") && app.secret.starts_with("rcs_"));

    // client_secret_basic.
    let issued = token_basic(&server, &app);
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.header("cache-control"), Some("no-store"));
    let body = issued.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "directory:read");
    let token = body["access_token"].as_str().unwrap().to_string();
    // client_secret_post.
    let posted = token_request(
        &server,
        &[FORM],
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=directory%3Aread",
            app.id, app.secret
        ),
    );
    assert_eq!(posted.status, 200, "{}", posted.body);

    // Refused token requests, each with its RFC 6749 §5.2 code.
    let wrong = token_basic(
        &server,
        &Client {
            id: app.id.clone(),
            secret: "rcs_wrong".into(),
        },
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(wrong.header("www-authenticate").is_some());
    let unknown = token_basic(
        &server,
        &Client {
            id: "rc_999_nobody".into(),
            secret: app.secret.clone(),
        },
    );
    assert_eq!(unknown.json()["error"], "invalid_client");
    let grant = token_request(
        &server,
        &[FORM],
        "grant_type=password&username=a&password=b",
    );
    assert_eq!(grant.status, 400);
    assert_eq!(grant.json()["error"], "unsupported_grant_type");
    let auth = basic(&app.id, &app.secret);
    let scope = token_request(
        &server,
        &[FORM, ("Authorization", &auth)],
        "grant_type=client_credentials&scope=events%3Aread",
    );
    assert_eq!(scope.status, 400, "{}", scope.body);
    assert_eq!(scope.json()["error"], "invalid_scope");
    let nothing = token_request(&server, &[FORM], "grant_type=client_credentials");
    assert_eq!(nothing.status, 401);
    assert_eq!(nothing.json()["error"], "invalid_client");

    // Users: paged with an opaque cursor, deactivated ones visible.
    let first = api(&server, &token, "/users?limit=2");
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().expect("a next cursor").to_string();
    let second = api(
        &server,
        &token,
        &format!("/users?limit=2&cursor={}", enc(&next)),
    )
    .json();
    assert_eq!(second["data"].as_array().unwrap().len(), 1, "{second}");
    assert!(second["next"].is_null(), "{second}");
    let mut seen: Vec<String> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    let inactive = api(&server, &token, "/users?active=false").json();
    assert_eq!(inactive["data"].as_array().unwrap().len(), 1);
    assert_eq!(inactive["data"][0]["userName"], "bob@acme.test");
    assert_eq!(inactive["data"][0]["active"], false);
    let filtered = api(
        &server,
        &token,
        &format!("/users?filter={}", enc(r#"userName sw "c""#)),
    )
    .json();
    assert_eq!(filtered["data"][0]["userName"], "cid@acme.test");
    assert_api_error(
        &api(&server, &token, "/users?limit=0"),
        400,
        "invalid_request",
    );
    assert_api_error(
        &api(
            &server,
            &token,
            &format!("/users?filter={}", enc("userName eq")),
        ),
        400,
        "invalid_request",
    );

    let ann = api(&server, &token, &format!("/users/{}", ids[0]));
    assert_eq!(ann.status, 200, "{}", ann.body);
    assert_eq!(ann.json()["userName"], "ann@acme.test");
    assert_eq!(ann.json()["groups"][0]["value"], gid.as_str());
    let mine = api(&server, &token, &format!("/users/{}/groups", ids[0])).json();
    assert_eq!(mine["data"][0]["value"], gid.as_str(), "{mine}");
    let by_name = api(&server, &token, "/users/by-username/ANN@acme.test");
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert_eq!(by_name.json()["id"], ids[0].as_str());
    assert_api_error(
        &api(&server, &token, "/users/by-username/nobody"),
        404,
        "not_found",
    );
    let by_email = api(
        &server,
        &token,
        &format!("/users?email={}", enc("bob@acme.test")),
    )
    .json();
    assert!(
        by_email["data"].as_array().unwrap().is_empty(),
        "no emails were given"
    );
    let groups = api(&server, &token, "/groups").json();
    assert_eq!(groups["data"][0]["displayName"], "Staff");
    let staff = api(&server, &token, &format!("/groups/{gid}"));
    assert_eq!(staff.status, 200);
    assert_eq!(staff.json()["displayName"], "Staff");
    let add = scim.send(
        "PATCH",
        &format!("/Groups/{gid}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members",
                                "value": [{"value": ids[1]}, {"value": ids[2]}]}]}),
    );
    assert_eq!(add.status, 200, "{}", add.body);
    let page1 = api(&server, &token, &format!("/groups/{gid}/members?limit=2")).json();
    assert_eq!(page1["data"].as_array().unwrap().len(), 2, "{page1}");
    let after = page1["next"].as_str().expect("more members").to_string();
    let page2 = api(
        &server,
        &token,
        &format!("/groups/{gid}/members?limit=2&cursor={after}"),
    )
    .json();
    assert_eq!(page2["data"].as_array().unwrap().len(), 1, "{page2}");
    assert!(page2["next"].is_null());
    let mut members: Vec<String> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["data"].as_array().unwrap())
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    assert_eq!(members, expected, "every member once");
    assert_api_error(
        &api(&server, &token, "/groups/nope/members"),
        404,
        "not_found",
    );
    // Deleted users are gone.
    assert_eq!(scim.delete(&format!("/Users/{}", ids[2])).status, 204);
    assert_api_error(
        &api(&server, &token, &format!("/users/{}", ids[2])),
        404,
        "not_found",
    );
    assert_api_error(&api(&server, &token, "/nothing"), 404, "not_found");

    // Another tenant's client sees nothing of this one.
    let other = Scim::setup(&server, "Other");
    other.create("/Users", &json!({"userName": "zed@other.test"}));
    let other_app = create_app(&data, "other", "directory:read,events:read");
    let other_token = access_token(&server, &other_app);
    assert_api_error(
        &api(&server, &other_token, &format!("/users/{}", ids[0])),
        404,
        "not_found",
    );
    let theirs = api(&server, &other_token, "/users").json();
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["data"][0]["userName"], "zed@other.test");

    // No token, a made-up token, a SCIM token: 401 with a Bearer challenge.
    for auth in [None, Some(bearer("rat_made_up")), Some(scim.auth.clone())] {
        let resp = get(&format!("{}/api/v1/users", server.base), auth.as_deref());
        assert_api_error(&resp, 401, "unauthorized");
        assert!(
            resp.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{:?}",
            resp.header("www-authenticate")
        );
    }

    // Rotation: the old secret stops at once; revocation ends live tokens.
    let rotated = roster(
        &data,
        &["app", "rotate", "--tenant", "acme", "--client-id", &app.id],
    );
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let new_secret = rotated
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .to_string();
    assert_eq!(token_basic(&server, &app).status, 401);
    let renewed = Client {
        id: app.id.clone(),
        secret: new_secret,
    };
    let token = access_token(&server, &renewed);
    let listed = roster(&data, &["app", "list", "--tenant", "acme"]);
    assert!(listed.stdout.contains(&app.id), "{}", listed.stdout);
    assert!(!listed.stdout.contains(&renewed.secret));
    let revoked = roster(
        &data,
        &["app", "revoke", "--tenant", "acme", "--client-id", &app.id],
    );
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_api_error(&api(&server, &token, "/users"), 401, "unauthorized");
    assert_eq!(
        token_basic(&server, &renewed).json()["error"],
        "invalid_client"
    );

    // Every client event is audited; no secret or token anywhere in logs.
    let audit = ok(&data, &["audit", "--tenant", "acme", "--limit", "100"]);
    for action in [
        "app.created",
        "app.rotated",
        "app.revoked",
        "app.auth_failed",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    let log = server.log_text();
    for secret in [&app.secret, &renewed.secret, &token] {
        assert!(!audit.contains(secret.as_str()) && !log.contains(secret.as_str()));
    }
}

#[test]
fn rotation_with_grace_keeps_the_old_secret_working_and_cli_errors_are_clear() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    Scim::setup(&server, "Grace");
    let app = create_app(&data, "grace", "directory:read");
    let rotated = roster(
        &data,
        &[
            "app",
            "rotate",
            "--tenant",
            "grace",
            "--client-id",
            &app.id,
            "--grace-minutes",
            "5",
        ],
    );
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    assert!(rotated.stderr.contains("keeps working for 5 minute"));
    assert_eq!(
        token_basic(&server, &app).status,
        200,
        "old secret in grace"
    );

    for (args, says) in [
        (
            vec![
                "app", "create", "--tenant", "grace", "--name", "x", "--scopes", "admin",
            ],
            "unknown scope",
        ),
        (
            vec!["app", "create", "--tenant", "nope", "--name", "x"],
            "no tenant",
        ),
        (
            vec![
                "app",
                "revoke",
                "--tenant",
                "grace",
                "--client-id",
                "rc_1_x",
            ],
            "no API client",
        ),
    ] {
        let out = roster(&data, &args);
        assert_ne!(out.code, 0, "{args:?}: {}", out.stdout);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    }
}

fn follow(
    server: &Server,
    token: &str,
    after: &str,
    limit: usize,
) -> (Vec<serde_json::Value>, String) {
    let resp = api(
        server,
        token,
        &format!("/events?after={after}&limit={limit}"),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let body = resp.json();
    (
        body["data"].as_array().unwrap().clone(),
        body["next"].as_str().unwrap().to_string(),
    )
}

/// The change feed, followed while an IdP provisions and across a restart:
/// every change once, in commit order, with the event names apps expect.
#[test]
fn the_change_feed_misses_nothing_across_a_restart() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Feed");
    let app = create_app(&data, "feed", "directory:read,events:read");
    let reader = create_app(&data, "feed", "directory:read");
    let token = access_token(&server, &app);
    let no_scope = access_token(&server, &reader);
    assert_api_error(
        &api(&server, &no_scope, "/events"),
        403,
        "insufficient_scope",
    );
    assert_api_error(
        &api(&server, &token, "/events?after=bogus"),
        400,
        "invalid_request",
    );

    let provision = |scim: Scim, from: usize, to: usize| {
        std::thread::spawn(move || {
            for i in from..to {
                let user = scim.create("/Users", &json!({"userName": format!("u{i}@feed.test")}));
                if i % 5 == 0 {
                    let id = user["id"].as_str().unwrap();
                    let off = scim.send(
                        "PATCH",
                        &format!("/Users/{id}"),
                        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                "Operations": [{"op": "replace", "path": "active", "value": false}]}),
                    );
                    assert_eq!(off.status, 200);
                }
            }
        })
    };
    let writer = provision(
        Scim {
            base: scim.base.clone(),
            auth: scim.auth.clone(),
        },
        0,
        40,
    );
    let mut events = Vec::new();
    let mut cursor = String::new();
    while !writer.is_finished() || events.len() < 48 {
        let (batch, next) = follow(&server, &token, &cursor, 7);
        events.extend(batch);
        cursor = next;
        if events.len() >= 48 {
            break;
        }
    }
    writer.join().unwrap();
    let server = server.restart();
    let scim = Scim {
        base: format!("{}/scim/v2/feed", server.base),
        auth: scim.auth.clone(),
    };
    // A restart ends access tokens: the app asks for a new one.
    assert_api_error(&api(&server, &token, "/events"), 401, "unauthorized");
    let token = access_token(&server, &app);
    let writer = provision(
        Scim {
            base: scim.base.clone(),
            auth: scim.auth.clone(),
        },
        40,
        60,
    );
    writer.join().unwrap();
    loop {
        let (batch, next) = follow(&server, &token, &cursor, 9);
        if batch.is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            break;
        }
        events.extend(batch);
        cursor = next;
    }
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| {
            e["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("ev_")
                .parse()
                .unwrap()
        })
        .collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "no gap, no duplicate, commit order");
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("user.created"), 60);
    assert_eq!(count("user.deactivated"), 12);
    assert_eq!(events.len(), 72);

    // A long poll answers as soon as a change lands.
    let waiting = {
        let (base, token, cursor) = (server.base.clone(), token.clone(), cursor.clone());
        std::thread::spawn(move || {
            get(
                &format!("{base}/api/v1/events?after={cursor}&wait=20"),
                Some(&bearer(&token)),
            )
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let group = scim.create(
        "/Groups",
        &json!({"displayName": "Late", "members": [{"value": events[0]["resource"]["id"]}]}),
    );
    let got = waiting.join().unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
    let types: Vec<String> = got.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types[0], "group.created", "{types:?}");
    assert_eq!(got.json()["data"][0]["resource"]["id"], group["id"]);
    let (rest, _) = follow(&server, &token, &cursor, 10);
    assert!(
        rest.iter().any(|e| e["type"] == "group.member_added"),
        "{rest:?}"
    );
}

/// An access token stops at the end of its lifetime (`access_token_lifetime`).
#[test]
fn an_expired_access_token_is_refused() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::launch(
        &data,
        Launch {
            env: vec![("ROSTER_ACCESS_TOKEN_LIFETIME", "1")],
            ..Launch::default()
        },
    )
    .expect("server start");
    Scim::setup(&server, "Short");
    let app = create_app(&data, "short", "directory:read");
    let issued = token_basic(&server, &app);
    assert_eq!(issued.json()["expires_in"], 1, "{}", issued.body);
    let token = issued.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(api(&server, &token, "/users").status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let expired = api(&server, &token, "/users");
    assert_api_error(&expired, 401, "unauthorized");
    assert!(
        expired
            .header("www-authenticate")
            .is_some_and(|v| v.contains("invalid_token"))
    );
    assert_eq!(
        api(&server, &access_token(&server, &app), "/users").status,
        200
    );
}

/// Groups are roles; permissions attached to them reach their active members
/// at once, through the API and the change feed.
#[test]
fn roles_give_active_members_their_permissions() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Roles");
    let ann = scim.create("/Users", &json!({"userName": "ann@roles.test"}));
    let bob = scim.create("/Users", &json!({"userName": "bob@roles.test"}));
    let (ann, bob) = (ann["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
    let staff = scim.create(
        "/Groups",
        &json!({"displayName": "Staff", "members": [{"value": ann}, {"value": bob}]}),
    );
    let admins = scim.create(
        "/Groups",
        &json!({"displayName": "Admins", "members": [{"value": ann}]}),
    );
    let role = |verb: &str, group: &str, permission: &str| {
        roster(
            &data,
            &[
                "role",
                verb,
                "--tenant",
                "roles",
                "--group",
                group,
                "--permission",
                permission,
            ],
        )
    };
    assert_eq!(role("grant", "Staff", "billing:read").code, 0);
    assert_eq!(
        role("grant", "staff", "billing:read").code,
        0,
        "idempotent, name case-insensitive"
    );
    let by_id = role("grant", admins["id"].as_str().unwrap(), "billing:write");
    assert_eq!(by_id.code, 0, "{}", by_id.stderr);
    assert!(by_id.stdout.contains("billing:write"));
    let unknown = role("grant", "Nobody", "x");
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("no group"), "{}", unknown.stderr);
    let bad = role("grant", "Staff", "has space");
    assert_ne!(bad.code, 0);
    assert_eq!(bad.stderr.trim_end().lines().count(), 1);

    let app = create_app(&data, "roles", "directory:read,events:read");
    let token = access_token(&server, &app);
    let perms = |id: &str| api(&server, &token, &format!("/users/{id}/permissions")).json();
    assert_eq!(
        perms(ann)["permissions"],
        json!(["billing:read", "billing:write"])
    );
    assert_eq!(perms(bob)["permissions"], json!(["billing:read"]));
    let roles = api(&server, &token, "/roles").json();
    let names: Vec<&str> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Admins", "Staff"]);

    // Deactivated: no permissions, though still a member.
    let off = scim.send(
        "PATCH",
        &format!("/Users/{bob}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]}),
    );
    assert_eq!(off.status, 200);
    assert_eq!(perms(bob)["permissions"], json!([]));
    assert_eq!(perms(bob)["active"], false);
    // Revoked and removed from a group: at once.
    assert_eq!(role("revoke", "Admins", "billing:write").code, 0);
    assert_eq!(perms(ann)["permissions"], json!(["billing:read"]));
    let leave = scim.send(
        "PATCH",
        &format!("/Groups/{}", staff["id"].as_str().unwrap()),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]}),
    );
    assert_eq!(leave.status, 200, "{}", leave.body);
    assert_eq!(perms(ann)["permissions"], json!([]));
    assert_api_error(
        &api(&server, &token, "/users/nobody/permissions"),
        404,
        "not_found",
    );

    let listed = ok(&data, &["role", "list", "--tenant", "roles"]);
    assert!(
        listed.contains("Staff") && listed.contains("billing:read"),
        "{listed}"
    );
    assert!(
        !listed.contains("Admins"),
        "a role without permissions is not listed: {listed}"
    );
    let (feed, _) = follow(&server, &token, "", 100);
    let changes = feed
        .iter()
        .filter(|e| e["type"] == "role.permissions_changed")
        .count();
    assert_eq!(
        changes, 3,
        "two grants and a revoke; the repeated grant changed nothing"
    );
    let audit = ok(&data, &["audit", "--tenant", "roles", "--limit", "100"]);
    assert!(
        audit.contains("role.granted") && audit.contains("role.revoked"),
        "{audit}"
    );
}

/// The OpenAPI document names every API route, and every route it names answers.
#[test]
fn the_openapi_document_matches_the_routes() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Docs");
    let user = scim.create("/Users", &json!({"userName": "doc@docs.test"}));
    let group = scim.create("/Groups", &json!({"displayName": "Docs"}));
    let app = create_app(&data, "docs", "directory:read,events:read");
    let token = access_token(&server, &app);
    let doc = get(&format!("{}/api/v1/openapi.json", server.base), None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut api_paths = 0;
    for (path, item) in paths {
        let Some(rest) = path.strip_prefix("/api/v1") else {
            assert_eq!(path, "/oauth/token");
            assert!(item["post"].is_object());
            continue;
        };
        api_paths += 1;
        let concrete = rest
            .replace(
                "{id}",
                if rest.starts_with("/groups") {
                    group["id"].as_str().unwrap()
                } else {
                    user["id"].as_str().unwrap()
                },
            )
            .replace("{userName}", "doc@docs.test");
        let resp = api(&server, &token, &concrete);
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        for p in item["get"]["parameters"].as_array().unwrap() {
            assert!(p["in"] == "path" || p["in"] == "query", "{p}");
        }
    }
    assert_eq!(api_paths, 10, "every route under /api/v1 is documented");
    // An undocumented path is not a route.
    assert_api_error(&api(&server, &token, "/users/x/y/z"), 404, "not_found");
}

/// Retention removes old events; a cursor from before them is refused with
/// 410 and a message saying what to do, never silently moved forward.
#[test]
fn an_expired_feed_cursor_gets_410() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::launch(
        &data,
        Launch {
            env: vec![("ROSTER_EVENT_RETENTION", "1s")],
            ..Launch::default()
        },
    )
    .expect("server start");
    let scim = Scim::setup(&server, "Old");
    let app = create_app(&data, "old", "events:read");
    let token = access_token(&server, &app);
    scim.create("/Users", &json!({"userName": "a@old.test"}));
    scim.create("/Users", &json!({"userName": "b@old.test"}));
    let (first, cursor) = follow(&server, &token, "", 1);
    assert_eq!(first.len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    scim.create("/Users", &json!({"userName": "c@old.test"}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let resp = loop {
        let resp = api(&server, &token, &format!("/events?after={cursor}"));
        if resp.status != 200 || std::time::Instant::now() > deadline {
            break resp;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_api_error(&resp, 410, "cursor_expired");
    let message = resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("1 second"), "{message}");
    assert!(message.contains("read the directory again"), "{message}");
    // Reading from the start still works and begins after the pruned events.
    let (kept, _) = follow(&server, &token, "", 100);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|e| e["id"] != first[0]["id"]), "{kept:?}");
}
