//! Console single sign-on through OpenID Connect and plain OAuth 2.0 against
//! a small provider started here on 127.0.0.1: it serves discovery and a
//! JWKS, answers the authorization request with a code, checks the client
//! secret and PKCE at its token endpoint, and signs real RS256 ID tokens — or,
//! on demand, wrong ones (another key, another audience, expired, another
//! nonce, another domain, an unverified email). Without `openid` in the scope
//! it is a plain OAuth 2.0 server: an access token and a userinfo URL.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "roster-console";
const CLIENT_SECRET: &str = "provider-issued-secret-4411";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// What the provider puts in (or does to) the next ID token.
#[derive(Clone)]
struct Next {
    email: String,
    email_verified: Value,
    audience: String,
    signing_key: &'static str,
    expired: bool,
    nonce: Option<String>,
    /// The userinfo URL refuses the access token.
    userinfo_refuses: bool,
}

impl Next {
    fn user(email: &str) -> Next {
        Next {
            email: email.into(),
            email_verified: json!(true),
            audience: CLIENT_ID.into(),
            signing_key: "oidc-test-key.der",
            expired: false,
            nonce: None,
            userinfo_refuses: false,
        }
    }
}

#[derive(Default)]
struct ProviderState {
    /// code -> (nonce, PKCE challenge, redirect_uri, openid asked for)
    codes: HashMap<String, (String, String, String, bool)>,
    /// OAuth 2.0 access token -> whose userinfo it reads
    tokens: HashMap<String, Next>,
    /// The query of the last authorization request.
    last_authorize: HashMap<String, String>,
    next: Option<Next>,
}

struct Provider {
    base: String,
    state: Arc<Mutex<ProviderState>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Provider {
    fn start() -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProviderState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s, st) = (base.clone(), state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &b, &s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Provider { base, state, stop }
    }

    fn next(&self, n: Next) {
        self.state.lock().unwrap().next = Some(n);
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let _ = write!(stream, "{head}\r\n{body}");
}

fn form(text: &str) -> HashMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn serve(stream: TcpStream, base: &str, state: &Mutex<ProviderState>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).to_string();
    let stream = reader.get_mut();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let json_type = [("Content-Type", "application/json")];
    match (method, path) {
        ("GET", "/.well-known/openid-configuration") => {
            let doc = json!({"issuer": base, "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"), "jwks_uri": format!("{base}/jwks"),
                "id_token_signing_alg_values_supported": ["RS256"]});
            respond(stream, "200 OK", &json_type, &doc.to_string());
        }
        ("GET", "/jwks") => respond(
            stream,
            "200 OK",
            &json_type,
            &fixture("oidc-test-jwks.json"),
        ),
        ("GET", "/authorize") => {
            let q = form(query);
            let ok = q.get("response_type").map(String::as_str) == Some("code")
                && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && q.get("code_challenge_method").map(String::as_str) == Some("S256")
                && q.contains_key("scope");
            let openid = q["scope"].split(' ').any(|x| x == "openid");
            if !ok || (openid && !q.contains_key("nonce")) {
                respond(stream, "400 Bad Request", &[], "bad authorization request");
                return;
            }
            let code = format!("code-{}", rand::random::<u64>());
            let redirect = q["redirect_uri"].clone();
            let mut st = state.lock().unwrap();
            st.codes.insert(
                code.clone(),
                (
                    q.get("nonce").cloned().unwrap_or_default(),
                    q["code_challenge"].clone(),
                    redirect.clone(),
                    openid,
                ),
            );
            st.last_authorize = q.clone();
            drop(st);
            let location = format!(
                "{redirect}?code={code}&state={}",
                form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
            );
            respond(stream, "302 Found", &[("Location", &location)], "");
        }
        ("POST", "/token") => {
            let expected = format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if headers.get("authorization") != Some(&expected) {
                respond(
                    stream,
                    "401 Unauthorized",
                    &json_type,
                    r#"{"error":"invalid_client"}"#,
                );
                return;
            }
            let f = form(&body);
            let mut st = state.lock().unwrap();
            let Some((nonce, challenge, redirect, openid)) =
                st.codes.remove(f.get("code").map_or("", String::as_str))
            else {
                respond(
                    stream,
                    "400 Bad Request",
                    &json_type,
                    r#"{"error":"invalid_grant"}"#,
                );
                return;
            };
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let pkce_ok = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge;
            if !pkce_ok || f.get("redirect_uri") != Some(&redirect) {
                respond(
                    stream,
                    "400 Bad Request",
                    &json_type,
                    r#"{"error":"invalid_grant"}"#,
                );
                return;
            }
            let next = st
                .next
                .clone()
                .unwrap_or_else(|| Next::user("ada@example.com"));
            if !openid {
                let token = format!("at-{}", rand::random::<u64>());
                st.tokens.insert(token.clone(), next);
                let answer =
                    json!({"access_token": token, "token_type": "bearer", "expires_in": 300});
                respond(stream, "200 OK", &json_type, &answer.to_string());
                return;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let (iat, exp) = if next.expired {
                (now - 7200, now - 3600)
            } else {
                (now, now + 300)
            };
            let claims = json!({"iss": base, "sub": format!("sub-{}", next.email), "aud": next.audience,
                "iat": iat, "exp": exp, "nonce": next.nonce.unwrap_or(nonce),
                "email": next.email, "email_verified": next.email_verified});
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("test-key-1".into());
            let der = std::fs::read(format!(
                "{}/tests/fixtures/{}",
                env!("CARGO_MANIFEST_DIR"),
                next.signing_key
            ))
            .unwrap();
            let key = EncodingKey::from_rsa_der(&der);
            let id_token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            let answer = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token});
            respond(stream, "200 OK", &json_type, &answer.to_string());
        }
        ("GET", "/userinfo") => {
            let token = headers
                .get("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            let found = state.lock().unwrap().tokens.get(token).cloned();
            match found {
                Some(next) if !next.userinfo_refuses => {
                    let mut info = json!({"sub": format!("sub-{}", next.email),
                        "email_verified": next.email_verified,
                        "profile": {"mail": next.email.replace('@', ".work@")}});
                    if !next.email.is_empty() {
                        info["email"] = json!(next.email);
                    }
                    respond(stream, "200 OK", &json_type, &info.to_string());
                }
                _ => respond(
                    stream,
                    "401 Unauthorized",
                    &json_type,
                    r#"{"error":"invalid_token"}"#,
                ),
            }
        }
        _ => respond(stream, "404 Not Found", &[], ""),
    }
}

