// End-to-end console test in headless Chromium, as an admin would use it.
// Usage: node console.mjs <base-url> <setup-url> <artifact-dir>
// Exits non-zero on the first failed expectation; screenshots go to <artifact-dir>.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createHash, createPrivateKey, sign } from "node:crypto";
import http from "node:http";
import { chromium } from "playwright-core";

const [base, setupUrl, artifacts] = process.argv.slice(2);
// A fresh folder: a screenshot left by an earlier run proves nothing.
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
const page = await context.newPage();
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));

let shot = 0;
const snap = async (name) => {
  shot += 1;
  await page.screenshot({ path: `${artifacts}/${String(shot).padStart(2, "0")}-${name}.png`, fullPage: true });
};
const step = (name) => console.log(`step: ${name}`);
const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
// Clicks a copy control and returns the clipboard once it has changed.
const copyVia = async (locator) => {
  await page.locator("#toast").waitFor({ state: "hidden" });
  const before = await clipboard().catch(() => "");
  await locator.click();
  await page.locator("#toast", { hasText: "Copied to Clipboard" }).waitFor({ state: "visible" });
  for (let i = 0; i < 50; i += 1) {
    const now = await clipboard();
    if (now !== before) return now;
    await page.waitForTimeout(50);
  }
  return clipboard();
};
const scim = async (method, path, auth, body) => {
  const res = await fetch(`${base}/scim/v2/acme-hr${path}`, {
    method,
    headers: { Authorization: auth, "Content-Type": "application/scim+json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.status;
};
// A small OpenID provider for the SSO step: discovery, JWKS, authorize, and
// a token endpoint that checks PKCE and signs RS256 ID tokens with the test key.
const startIdp = async () => {
  const fixtures = new URL("../fixtures/", import.meta.url);
  const key = createPrivateKey({ key: readFileSync(new URL("oidc-test-key.der", fixtures)), format: "der", type: "pkcs1" });
  const jwks = readFileSync(new URL("oidc-test-jwks.json", fixtures), "utf8");
  const codes = new Map();
  let issued = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://idp");
    const json = (status, body) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    const self = `http://127.0.0.1:${server.address().port}`;
    if (url.pathname === "/.well-known/openid-configuration") {
      return json(200, { issuer: self, authorization_endpoint: `${self}/authorize`, token_endpoint: `${self}/token`, jwks_uri: `${self}/jwks` });
    }
    if (url.pathname === "/jwks") return json(200, jwks);
    if (url.pathname === "/authorize") {
      const q = url.searchParams;
      const code = `code-${Math.random().toString(36).slice(2)}`;
      codes.set(code, { nonce: q.get("nonce"), challenge: q.get("code_challenge"), redirect: q.get("redirect_uri") });
      res.writeHead(302, { Location: `${q.get("redirect_uri")}?code=${code}&state=${encodeURIComponent(q.get("state"))}` });
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      let body = "";
      req.on("data", (c) => { body += c; });
      req.on("end", () => {
        const f = new URLSearchParams(body);
        const grant = codes.get(f.get("code"));
        codes.delete(f.get("code"));
        const challenge = createHash("sha256").update(f.get("code_verifier") || "").digest("base64url");
        if (!grant || grant.challenge !== challenge || req.headers.authorization !== basic("roster-console", "browser-idp-secret-77")) {
          return json(400, { error: "invalid_grant" });
        }
        const now = Math.floor(Date.now() / 1000);
        const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
        const signing = `${part({ alg: "RS256", kid: "test-key-1", typ: "JWT" })}.${part({
          iss: self, sub: "viewer-1", aud: "roster-console", iat: now, exp: now + 300, nonce: grant.nonce,
          email: "sso.viewer@example.com", email_verified: true,
        })}`;
        const signature = sign("sha256", Buffer.from(signing), key).toString("base64url");
        issued += 1;
        json(200, { access_token: "at", token_type: "Bearer", expires_in: 300, id_token: `${signing}.${signature}` });
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { base: `http://127.0.0.1:${server.address().port}`, tokens: () => issued, close: () => server.close() };
};
const basic = (id, secret) => "Basic " + Buffer.from(`${id}:${secret}`).toString("base64");
const password = "correct-horse-battery-staple";

try {
  step("first-run setup");
  await page.goto(setupUrl);
  await snap("setup");
  await page.fill("#f-username", "admin");
  await page.fill("#f-password", password);
  await page.fill("#f-confirm", "something-else-entirely");
  await page.click("button[type=submit]");
  await page.locator(".field-error", { hasText: "do not match" }).waitFor();
  assert.equal(await page.inputValue("#f-username"), "admin", "typed username kept after a validation error");
  await page.fill("#f-password", password);
  await page.fill("#f-confirm", password);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/admin/tenants`);
  await snap("tenants-empty");

  step("logout and login");
  await page.click("form.logout button");
  await page.waitForURL(`${base}/admin/login`);
  await page.fill("#f-username", "admin");
  await page.fill("#f-password", "wrong-password-123");
  await page.click("button[type=submit]");
  await page.locator(".form-error", { hasText: "Wrong username or password" }).waitFor();
  await snap("login-error");
  await page.fill("#f-password", password);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/admin/tenants`);

  step("add tenant");
  await page.fill("#f-name", "Acme HR");
  await page.selectOption("#f-idp", "okta");
  await page.getByRole("button", { name: "Add tenant" }).click();
  await page.waitForURL(`${base}/admin/tenants/acme-hr/scim`);
  await page.getByRole("button", { name: "Activate SCIM" }).waitFor();
  await snap("scim-inactive");

  step("activate SCIM");
  await page.getByRole("button", { name: "Activate SCIM" }).click();
  await page.getByRole("button", { name: "Deactivate SCIM" }).waitFor();
  const endpoint = await page.inputValue("#endpoint");
  assert.equal(endpoint, `${base}/scim/v2/acme-hr`);
  const clientId = await page.inputValue("#client-id");
  assert.equal(clientId, "roster_scim_acme-hr");

  step("generate token and copy it from the dialog");
  await page.getByRole("button", { name: "Generate token" }).click();
  await page.locator("#token-confirm").getByRole("button", { name: "Generate token" }).click();
  const dialog = page.locator("#token-dialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /will not be shown again/);
  const token = await page.inputValue("#new-token");
  assert.match(token, /^rst_[0-9A-Za-z]{43}$/);
  assert.equal(await copyVia(dialog.getByRole("button", { name: "Copy token" })), token);
  await snap("token-dialog");
  await dialog.getByRole("button", { name: "Done" }).click();

  step("provision a user over SCIM with that token");
  const created = await scim("POST", "/Users", `Bearer ${token}`, {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
    userName: "test.user@okta.local",
    name: { givenName: "Test", familyName: "User" },
    emails: [{ primary: true, value: "test.user@okta.local", type: "work" }],
    displayName: "Test User", active: true,
  });
  assert.equal(created, 201);

  step("see the user in the console");
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByRole("link", { name: "test.user@okta.local" }).waitFor();
  await snap("users");
  await page.fill("#q", "active eq true");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: "test.user@okta.local" }).click();
  await page.getByRole("heading", { name: /test.user@okta.local/ }).waitFor();
  assert.match(await page.textContent("main"), /User created/);
  await page.getByRole("button", { name: "Deactivate user" }).click();
  await page.getByRole("button", { name: "Reactivate user" }).waitFor();
  assert.match(await page.textContent("main"), /Deactivated/);
  assert.match(await page.textContent("main"), /User deactivated/);
  await snap("user-detail");

  step("regenerate the token: the old one is refused");
  await page.getByRole("link", { name: "SCIM" }).click();
  await page.getByRole("button", { name: "Generate new token" }).click();
  assert.match(await page.textContent("#token-confirm"), /invalidates the current one/);
  await page.locator("#token-confirm").getByRole("button", { name: "Generate new token" }).click();
  const token2 = await page.inputValue("#new-token");
  assert.notEqual(token2, token);
  await page.locator("#token-dialog").getByRole("button", { name: "Done" }).click();
  assert.equal(await scim("GET", "/Users", `Bearer ${token}`), 401);
  assert.equal(await scim("GET", "/Users", `Bearer ${token2}`), 200);

  step("copy icon: tooltip and confirmation");
  const copyEndpoint = page.getByRole("button", { name: "Copy SCIM API Endpoint" });
  await copyEndpoint.hover();
  assert.equal(await copyEndpoint.getAttribute("data-tooltip"), "Copy");
  await snap("copy-tooltip");
  assert.equal(await copyVia(copyEndpoint), endpoint);

  step("reveal the secret with the eye icon");
  const secretInput = page.locator("#secret");
  assert.equal(await secretInput.getAttribute("type"), "password");
  assert.doesNotMatch(await secretInput.inputValue(), /^[0-9A-Za-z]{43}$/);
  await page.getByRole("button", { name: "Show or hide the Secret Key" }).click();
  await page.waitForFunction(() => document.querySelector("#secret").type === "text");
  const secret = await secretInput.inputValue();
  assert.match(secret, /^[0-9A-Za-z]{43}$/);
  assert.equal(await scim("GET", "/Users", basic(clientId, secret)), 200);
  await snap("secret-revealed");
  await page.getByRole("button", { name: "Show or hide the Secret Key" }).click();
  assert.equal(await secretInput.getAttribute("type"), "password");

  step("copy SCIM connectivity details");
  const details = await copyVia(page.getByRole("button", { name: "Copy SCIM Connectivity Details" }));
  assert.ok(details.includes(endpoint) && details.includes(clientId) && details.includes(secret), details);

  step("edit the secret inline");
  await page.getByRole("button", { name: "Edit the Secret Key" }).click();
  const save = page.getByRole("button", { name: "Save Changes" });
  await save.waitFor();
  assert.equal(await save.isDisabled(), true, "Save Changes is disabled until an edit");
  await page.getByRole("button", { name: "Cancel" }).waitFor();
  await secretInput.fill("short");
  assert.equal(await save.isDisabled(), false);
  await save.click();
  await page.locator("#secret-error").waitFor();
  assert.equal(await secretInput.inputValue(), "short", "the typed value is kept on error");
  await snap("secret-error");
  const newSecret = "an-admin-chosen-secret-0123456789";
  await secretInput.fill(newSecret);
  await save.click();
  await page.locator(".notice", { hasText: "Secret Key saved" }).waitFor();
  assert.equal(await scim("GET", "/Users", basic(clientId, newSecret)), 200);
  assert.equal(await scim("GET", "/Users", basic(clientId, secret)), 401);

  step("identity provider tab");
  await page.getByRole("link", { name: "Identity provider" }).click();
  assert.match(await page.textContent("main"), /SCIM connector base URL/);
  assert.match(await page.textContent("main"), /Test Connector Configuration/);
  await page.selectOption("#idp", "entra");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: "Set up Microsoft Entra ID" }).waitFor();
  assert.match(await page.textContent("main"), /Tenant URL/);
  assert.match(await page.textContent("table.mapping"), /userPrincipalName/);
  await snap("idp");

  step("deactivate SCIM: requests refused, credentials kept");
  await page.getByRole("link", { name: "SCIM" }).click();
  await page.getByRole("button", { name: "Deactivate SCIM" }).click();
  await page.getByRole("button", { name: "Activate SCIM" }).waitFor();
  assert.equal(await page.inputValue("#client-id"), clientId);
  assert.equal(await scim("GET", "/Users", `Bearer ${token2}`), 403);
  await snap("scim-deactivated");

  step("open api configuration: an API client, its secret shown once");
  await page.getByRole("link", { name: "Integration Configuration" }).click();
  await page.getByRole("heading", { name: "Open API Configuration" }).waitFor();
  await page.fill("#f-name", "HR portal");
  await page.getByRole("button", { name: "Create client" }).click();
  const once = page.locator("#secret-dialog");
  await once.waitFor();
  assert.match(await once.textContent(), /will not be shown again/);
  const appId = await page.inputValue("#once-id");
  const appSecret = await page.inputValue("#once-secret");
  assert.equal(await page.locator("#once-secret").getAttribute("type"), "password");
  await once.getByRole("button", { name: "Show or hide the Client Secret Key" }).click();
  await page.waitForFunction(() => document.querySelector("#once-secret").type === "text");
  assert.equal(await copyVia(once.getByRole("button", { name: "Copy Client Secret Key" })), appSecret);
  await snap("api-client-created");
  await once.getByRole("button", { name: "Done" }).click();
  const tokenRes = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { Authorization: basic(appId, appSecret), "Content-Type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  assert.equal(tokenRes.status, 200);
  const { access_token: appToken } = await tokenRes.json();
  const users = await fetch(`${base}/api/v1/users`, { headers: { Authorization: `Bearer ${appToken}` } });
  assert.equal(users.status, 200);
  assert.match(JSON.stringify(await users.json()), /test.user@okta.local/);

  step("open api configuration: Edit, Cancel, Save");
  await page.getByRole("link", { name: "Edit HR portal" }).click();
  await page.getByRole("link", { name: "Cancel" }).waitFor();
  await page.fill("#f-name", "HR directory");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator(".notice", { hasText: "Saved HR directory." }).waitFor();
  await snap("api-client-saved");

  step("api reference");
  await page.getByRole("link", { name: "API reference" }).first().click();
  await page.getByRole("heading", { name: "GET /api/v1/users/{id}/permissions" }).waitFor();

  step("rotate encryption keys");
  await page.getByRole("link", { name: "Rotate Encryption Keys" }).click();
  assert.equal((await page.textContent("#last-rotated")).trim(), "never");
  await page.getByRole("button", { name: "Rotate Encryption Key" }).click();
  await page.locator("#rotate-confirm").getByRole("button", { name: "Rotate Encryption Key" }).click();
  await page.locator(".notice", { hasText: /re-encrypted/ }).waitFor();
  assert.match(await page.textContent(".notice"), /1 secret\(s\) re-encrypted/);
  assert.notEqual((await page.textContent("#last-rotated")).trim(), "never");
  await snap("keys-rotated");

  step("provisioning log");
  await page.goto(`${base}/admin/tenants/acme-hr/log`);
  await page.locator("li.log-row").first().waitFor();
  await page.selectOption("#status", "errors");
  await page.getByRole("button", { name: "Filter" }).click();
  const errorRows = page.locator("li.log-row.error");
  assert.ok(await errorRows.count() >= 2, "the refused requests are listed");
  await errorRows.first().locator("summary").click();
  assert.match(await errorRows.first().textContent(), /Response status/);
  assert.doesNotMatch(await page.textContent("main"), new RegExp(token2));
  await snap("provisioning-log");

  step("single sign-on: add an OpenID Connect provider, sign in through it");
  const idp = await startIdp();
  await page.goto(`${base}/admin/settings/sso`);
  await page.getByRole("link", { name: "Add New" }).click();
  // The Auth Type shows its own fields: OAuth 2.0 asks for its URLs, OpenID Connect for the issuer.
  assert.equal(await page.isVisible("#f-token_url"), false);
  await page.selectOption("#f-auth-type", "oauth");
  assert.equal(await page.isVisible("#f-token_url"), true);
  assert.equal(await page.isVisible("#f-issuer"), false);
  await page.selectOption("#f-auth-type", "oidc");
  await page.fill("#f-issuer", idp.base);
  await page.fill("#f-client_id", "roster-console");
  await page.fill("#f-client_secret", "browser-idp-secret-77");
  await page.fill("#f-sign_in_message", "Sign in with Example SSO");
  await page.fill("#f-allowed_domains", "example.com");
  assert.equal(await page.inputValue("#callback"), `${base}/admin/sso/callback`);
  await page.check("input[name=self_signup]");
  await snap("sso-add");
  await page.getByRole("button", { name: "Done" }).click();
  await page.getByRole("heading", { name: "Sign in with Example SSO" }).waitFor();
  await page.click("form.logout button");
  await page.waitForURL(`${base}/admin/login`);
  await page.getByRole("link", { name: "Sign in with Example SSO" }).click();
  await page.waitForURL(`${base}/admin/tenants`);
  assert.match(await page.textContent("header"), /sso\.viewer@example\.com/);
  assert.match(await page.textContent("main"), /Read-only access/);
  assert.ok(idp.tokens() >= 1, "the provider issued an ID token");
  await snap("sso-signed-in");
  idp.close();

  step("narrow screen");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/admin/tenants/acme-hr/scim`);
  await snap("scim-390px");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no horizontal scrolling at 390px (overflow ${overflow}px)`);

  // Form validation answers 400/401 on purpose; anything else is a defect.
  const unexpected = consoleErrors.filter((e) => !/status of 40[01]/.test(e));
  assert.deepEqual(unexpected, [], "no script, CSP or missing-resource errors in the page");
  console.log(`ok: console end to end, ${shot} screenshots in ${artifacts}`);
} catch (err) {
  await snap("failure").catch(() => {});
  console.error(err);
  process.exitCode = 1;
} finally {
  await browser.close();
}
