//! Console access and safety at the HTTP level: setup link, sessions, CSRF,
//! login throttling, security headers, admin CLI.

mod common;

use common::*;

fn setup_url(server: &Server) -> Option<String> {
    server
        .stdout
        .iter()
        .find_map(|l| l.split("open ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_string)
}

fn login(server: &Server, user: &str, password: &str) -> Resp {
    request(
        "POST",
        &format!("{}/admin/login", server.base),
        &[FORM],
        Some(&format!("username={user}&password={password}")),
    )
}

fn page(server: &Server, path: &str, cookie: &str) -> Resp {
    request(
        "GET",
        &format!("{}{path}", server.base),
        &[("Cookie", cookie)],
        None,
    )
}

#[test]
fn first_run_setup_link_works_once() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let url = setup_url(&server).expect("setup link printed while no admin exists");
    assert!(url.starts_with(&format!("{}/admin/setup?token=", server.base)));
    assert_eq!(
        get(&format!("{}/admin/setup?token=wrong", server.base), None).status,
        403
    );
    assert_eq!(get(&url, None).status, 200);
    let token = url.split("token=").nth(1).unwrap();

    // Validation errors keep what was typed.
    let bad = request(
        "POST",
        &format!("{}/admin/setup", server.base),
        &[FORM],
        Some(&format!(
            "token={token}&username=Root%20User&password=short&confirm=short"
        )),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("value=\"Root User\""));
    assert!(bad.body.contains("lowercase letters") && bad.body.contains("at least 12"));

    let ok = request(
        "POST",
        &format!("{}/admin/setup", server.base),
        &[FORM],
        Some(&format!(
            "token={token}&username=admin&password={PASSWORD}&confirm={PASSWORD}"
        )),
    );
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), Some("/admin/tenants"));
    let set = ok.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"));
    let cookie = cookie_of(&ok);
    assert_eq!(page(&server, "/admin/tenants", &cookie).status, 200);

    // The link is spent; a restart with an admin prints none.
    assert_ne!(get(&url, None).status, 200);
    let server = server.restart();
    assert!(setup_url(&server).is_none());
    // Sessions live in the store: still logged in after the restart.
    assert_eq!(page(&server, "/admin/tenants", &cookie).status, 200);
}