fn cookie_named(resp: &Resp, name: &str) -> Option<String> {
    resp.headers_named("set-cookie")
        .into_iter()
        .filter_map(|c| c.split(';').next())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
        .map(str::to_string)
}

/// What one browser round trip through the IdP ended with.
struct Outcome {
    callback: Resp,
    callback_url: String,
    flow_cookie: String,
}

/// Clicks the provider's button and follows the IdP back, as a browser does.
fn sign_in_via(server: &Server, provider_id: &str) -> Outcome {
    let start = get(
        &format!("{}/admin/sso/{provider_id}/start", server.base),
        None,
    );
    assert_eq!(start.status, 303, "{}", start.body);
    let flow_cookie = cookie_named(&start, "roster_sso").expect("the flow cookie");
    assert!(
        start
            .headers_named("set-cookie")
            .iter()
            .any(|c| c.contains("SameSite=Lax") && c.contains("HttpOnly"))
    );
    let authorize = start.header("location").unwrap().to_string();
    let at_idp = get(&authorize, None);
    assert_eq!(at_idp.status, 302, "{}", at_idp.body);
    let callback_url = at_idp.header("location").unwrap().to_string();
    let callback = request("GET", &callback_url, &[("Cookie", &flow_cookie)], None);
    Outcome {
        callback,
        callback_url,
        flow_cookie,
    }
}

fn signed_in(server: &Server, outcome: &Outcome) -> String {
    assert_eq!(outcome.callback.status, 200, "{}", outcome.callback.body);
    let session = cookie_named(&outcome.callback, "roster_session").expect("a session");
    let home = request(
        "GET",
        &format!("{}/admin/tenants", server.base),
        &[("Cookie", &session)],
        None,
    );
    assert_eq!(home.status, 200);
    session
}

