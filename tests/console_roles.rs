//! Console roles: Owner, Admin and Viewer, enforced on the server for every
//! action (a table of each role's forbidden actions), pages offering only
//! what the role may do, the Admins screen with its invite form, and
//! `roster admin create --role` / `set-role`.

mod common;

use common::*;
use serde_json::json;

/// An action a console user can take, and the lowest role that may.
struct Action {
    name: &'static str,
    path: String,
    fields: Vec<(&'static str, String)>,
    needs: u8,
}

const VIEWER: u8 = 0;
const ADMIN: u8 = 1;
const OWNER: u8 = 2;

fn is_role_refusal(r: &Resp) -> bool {
    r.status == 403 && r.body.contains("Your role")
}

/// Forms on a page that POST with a submit button.
fn posting_forms(html: &str) -> usize {
    html.split("<form")
        .skip(1)
        .filter_map(|f| f.split("</form>").next())
        .filter(|f| {
            let tag = f.split('>').next().unwrap_or("");
            tag.contains(r#"method="post""#) && f.contains(r#"type="submit""#)
        })
        .count()
}

#[test]
fn each_role_is_refused_what_it_may_not_do() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Acme");
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    let ada = scim.create("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}));
    let uid = ada["id"].as_str().unwrap().to_string();
    let group = scim.create(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops"}),
    );
    let gid = group["id"].as_str().unwrap().to_string();

    // The first admin is an Owner; later ones are Admins unless told.
    let owner = Console::sign_in(&server, "olive");
    let admin = Console::sign_in(&server, "adam");
    let viewer = Console::sign_in_as(&server, "vera", Some("viewer"));
    let listed = ok(&data, &["admin", "list"]);
    assert!(
        listed.contains("olive") && listed.contains("owner"),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("adam") && l.contains(" admin ")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("vera") && l.contains("viewer")),
        "{listed}"
    );

    let actions = vec![
        Action {
            name: "add tenant",
            path: "/admin/tenants".into(),
            fields: vec![("name", "New".into()), ("idp", "generic".into())],
            needs: ADMIN,
        },
        Action {
            name: "deactivate SCIM",
            path: format!("/admin/tenants/{slug}/scim/deactivate"),
            fields: vec![],
            needs: ADMIN,
        },
        Action {
            name: "activate SCIM",
            path: format!("/admin/tenants/{slug}/scim/activate"),
            fields: vec![],
            needs: ADMIN,
        },
        Action {
            name: "generate token",
            path: format!("/admin/tenants/{slug}/token"),
            fields: vec![("grace_minutes", "60".into())],
            needs: ADMIN,
        },
        Action {
            name: "save secret",
            path: format!("/admin/tenants/{slug}/secret"),
            fields: vec![("secret", "a-new-secret-of-enough-length-1234".into())],
            needs: ADMIN,
        },
        Action {
            name: "deactivate user",
            path: format!("/admin/tenants/{slug}/users/{uid}/active"),
            fields: vec![("active", "false".into())],
            needs: ADMIN,
        },
        Action {
            name: "grant permission",
            path: format!("/admin/tenants/{slug}/groups/{gid}/permissions"),
            fields: vec![
                ("grant", "true".into()),
                ("permission", "ops:deploy".into()),
            ],
            needs: ADMIN,
        },
        Action {
            name: "create API client",
            path: format!("/admin/settings/api/{slug}/clients"),
            fields: vec![("name", "App".into()), ("scope", "directory:read".into())],
            needs: ADMIN,
        },
        Action {
            name: "add webhook",
            path: format!("/admin/settings/api/{slug}/webhooks"),
            fields: vec![("url", "https://hooks.example.com/roster".into())],
            needs: ADMIN,
        },
        Action {
            name: "rotate encryption key",
            path: "/admin/settings/keys/rotate".into(),
            fields: vec![],
            needs: OWNER,
        },
        Action {
            name: "invite an admin",
            path: "/admin/admins/invite".into(),
            fields: vec![
                ("email", "invitee@example.com".into()),
                ("role", "viewer".into()),
            ],
            needs: ADMIN,
        },
        Action {
            name: "change a role",
            path: "/admin/admins/vera/role".into(),
            fields: vec![("role", "viewer".into())],
            needs: OWNER,
        },
    ];
    for (level, who, console) in [
        (VIEWER, "viewer", &viewer),
        (ADMIN, "admin", &admin),
        (OWNER, "owner", &owner),
    ] {
        for a in &actions {
            let fields: Vec<(&str, &str)> =
                a.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = console.post(&a.path, &fields);
            if level < a.needs {
                assert!(
                    is_role_refusal(&r),
                    "{who} may not {}: got {} {}",
                    a.name,
                    r.status,
                    r.body
                );
            } else {
                assert!(
                    !is_role_refusal(&r) && r.status < 500,
                    "{who} may {}: got {}",
                    a.name,
                    r.status
                );
            }
        }
        // Revealing a secret is an Admin's action too.
        let r = request(
            "POST",
            &format!("{}/admin/tenants/{slug}/secret/reveal", server.base),
            &[("Cookie", &console.cookie), ("X-CSRF-Token", &console.csrf)],
            None,
        );
        if level < ADMIN {
            assert!(
                is_role_refusal(&r),
                "a viewer revealed a secret: {}",
                r.status
            );
        } else {
            assert_eq!(r.status, 200, "{who} reveal");
        }
    }
    // What a refused Viewer sent changed nothing: one tenant named New (the Admin's),
    // and the Owner's "add tenant" made the second.
    let tenants = ok(&data, &["tenant", "list"]);
    assert_eq!(tenants.matches(" New").count(), 2, "{tenants}");

    // A Viewer reads every screen, marked read-only.
    for path in [
        "/admin/tenants".to_string(),
        format!("/admin/tenants/{slug}/scim"),
        format!("/admin/tenants/{slug}/users"),
        format!("/admin/tenants/{slug}/groups/{gid}"),
        format!("/admin/settings/api/{slug}"),
        "/admin/settings/keys".into(),
        "/admin/admins".into(),
    ] {
        let page = viewer.get(&path);
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains("Read-only access"), "{path}");
        // ... and is offered no action: the one form that posts is Log out.
        assert_eq!(
            posting_forms(&page.body),
            1,
            "{path} offers a Viewer an action: {}",
            page.body
        );
        assert!(
            !page.body.contains("data-open-dialog") && !page.body.contains("data-reveal"),
            "{path}"
        );
    }
    // An Admin is offered tenant work but not the Owner's.
    let scim_page = admin.get(&format!("/admin/tenants/{slug}/scim"));
    assert!(scim_page.body.contains("data-reveal") && scim_page.body.contains("Deactivate SCIM"));
    let keys_page = admin.get("/admin/settings/keys");
    assert!(
        !keys_page
            .body
            .contains(r#"data-open-dialog="rotate-confirm""#)
    );
    let sso_page = admin.get("/admin/settings/sso");
    assert!(sso_page.status == 200 && !sso_page.body.contains("Add New"));
    let admins_page = admin.get("/admin/admins");
    assert!(admins_page.body.contains("Invite admin"));
    assert!(
        !admins_page.body.contains(r#"<option value="owner""#),
        "an Admin is not offered inviting an Owner"
    );
    assert!(!admins_page.body.contains("Change</button>"));

    // Inviting: an SSO-only account named by its email, with a role up to the inviter's.
    let r = owner.post(
        "/admin/admins/invite",
        &[("email", " Ivy@Example.com "), ("role", "admin")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = admin.post(
        "/admin/admins/invite",
        &[("email", "oscar@example.com"), ("role", "owner")],
    );
    assert!(is_role_refusal(&r), "{} {}", r.status, r.body);
    let r = admin.post(
        "/admin/admins/invite",
        &[("email", "not-an-email"), ("role", "viewer")],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("is not an email address") && r.body.contains(r#"value="not-an-email""#),
        "{}",
        r.body
    );
    let r = admin.post(
        "/admin/admins/invite",
        &[("email", "ivy@example.com"), ("role", "viewer")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("already exists"), "{}", r.body);
    let listed = ok(&data, &["admin", "list"]);
    assert!(
        listed.lines().any(|l| l.starts_with("ivy@example.com")
            && l.contains(" admin ")
            && l.contains("sso only")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("invitee@example.com") && l.contains("viewer"))
    );
    assert!(!listed.contains("oscar"), "{listed}");
    // An invited account has no password to sign in with.
    let pw = request(
        "POST",
        &format!("{}/admin/login", server.base),
        &[FORM],
        Some("username=ivy@example.com&password="),
    );
    assert_eq!(pw.status, 401);

    // The Admins screen: roles, how each signs in, last sign-in.
    let page = owner.get("/admin/admins");
    assert!(
        page.body.contains("vera")
            && page.body.contains("Viewer")
            && page.body.contains("Password")
    );
    assert_eq!(
        page.body.matches(">never<").count(),
        2,
        "everyone but the two invited accounts has signed in"
    );
    // The last Owner cannot demote itself.
    let r = owner.post("/admin/admins/olive/role", &[("role", "admin")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("only Owner"), "{}", r.body);
    // Roles change at once: Vera becomes an Admin (by the CLI), Adam an Owner (by the console).
    ok(
        &data,
        &["admin", "set-role", "--username", "vera", "--role", "admin"],
    );
    let r = viewer.post("/admin/tenants", &[("name", "Vera's"), ("idp", "generic")]);
    assert!(!is_role_refusal(&r), "{}", r.status);
    assert_eq!(
        owner
            .post("/admin/admins/adam/role", &[("role", "owner")])
            .status,
        303
    );
    assert!(!is_role_refusal(
        &admin.post("/admin/settings/keys/rotate", &[])
    ));
    let bad = roster(
        &data,
        &[
            "admin",
            "set-role",
            "--username",
            "vera",
            "--role",
            "emperor",
        ],
    );
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("owner, admin and viewer"),
        "{}",
        bad.stderr
    );
    let audit = ok(&data, &["audit", "--limit", "200"]);
    assert!(
        audit.contains("admin.role_changed") && audit.contains("vera: viewer -> admin"),
        "{audit}"
    );
    assert!(audit.contains("adam: admin -> owner"), "{audit}");
    assert!(
        audit.contains("admin.invited") && audit.contains("ivy@example.com as admin"),
        "{audit}"
    );
    assert!(audit.contains("admin.login"), "{audit}");
}