#[test]
fn sessions_csrf_headers_and_throttling() {
    let (_tmp, data) = temp_data_dir();
    let out = roster_in(
        &data,
        &["admin", "create", "--username", "ops"],
        &[],
        Some(PASSWORD),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let short = roster_in(
        &data,
        &["admin", "create", "--username", "x"],
        &[],
        Some("short"),
    );
    assert_eq!(short.code, 1);
    let server = Server::start(&data);
    assert!(setup_url(&server).is_none());

    // Not logged in: pages redirect to the login form.
    let anon = get(&format!("{}/admin/tenants", server.base), None);
    assert_eq!(anon.status, 303);
    assert_eq!(anon.header("location"), Some("/admin/login"));

    let login_page = get(&format!("{}/admin/login", server.base), None);
    let csp = login_page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(login_page.header("x-frame-options"), Some("DENY"));
    assert_eq!(login_page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(login_page.header("cache-control"), Some("no-store"));
    assert!(!login_page.body.contains("<script>") && !login_page.body.contains("style=\""));

    let wrong = login(&server, "ops", "not-the-password");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("Wrong username or password") && wrong.body.contains("value=\"ops\"")
    );
    let unknown = login(&server, "nobody", "not-the-password");
    assert_eq!(unknown.status, 401);

    let ok = login(&server, "ops", PASSWORD);
    assert_eq!(ok.status, 303);
    let cookie = cookie_of(&ok);
    let tenants = page(&server, "/admin/tenants", &cookie);
    assert_eq!(tenants.status, 200);
    let csrf = csrf_in(&tenants.body);

    // A form without or with a wrong CSRF token changes nothing.
    for body in ["name=Evil", "name=Evil&csrf=forged"] {
        let forged = request(
            "POST",
            &format!("{}/admin/tenants", server.base),
            &[FORM, ("Cookie", &cookie)],
            Some(body),
        );
        assert_eq!(forged.status, 403);
    }
    let cross = request(
        "POST",
        &format!("{}/admin/tenants", server.base),
        &[FORM, ("Cookie", &cookie), ("Sec-Fetch-Site", "cross-site")],
        Some(&format!("name=Evil&csrf={csrf}")),
    );
    assert_eq!(cross.status, 403);
    assert!(!ok_list(&data).contains("evil"));
    let reveal = request(
        "POST",
        &format!("{}/admin/tenants/none/secret/reveal", server.base),
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(reveal.status, 403, "reveal needs the CSRF header");

    // With the token: created, and a field error keeps the form.
    let made = request(
        "POST",
        &format!("{}/admin/tenants", server.base),
        &[FORM, ("Cookie", &cookie)],
        Some(&format!("name=Payroll&idp=okta&csrf={csrf}")),
    );
    assert_eq!(made.status, 303);
    assert!(ok_list(&data).contains("payroll"));
    for (tab, empty) in [("users", "No users match."), ("groups", "No groups match.")] {
        let list = page(
            &server,
            &format!("/admin/tenants/payroll/{tab}?q=nobody"),
            &cookie,
        );
        assert_eq!(list.status, 200);
        assert!(list.body.contains(empty), "{tab}");
        assert!(
            list.body
                .contains(&format!("action=\"/admin/tenants/payroll/{tab}\"")),
            "{tab}"
        );
    }
    let empty = request(
        "POST",
        &format!("{}/admin/tenants", server.base),
        &[FORM, ("Cookie", &cookie)],
        Some(&format!("name=&idp=entra&csrf={csrf}")),
    );
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("invalid name") && empty.body.contains("value=\"entra\" selected"));

    // Logout ends the session server-side.
    let out = request(
        "POST",
        &format!("{}/admin/logout", server.base),
        &[FORM, ("Cookie", &cookie)],
        Some(&format!("csrf={csrf}")),
    );
    assert_eq!(out.status, 303);
    assert_eq!(page(&server, "/admin/tenants", &cookie).status, 303);

    // A password reset from the shell ends every session of that admin.
    let again = cookie_of(&login(&server, "ops", PASSWORD));
    assert_eq!(page(&server, "/admin/tenants", &again).status, 200);
    let reset = roster_in(
        &data,
        &["admin", "reset-password", "--username", "ops"],
        &[],
        Some("another-long-password"),
    );
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert_eq!(page(&server, "/admin/tenants", &again).status, 303);
    assert_eq!(login(&server, "ops", "another-long-password").status, 303);

    // Repeated failures from one address are throttled.
    let mut last = 0;
    for _ in 0..6 {
        last = login(&server, "ops", "wrong-wrong-wrong").status;
    }
    assert_eq!(last, 429);
    let blocked = login(&server, "ops", "another-long-password");
    assert_eq!(blocked.status, 429);
    assert!(blocked.header("retry-after").is_some());
}

fn ok_list(data: &std::path::Path) -> String {
    ok(data, &["tenant", "list"])
}

#[test]
fn session_cookie_is_secure_behind_https() {
    let (_tmp, data) = temp_data_dir();
    roster_in(
        &data,
        &["admin", "create", "--username", "ops"],
        &[],
        Some(PASSWORD),
    );
    let server = Server::launch(
        &data,
        Launch {
            args: vec!["--public-url", "https://roster.example.test"],
            ..Launch::default()
        },
    )
    .unwrap();
    let ok = login(&server, "ops", PASSWORD);
    assert!(ok.header("set-cookie").unwrap().contains("Secure"));
}

#[test]
fn assets_are_embedded_and_cacheable() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let css = get(&format!("{}/assets/console.css", server.base), None);
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("cache-control").unwrap().contains("immutable"));
    let etag = css.header("etag").unwrap().to_string();
    let again = request(
        "GET",
        &format!("{}/assets/console.css", server.base),
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!(again.status, 304);
    assert_eq!(
        get(&format!("{}/assets/console.js", server.base), None).status,
        200
    );
    assert_eq!(
        get(&format!("{}/assets/nope.js", server.base), None).status,
        404
    );
}