fn refused_with(outcome: &Outcome, text: &str) {
    assert_eq!(outcome.callback.status, 403, "{}", outcome.callback.body);
    assert!(
        outcome.callback.body.contains(text),
        "expected {text:?} in {}",
        outcome.callback.body
    );
    assert!(cookie_named(&outcome.callback, "roster_session").is_none());
}

#[test]
fn admins_sign_in_through_openid_connect_and_every_bad_answer_is_refused() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let idp = Provider::start();
    let owner = Console::sign_in(&server, "olive");

    // The Owner adds the provider: Add New, the seed's fields, Done.
    let page = owner.get("/admin/settings/sso?add=1");
    assert!(
        page.body.contains("Call Back URL")
            && page
                .body
                .contains(&format!("{}/admin/sso/callback", server.base))
    );
    assert!(page.body.contains("SAML 2.0 (not available yet)") && page.body.contains("disabled"));
    let fields = |domains: &str, signup: bool| {
        let mut f = vec![
            ("auth_type", "oidc".to_string()),
            ("issuer", idp.base.clone()),
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", CLIENT_SECRET.to_string()),
            ("scopes", "openid email profile".to_string()),
            ("sign_in_message", "Sign in with Example SSO".to_string()),
            ("allowed_domains", domains.to_string()),
        ];
        if signup {
            f.push(("self_signup", "on".into()));
        }
        f
    };
    let as_refs = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    let post = |path: &str, f: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        owner.post(path, &refs)
    };
    let bad = post(
        "/admin/settings/sso",
        as_refs(&fields("not a domain!", false)),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a domain name"), "{}", bad.body);
    assert!(
        !bad.body.contains(CLIENT_SECRET),
        "the typed secret is not echoed"
    );
    assert_eq!(
        post(
            "/admin/settings/sso",
            as_refs(&fields("example.com", false))
        )
        .status,
        303
    );
    let listed = owner.get("/admin/settings/sso");
    assert!(
        listed.body.contains("Sign in with Example SSO") && !listed.body.contains(CLIENT_SECRET)
    );
    let id = listed
        .body
        .split("/admin/settings/sso/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();

    // The login page shows the Sign-In Message as the provider's button.
    let login = get(&format!("{}/admin/login", server.base), None);
    assert!(
        login.body.contains(&format!("/admin/sso/{id}/start"))
            && login.body.contains("Sign in with Example SSO")
    );

    // No account and no self-service sign-up: refused.
    idp.next(Next::user("ada@example.com"));
    refused_with(
        &sign_in_via(&server, &id),
        "there is no Roster account for ada@example.com",
    );

    // With an account (invited by an Owner), the same sign-in works.
    ok(
        &data,
        &[
            "admin",
            "invite",
            "--username",
            "ada@example.com",
            "--role",
            "admin",
        ],
    );
    idp.next(Next::user("ada@example.com"));
    let first = sign_in_via(&server, &id);
    let session = signed_in(&server, &first);
    assert!(first.callback.body.contains("url=/admin/tenants"));
    // The state is spent: the same callback again is refused.
    let replay = request(
        "GET",
        &first.callback_url,
        &[("Cookie", &first.flow_cookie)],
        None,
    );
    assert_eq!(replay.status, 403);
    assert!(replay.body.contains("expired or was already used"));
    // The session carries Ada's role: an Admin cannot rotate keys.
    let forbidden = request(
        "POST",
        &format!("{}/admin/settings/keys/rotate", server.base),
        &[FORM, ("Cookie", &session)],
        Some("csrf=x"),
    );
    assert_eq!(forbidden.status, 403);

    // Every bad answer is refused.
    let cases: Vec<(Next, &str)> = vec![
        (
            Next {
                signing_key: "oidc-other-key.der",
                ..Next::user("ada@example.com")
            },
            "did not verify",
        ),
        (
            Next {
                audience: "someone-else".into(),
                ..Next::user("ada@example.com")
            },
            "did not verify",
        ),
        (
            Next {
                expired: true,
                ..Next::user("ada@example.com")
            },
            "did not verify",
        ),
        (
            Next {
                nonce: Some("forged".into()),
                ..Next::user("ada@example.com")
            },
            "nonce mismatch",
        ),
        (Next::user("eve@evil.test"), "is not in a domain allowed"),
        (
            Next {
                email_verified: json!(false),
                ..Next::user("ada@example.com")
            },
            "has not verified",
        ),
    ];
    for (next, why) in cases {
        idp.next(next);
        refused_with(&sign_in_via(&server, &id), why);
    }
    // A callback without its state, or from a browser that did not start it.
    let missing = request(
        "GET",
        &format!("{}/admin/sso/callback?code=x", server.base),
        &[],
        None,
    );
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("expired or was already used"));
    idp.next(Next::user("ada@example.com"));
    let start = get(&format!("{}/admin/sso/{id}/start", server.base), None);
    let back = get(start.header("location").unwrap(), None);
    let stolen = request(
        "GET",
        back.header("location").unwrap(),
        &[("Cookie", "roster_sso=another-browser")],
        None,
    );
    assert_eq!(stolen.status, 403, "{}", stolen.body);

    // Self-Service Sign-Up on: a first sign-in creates a Viewer (the stored secret is kept).
    let mut edit = fields("example.com, example.org", true);
    edit.retain(|(k, _)| *k != "client_secret");
    assert_eq!(post(&format!("/admin/settings/sso/{id}"), edit).status, 303);
    idp.next(Next::user("bob@example.org"));
    let bob = sign_in_via(&server, &id);
    let bob_session = signed_in(&server, &bob);
    let admins = ok(&data, &["admin", "list"]);
    assert!(
        admins.lines().any(|l| l.starts_with("bob@example.org")
            && l.contains("viewer")
            && l.contains("sso only")),
        "{admins}"
    );
    let viewer_page = request(
        "GET",
        &format!("{}/admin/tenants", server.base),
        &[("Cookie", &bob_session)],
        None,
    );
    assert!(viewer_page.body.contains("Read-only access"));
    // Bob has no password: the password form does not open his account.
    let pw = request(
        "POST",
        &format!("{}/admin/login", server.base),
        &[FORM],
        Some("username=bob@example.org&password="),
    );
    assert_eq!(pw.status, 401);

    // The client secret is sealed and re-sealed by key rotation; sign-in still works.
    ok(&data, &["keys", "rotate"]);
    assert!(ok(&data, &["check"]).starts_with("ok:"));
    idp.next(Next::user("ada@example.com"));
    signed_in(&server, &sign_in_via(&server, &id));

    // Audited, without the secret.
    let audit = ok(&data, &["audit", "--limit", "300"]);
    assert!(
        audit.contains("sso.created") && audit.contains("sso.updated"),
        "{audit}"
    );
    assert!(audit.contains(&format!("by sso:{id}")), "{audit}");
    assert!(audit.contains("admin.login_failed"), "{audit}");
    assert!(!audit.contains(CLIENT_SECRET) && !server.log_text().contains(CLIENT_SECRET));
    let raw = std::fs::read(data.join("roster.redb")).unwrap();
    assert!(
        !raw.windows(CLIENT_SECRET.len())
            .any(|w| w == CLIENT_SECRET.as_bytes()),
        "the secret is sealed at rest"
    );

    // Deleting the provider removes its button; a Viewer cannot add one back.
    assert_eq!(
        owner
            .post(&format!("/admin/settings/sso/{id}/delete"), &[])
            .status,
        303
    );
    assert!(
        !get(&format!("{}/admin/login", server.base), None)
            .body
            .contains("/admin/sso/")
    );
}

