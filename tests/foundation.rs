//! The binary as an operator meets it: defaults, config layers, health, tenants,
//! the control socket, persistence, double start, graceful shutdown, logs.

mod common;

use common::*;

#[test]
fn embedded_defaults_without_any_config() {
    let tmp = tempfile::tempdir().unwrap();
    // No file, no environment, no flags: the embedded defaults.
    let out = roster_command(tmp.path())
        .arg("configtest")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("listen = \"127.0.0.1:8080\"    # default"),
        "{text}"
    );
    assert!(
        text.contains("data_dir = \"./roster-data\"    # default"),
        "{text}"
    );

    // Serving with only a free port chosen creates ./roster-data and prints the console URL.
    let server = Server::launch(
        &tmp.path().join("unused"),
        Launch {
            no_data_dir: true,
            cwd: Some(tmp.path().to_path_buf()),
            ..Launch::default()
        },
    )
    .unwrap();
    let data = tmp.path().join("roster-data");
    assert!(data.join("roster.redb").exists());
    assert!(data.join("master.key").exists());
    assert!(data.join("roster.sock").exists());
    let console = server
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("roster: console at "))
        .unwrap()
        .to_string();
    assert_eq!(console, format!("{}/admin/", server.base));
    assert_eq!(get(&format!("{}/healthz", server.base), None).status, 200);
}

#[test]
fn health_endpoints_and_root_redirect() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let health = get(&format!("{}/healthz", server.base), None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let ready = get(&format!("{}/readyz", server.base), None);
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    let root = get(&format!("{}/", server.base), None);
    assert_eq!(root.status, 302);
    assert_eq!(root.header("location"), Some("/admin/"));
    let console = get(&format!("{}/admin/", server.base), None);
    assert_eq!(console.status, 303);
    assert_eq!(console.header("location"), Some("/admin/tenants"));
}

fn console_url(launch: Launch<'_>, data: &std::path::Path) -> String {
    let server = Server::launch(data, launch).unwrap();
    let url = server
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("roster: console at "))
        .unwrap()
        .to_string();
    server.stop();
    url
}

#[test]
fn config_precedence_file_then_env_then_flags() {
    let (tmp, data) = temp_data_dir();
    let file = tmp.path().join("roster.toml");
    std::fs::write(
        &file,
        "# test config\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://from-file.test\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    let from_file = console_url(
        Launch {
            args: vec!["--config", file_arg],
            ..Launch::default()
        },
        &data,
    );
    assert_eq!(from_file, "http://from-file.test/admin/");

    let from_env = console_url(
        Launch {
            args: vec!["--config", file_arg],
            env: vec![("ROSTER_PUBLIC_URL", "http://from-env.test/")],
            ..Launch::default()
        },
        &data,
    );
    assert_eq!(from_env, "http://from-env.test/admin/");

    let from_flag = console_url(
        Launch {
            args: vec![
                "--config",
                file_arg,
                "--public-url",
                "https://from-flag.test",
            ],
            env: vec![("ROSTER_PUBLIC_URL", "http://from-env.test")],
            ..Launch::default()
        },
        &data,
    );
    assert_eq!(from_flag, "https://from-flag.test/admin/");

    // The file's log_format = "json" took effect: log lines are JSON objects.
    let server = Server::launch(
        &data,
        Launch {
            args: vec!["--config", file_arg],
            ..Launch::default()
        },
    )
    .unwrap();
    get(&format!("{}/healthz", server.base), None);
    let stopped_log = {
        let log = server.log.clone();
        server.stop();
        std::fs::read_to_string(log).unwrap()
    };
    let request_line = stopped_log
        .lines()
        .find(|l| l.contains("/healthz"))
        .expect("request log line");
    let parsed: serde_json::Value = serde_json::from_str(request_line).unwrap();
    assert_eq!(parsed["fields"]["status"], 200);
}

#[test]
fn invalid_config_is_one_line_naming_the_key_with_exit_2() {
    let (tmp, data) = temp_data_dir();
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlisten_port = 8080\n").unwrap();
    let cases: Vec<(Launch<'_>, &str, &str)> = vec![
        (
            Launch {
                args: vec!["--config", file.to_str().unwrap()],
                ..Launch::default()
            },
            "listen_port",
            "unknown key",
        ),
        (
            Launch {
                env: vec![("ROSTER_LISTEN", "not-an-address")],
                args: vec![],
                ..Launch::default()
            },
            "listen",
            "ROSTER_LISTEN",
        ),
        (
            Launch {
                args: vec!["--log-format", "xml"],
                ..Launch::default()
            },
            "log_format",
            "--log-format",
        ),
        (
            Launch {
                args: vec!["--body-limit", "lots"],
                ..Launch::default()
            },
            "body_limit",
            "--body-limit",
        ),
        (
            Launch {
                args: vec!["--config", "/nonexistent/roster.toml"],
                ..Launch::default()
            },
            "config",
            "cannot read",
        ),
    ];
    for (launch, key, hint) in cases {
        // Each layer is validated as it is applied, even one a later layer overrides.
        let (code, stderr) = match Server::launch(&data, launch) {
            Err(failure) => failure,
            Ok(_) => panic!("server started despite bad {key}"),
        };
        assert_eq!(code, 2, "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected: {stderr}");
        assert!(lines[0].contains(&format!("`{key}`")), "{stderr}");
        assert!(lines[0].contains(hint), "{stderr}");
    }
}

