//! Black-box harness: runs the real `roster` binary on 127.0.0.1:0 with a temp
//! data dir, talks HTTP to it, and runs CLI commands against the same data dir.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// A command with an environment free of the developer's ROSTER_* settings.
pub fn roster_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("ROSTER_") || key == "CREDENTIALS_DIRECTORY" {
            cmd.env_remove(key);
        }
    }
    // Never pick up an installed /etc/roster/roster.toml; `--config` still wins.
    cmd.env("ROSTER_CONFIG", "/dev/null");
    cmd
}

/// What a CLI run printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `roster --data-dir DIR args...` to completion.
pub fn roster(data_dir: &Path, args: &[&str]) -> Output {
    roster_in(data_dir, args, &[], None)
}

/// As `roster`, with extra environment and optional stdin.
pub fn roster_in(
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let cwd = data_dir.parent().unwrap_or(data_dir);
    let mut cmd = roster_command(cwd);
    cmd.arg("--data-dir").arg(data_dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn roster");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait roster");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a CLI command that must succeed and returns its stdout.
pub fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = roster(data_dir, args);
    assert_eq!(out.code, 0, "roster {args:?} failed: {}", out.stderr);
    out.stdout
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub stdout: Vec<String>,
}

/// How to start a server.
#[derive(Default, Clone)]
pub struct Launch<'a> {
    pub args: Vec<&'a str>,
    pub env: Vec<(&'a str, &'a str)>,
    /// Working directory (defaults to the data dir's parent).
    pub cwd: Option<PathBuf>,
    /// Leave out `--data-dir` (to test the default).
    pub no_data_dir: bool,
}

impl Server {
    /// Starts `roster serve --listen 127.0.0.1:0 --data-dir DIR`.
    pub fn start(data_dir: &Path) -> Server {
        Self::launch(data_dir, Launch::default()).expect("server start")
    }

    /// Starts a server; `Err` carries exit code and stderr if it exited instead.
    pub fn launch(data_dir: &Path, launch: Launch<'_>) -> Result<Server, (i32, String)> {
        let cwd = launch
            .cwd
            .clone()
            .unwrap_or_else(|| data_dir.parent().unwrap_or(data_dir).to_path_buf());
        let log = cwd.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut cmd = roster_command(&cwd);
        if !launch.no_data_dir {
            cmd.arg("--data-dir").arg(data_dir);
        }
        cmd.arg("serve");
        if !launch.args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(&launch.args);
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        let mut child = cmd.spawn().expect("spawn roster serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    lines.push(line.clone());
                    if line.starts_with("roster: console at") {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                return Err((status.code().unwrap_or(-1), err));
            }
            assert!(std::time::Instant::now() < deadline, "server did not start");
        }
        let addr = lines
            .iter()
            .find_map(|l| l.strip_prefix("roster: listening on "))
            .expect("listening line")
            .to_string();
        Ok(Server {
            child: Some(child),
            base: format!("http://{addr}"),
            data_dir: data_dir.to_path_buf(),
            log,
            stdout: lines,
        })
    }

    /// The server's log (stderr) so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(&child, "TERM");
        child.wait().unwrap()
    }

    /// SIGKILL: a crash.
    /// Waits up to `timeout` for the server to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops and starts again on the same data dir.
    pub fn restart(self) -> Server {
        let dir = self.data_dir.clone();
        let status = self.stop();
        assert!(status.success(), "graceful stop failed: {status:?}");
        Server::start(&dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a signal by name to a child process.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// An HTTP response as a test sees it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// GET with an optional Authorization header value.
pub fn get(url: &str, authorization: Option<&str>) -> Resp {
    let mut req = agent().get(url);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    into_resp(req.call().expect("http get"))
}

fn into_resp(mut resp: ureq::http::Response<ureq::Body>) -> Resp {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `Basic base64(id:secret)`.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Creates a tenant with the CLI and returns its slug.
pub fn create_tenant(data_dir: &Path, name: &str) -> String {
    let out = ok(data_dir, &["tenant", "create", "--name", name]);
    field(&out, "slug")
}

/// The value of a `key: value` line.
pub fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .trim()
        .to_string()
}

/// A fresh temp dir and a data dir path inside it.
pub fn temp_data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    (tmp, data)
}

/// Any request: method, URL, extra headers, optional body (sent as application/scim+json).
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    try_request(method, url, headers, body).expect("http request")
}