#[test]
fn admins_sign_in_through_plain_oauth2_with_the_email_from_userinfo() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let idp = Provider::start();
    let owner = Console::sign_in(&server, "olive");
    let page = owner.get("/admin/settings/sso?add=1");
    assert!(
        page.body
            .contains(r#"<option value="oauth">OAuth 2.0</option>"#),
        "OAuth 2.0 is selectable: {}",
        page.body
    );
    let fields = |claim: &str, token_url: String| {
        vec![
            ("auth_type", "oauth".to_string()),
            ("authorization_url", format!("{}/authorize", idp.base)),
            ("token_url", token_url),
            ("userinfo_url", format!("{}/userinfo", idp.base)),
            ("email_claim", claim.to_string()),
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", CLIENT_SECRET.to_string()),
            ("scopes", "email profile".to_string()),
            ("sign_in_message", "Sign in with Example OAuth".to_string()),
            ("allowed_domains", "example.com".to_string()),
            ("self_signup", "on".to_string()),
        ]
    };
    let post = |path: &str, f: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        owner.post(path, &refs)
    };
    // Refused forms say what is wrong and keep the typed fields.
    let no_token_url = post("/admin/settings/sso", fields("email", String::new()));
    assert_eq!(no_token_url.status, 400);
    assert!(
        no_token_url.body.contains("the Token URL is"),
        "{}",
        no_token_url.body
    );
    assert!(
        no_token_url
            .body
            .contains(&format!("{}/userinfo", idp.base))
    );
    let bad_claim = post(
        "/admin/settings/sso",
        fields("e mail", format!("{}/token", idp.base)),
    );
    assert_eq!(bad_claim.status, 400);
    assert!(
        bad_claim.body.contains("the Email Claim is"),
        "{}",
        bad_claim.body
    );
    let mut saml = fields("email", format!("{}/token", idp.base));
    saml[0].1 = "saml".into();
    let saml = post("/admin/settings/sso", saml);
    assert_eq!(saml.status, 400);
    assert!(
        saml.body.contains("SAML 2.0 is not available yet"),
        "{}",
        saml.body
    );
    assert!(ok(&data, &["admin", "list"]).lines().count() <= 2);

    assert_eq!(
        post(
            "/admin/settings/sso",
            fields("email", format!("{}/token", idp.base))
        )
        .status,
        303
    );
    let listed = owner.get("/admin/settings/sso");
    assert!(
        listed.body.contains("OAuth 2.0")
            && listed.body.contains(&format!("{}/userinfo", idp.base))
    );
    let id = listed
        .body
        .split("/admin/settings/sso/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();

    // Self-service sign-up through OAuth: a Viewer named by the userinfo email.
    idp.next(Next::user("bob@example.com"));
    let bob = sign_in_via(&server, &id);
    signed_in(&server, &bob);
    let asked = idp.state.lock().unwrap().last_authorize.clone();
    assert_eq!(
        asked.get("scope").map(String::as_str),
        Some("email profile")
    );
    assert!(!asked.contains_key("nonce"), "no nonce without an ID token");
    assert!(asked.contains_key("code_challenge"));
    let admins = ok(&data, &["admin", "list"]);
    assert!(
        admins
            .lines()
            .any(|l| l.starts_with("bob@example.com") && l.contains("viewer")),
        "{admins}"
    );

    // Refused: another domain, an unverified email, no email, a userinfo refusal.
    let cases: Vec<(Next, &str)> = vec![
        (Next::user("eve@evil.test"), "is not in a domain allowed"),
        (
            Next {
                email_verified: json!(false),
                ..Next::user("bob@example.com")
            },
            "has not verified",
        ),
        (Next::user(""), "sent no email"),
        (
            Next {
                userinfo_refuses: true,
                ..Next::user("bob@example.com")
            },
            "the userinfo URL answered 401",
        ),
    ];
    for (next, why) in cases {
        idp.next(next);
        refused_with(&sign_in_via(&server, &id), why);
    }

    // The Email Claim chooses the claim: a dotted path reaches into objects.
    let mut edit = fields("profile.mail", format!("{}/token", idp.base));
    edit.retain(|(k, _)| *k != "client_secret");
    assert_eq!(post(&format!("/admin/settings/sso/{id}"), edit).status, 303);
    idp.next(Next::user("carol@example.com"));
    signed_in(&server, &sign_in_via(&server, &id));
    assert!(
        ok(&data, &["admin", "list"])
            .lines()
            .any(|l| l.starts_with("carol.work@example.com")),
    );

    // The provider and its sealed secret outlive a restart.
    let server = server.restart();
    idp.next(Next::user("bob@example.com"));
    signed_in(&server, &sign_in_via(&server, &id));
    let audit = ok(&data, &["audit", "--limit", "300"]);
    assert!(audit.contains("OAuth 2.0 authorization URL"), "{audit}");
    assert!(!audit.contains(CLIENT_SECRET) && !server.log_text().contains(CLIENT_SECRET));
    let tokens: Vec<String> = idp.state.lock().unwrap().tokens.keys().cloned().collect();
    assert!(!tokens.is_empty());
    for token in tokens {
        assert!(!server.log_text().contains(&token) && !audit.contains(&token));
    }
}