#[test]
fn tenants_via_socket_and_direct_store_persist_across_restart() {
    let (_tmp, data) = temp_data_dir();
    // Without a server the CLI opens the store itself.
    let offline = ok(&data, &["tenant", "create", "--name", "Acme HR"]);
    assert_eq!(field(&offline, "slug"), "acme-hr");
    assert_eq!(field(&offline, "id"), "1");
    let list_offline = ok(&data, &["tenant", "list"]);

    let server = Server::start(&data);
    assert!(data.join("roster.sock").exists());
    // With a server running the same command goes over the socket, same output.
    assert_eq!(ok(&data, &["tenant", "list"]), list_offline);

    let second = ok(&data, &["tenant", "create", "--name", "Acme HR"]);
    assert_eq!(field(&second, "slug"), "acme-hr-2", "slugs stay unique");
    let explicit = roster(
        &data,
        &["tenant", "create", "--name", "Other", "--slug", "acme-hr"],
    );
    assert_eq!(explicit.code, 4);
    assert!(
        explicit.stderr.contains("already used"),
        "{}",
        explicit.stderr
    );
    let bad_slug = roster(
        &data,
        &["tenant", "create", "--name", "X", "--slug", "Not OK"],
    );
    assert_ne!(bad_slug.code, 0);
    assert_eq!(bad_slug.stderr.lines().count(), 1);

    ok(
        &data,
        &["tenant", "rename", "acme-hr-2", "--name", "Acme Payroll"],
    );
    ok(
        &data,
        &["tenant", "create", "--name", "Temp", "--idp", "okta"],
    );
    ok(&data, &["tenant", "delete", "temp"]);
    let missing = roster(&data, &["tenant", "show", "temp"]);
    assert_eq!(missing.code, 3);
    assert_eq!(
        missing.stderr.trim(),
        "roster: no tenant with slug \"temp\""
    );

    let show_online = ok(&data, &["tenant", "show", "acme-hr-2"]);
    assert_eq!(field(&show_online, "name"), "Acme Payroll");
    assert_eq!(
        field(&show_online, "scim endpoint"),
        format!("{}/scim/v2/acme-hr-2", server.base)
    );

    let server = server.restart();
    let list = ok(&data, &["tenant", "list"]);
    assert!(
        list.contains("acme-hr ") && list.contains("Acme Payroll"),
        "{list}"
    );
    assert!(!list.contains("temp"), "{list}");

    // After a graceful stop the socket is gone and the store opens directly.
    let status = server.stop();
    assert!(status.success());
    assert!(!data.join("roster.sock").exists());
    assert_eq!(ok(&data, &["tenant", "list"]), list);
}

#[test]
fn second_server_on_one_data_dir_fails_cleanly() {
    let (_tmp, data) = temp_data_dir();
    let first = Server::start(&data);
    let (code, stderr) = match Server::launch(&data, Launch::default()) {
        Err(failure) => failure,
        Ok(_) => panic!("second server started"),
    };
    assert_eq!(code, 1);
    assert!(
        stderr.contains("in use by another roster process"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The first one is unharmed and still owns its socket.
    assert_eq!(get(&format!("{}/readyz", first.base), None).status, 200);
    assert!(ok(&data, &["tenant", "list"]).starts_with("ID"));
}

#[test]
fn stale_socket_after_a_crash_does_not_block_the_cli_or_restart() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    create_tenant(&data, "Before Crash");
    server.kill();
    assert!(
        data.join("roster.sock").exists(),
        "a killed server leaves its socket"
    );
    assert!(ok(&data, &["tenant", "list"]).contains("before-crash"));
    let server = Server::start(&data);
    assert!(ok(&data, &["tenant", "list"]).contains("before-crash"));
    assert!(server.stop().success());
}

#[test]
fn graceful_shutdown_finishes_and_logs_never_hold_credentials() {
    let (_tmp, data) = temp_data_dir();
    let slug = create_tenant(&data, "Log Check");
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    let token = ok(&data, &["token", "create", "--tenant", &slug])
        .trim()
        .to_string();
    let server = Server::start(&data);
    let url = format!(
        "{}/scim/v2/{slug}/ServiceProviderConfig?x=secretquery",
        server.base
    );
    assert_eq!(get(&url, Some(&bearer(&token))).status, 200);
    assert_eq!(get(&url, Some(&bearer("rst_wrongwrongwrong"))).status, 401);
    let log_path = server.log.clone();
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(log_path).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("ServiceProviderConfig") && l.contains("status=200"))
        .unwrap_or_else(|| panic!("no request line in {log}"));
    assert!(
        line.contains("method=GET") && line.contains(&format!("tenant={slug}")),
        "{line}"
    );
    assert!(line.contains("latency_ms="), "{line}");
    assert!(!log.contains(&token), "token leaked into the log");
    assert!(
        !log.contains("rst_wrong"),
        "rejected token leaked into the log"
    );
    assert!(!log.contains("secretquery"), "query strings are not logged");
    assert!(log.contains("store closed"), "{log}");
}