/// Like `request`, but a failure to connect or read the answer is an `Err`.
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Resp, String> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let resp = match body {
        Some(b) => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                builder = builder.header("Content-Type", "application/scim+json");
            }
            agent().run(builder.body(b.to_string()).unwrap())
        }
        None => agent().run(builder.body(()).unwrap()),
    };
    resp.map(into_resp).map_err(|e| e.to_string())
}

/// A SCIM client for one tenant.
pub struct Scim {
    pub base: String,
    pub auth: String,
}

impl Scim {
    /// Creates an active tenant with a token on a running server.
    pub fn setup(server: &Server, name: &str) -> Scim {
        let slug = create_tenant(&server.data_dir, name);
        ok(&server.data_dir, &["scim", "activate", "--tenant", &slug]);
        let token = ok(&server.data_dir, &["token", "create", "--tenant", &slug])
            .trim()
            .to_string();
        Scim {
            base: format!("{}/scim/v2/{slug}", server.base),
            auth: bearer(&token),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Resp {
        get(&self.url(path), Some(&self.auth))
    }

    pub fn send(&self, method: &str, path: &str, body: &serde_json::Value) -> Resp {
        request(
            method,
            &self.url(path),
            &[("Authorization", &self.auth)],
            Some(&body.to_string()),
        )
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.send("POST", path, body)
    }

    pub fn put(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.send("PUT", path, body)
    }

    pub fn delete(&self, path: &str) -> Resp {
        request(
            "DELETE",
            &self.url(path),
            &[("Authorization", &self.auth)],
            None,
        )
    }

    /// POSTs and asserts 201; returns the body.
    pub fn create(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let resp = self.post(path, body);
        assert_eq!(resp.status, 201, "{}", resp.body);
        resp.json()
    }
}

/// Asserts a SCIM error body with this status (and scimType, if given).
pub fn assert_scim_error(resp: &Resp, status: u16, scim_type: Option<&str>) -> String {
    assert_eq!(resp.status, status, "{}", resp.body);
    let body = resp.json();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], status.to_string());
    assert_eq!(body["scimType"].as_str(), scim_type, "{}", resp.body);
    assert_eq!(resp.header("content-type"), Some("application/scim+json"));
    body["detail"].as_str().unwrap_or_default().to_string()
}

/// URL-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Content-Type of a form post.
pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
/// A console password the policy accepts.
pub const PASSWORD: &str = "correct-horse-battery-staple";

/// The session cookie a login answer sets (`name=value`).
pub fn cookie_of(resp: &Resp) -> String {
    let set = resp.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

/// The CSRF token of the first form on a console page.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// An admin signed in to a server's console.
pub struct Console {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Console {
    /// Creates admin `username` with the CLI and signs in with its password.
    pub fn sign_in(server: &Server, username: &str) -> Console {
        Self::sign_in_as(server, username, None)
    }

    /// Creates admin `username` with `role` (the CLI's default if None) and signs in.
    pub fn sign_in_as(server: &Server, username: &str, role: Option<&str>) -> Console {
        let mut args = vec!["admin", "create", "--username", username];
        if let Some(r) = role {
            args.extend(["--role", r]);
        }
        let out = roster_in(&server.data_dir, &args, &[], Some(PASSWORD));
        assert_eq!(out.code, 0, "{}", out.stderr);
        Self::log_in(server, username)
    }

    /// Signs in as an existing admin whose password is `PASSWORD`.
    pub fn log_in(server: &Server, username: &str) -> Console {
        let login = request(
            "POST",
            &format!("{}/admin/login", server.base),
            &[FORM],
            Some(&format!("username={username}&password={PASSWORD}")),
        );
        assert_eq!(login.status, 303, "{}", login.body);
        let cookie = cookie_of(&login);
        let home = request(
            "GET",
            &format!("{}/admin/tenants", server.base),
            &[("Cookie", &cookie)],
            None,
        );
        Console {
            base: server.base.clone(),
            csrf: csrf_in(&home.body),
            cookie,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        request(
            "GET",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie)],
            None,
        )
    }

    /// Posts a form with the session's CSRF token added.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut body = format!("csrf={}", enc(&self.csrf));
        for (k, v) in fields {
            body.push_str(&format!("&{}={}", enc(k), enc(v)));
        }
        request(
            "POST",
            &format!("{}{path}", self.base),
            &[FORM, ("Cookie", &self.cookie)],
            Some(&body),
        )
    }
}
