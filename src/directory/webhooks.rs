//! Webhook endpoints of a tenant and the delivery of its change feed to them.
//!
//! Each endpoint has a cursor into the feed: the dispatcher (`outbound/`)
//! calls `deliver_next`, which POSTs the first event after the cursor that the
//! endpoint subscribes to and records the outcome in one write (cursor moved
//! on a 2xx; otherwise the failure count and when to try again). Delivery is
//! therefore at least once and in feed order per endpoint, and retries
//! survive a restart. Past the retry schedule the endpoint is disabled with a
//! reason the console shows. Messages are signed per Standard Webhooks with
//! the endpoint's `whsec_` secret, sealed at rest like every secret.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zeroize::Zeroizing;

use super::events::{EVENT_TYPES, event_cursor, event_json, event_type, pruned_through};
use super::{Directory, DirectoryError, audit_row};
use crate::crypto::SealContext;
use crate::crypto::token::random_id;
use crate::crypto::webhook::{generate_webhook_secret, webhook_signature};
pub use crate::store::records::{DeliveryRecord, WebhookRecord};

/// Delivery rows kept per tenant (the newest).
const KEEP_DELIVERIES: u64 = 1000;
/// Endpoints a tenant may have.
const MAX_WEBHOOKS: usize = 20;
/// Longest accepted endpoint URL.
const MAX_URL_LEN: usize = 2048;
/// Events read per step while passing over ones an endpoint does not take.
const SCAN_BATCH: usize = 256;
/// The type of the message "Send test event" sends.
pub const TEST_EVENT: &str = "webhook.test";

/// Sends one signed message; implemented by `outbound/` over HTTP(S).
pub trait WebhookTransport: Send + Sync {
    /// POSTs `body` with `headers` to `url`: the status and the start of the
    /// answer, or why no answer came (refused address, timeout, ...).
    fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, String), String>;
}

/// An endpoint just created: its secret is shown once.
pub struct NewWebhook {
    /// The stored endpoint.
    pub record: WebhookRecord,
    /// The signing secret (`whsec_…`).
    pub secret: Zeroizing<String>,
}

/// What one delivery step did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeliveryStep {
    /// An event was delivered (a 2xx): there may be more.
    Delivered,
    /// The attempt failed; the next is scheduled (or the endpoint disabled).
    Failed,
    /// Nothing to send now (caught up, disabled, not due, or gone).
    Idle,
}

fn secret_context(tenant: u64, id: &str) -> SealContext<'static> {
    SealContext {
        table: "webhooks",
        record: format!("{tenant}/{id}"),
        field: "secret",
    }
}

/// Where a webhook's secret is bound (for key rotation and the check).
pub(crate) fn webhook_secret_context(hook: &WebhookRecord) -> SealContext<'static> {
    secret_context(hook.tenant, &hook.id)
}

/// Checks an endpoint URL: absolute http(s), a host, no credentials in it.
pub fn validate_url(raw: &str) -> Result<String, DirectoryError> {
    let url = raw.trim();
    let bad = |why: &str| DirectoryError::Invalid(format!("webhook URL {why}"));
    if url.len() > MAX_URL_LEN {
        return Err(bad("is too long (at most 2048 characters)"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("must not carry a user name or password"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(bad(
            "needs a host, as in https://apps.example.com/hooks/roster",
        ));
    }
    if let Some(port) = authority.rsplit_once("]:").map(|(_, p)| p).or_else(|| {
        (!authority.starts_with('[')).then(|| authority.split_once(':').map(|(_, p)| p))?
    }) && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad("has an invalid port"));
    }
    Ok(url.to_string())
}

/// The URL without its query or fragment (which may hold a receiver's token):
/// what audit rows and logs name.
pub fn url_for_display(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Checks a list of event types (comma- or space-separated); empty or `*`: all.
pub fn parse_event_types(text: &str) -> Result<Vec<String>, DirectoryError> {
    let mut types: Vec<String> = Vec::new();
    for t in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if t == "*" {
            return Ok(Vec::new());
        }
        if !EVENT_TYPES.contains(&t) {
            return Err(DirectoryError::Invalid(format!(
                "unknown event type {t:?}: the types are {}",
                EVENT_TYPES.join(", ")
            )));
        }
        if !types.iter().any(|x| x == t) {
            types.push(t.to_string());
        }
    }
    Ok(types)
}

fn takes(hook: &WebhookRecord, event_type: &str) -> bool {
    hook.event_types.is_empty() || hook.event_types.iter().any(|t| t == event_type)
}

/// Standard Webhooks headers of one attempt.
fn signed_headers(
    secret: &str,
    message_id: &str,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, DirectoryError> {
    let timestamp = crate::now_unix();
    let signature = webhook_signature(secret, message_id, timestamp, body)
        .ok_or_else(|| DirectoryError::Internal("a webhook secret is malformed".into()))?;
    Ok(vec![
        ("content-type", "application/json".into()),
        ("webhook-id", message_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ])
}

/// The answer's start as the delivery log shows it: printable, at most 256 bytes.
fn excerpt_of(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if out.len() + c.len_utf8() > 256 {
            break;
        }
        out.push(c);
    }
    out
}

impl Directory {
    /// Lets the directory deliver webhooks (set once by the server at start).
    pub fn install_webhook_transport(&self, transport: Arc<dyn WebhookTransport>) {
        let _ = self.webhook_transport.set(transport);
    }

    fn transport(&self) -> Result<&Arc<dyn WebhookTransport>, DirectoryError> {
        self.webhook_transport.get().ok_or_else(|| {
            DirectoryError::Invalid(
                "webhooks are delivered by the running server: start `roster serve` first".into(),
            )
        })
    }

    /// Adds an endpoint. Deliveries start with the next event (not the past ones).
    pub fn create_webhook(
        &self,
        slug: &str,
        url: &str,
        event_types: &str,
        actor: &str,
    ) -> Result<NewWebhook, DirectoryError> {
        let url = validate_url(url)?;
        let event_types = parse_event_types(event_types)?;
        let secret = generate_webhook_secret();
        let id = format!("wh_{}", random_id());
        let keys = self.keys_read();
        let record = self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            if tx.view().webhooks(Some(tenant.id))?.len() >= MAX_WEBHOOKS {
                return Err(DirectoryError::Conflict(format!(
                    "tenant {slug} already has {MAX_WEBHOOKS} webhook endpoints"
                )));
            }
            let record = WebhookRecord {
                tenant: tenant.id,
                id: id.clone(),
                url: url.clone(),
                event_types: event_types.clone(),
                enabled: true,
                sealed_secret: keys
                    .ring
                    .seal(&secret_context(tenant.id, &id), secret.as_bytes())?,
                created: crate::now_unix(),
                cursor: tx.view().last_event_seq(tenant.id)?,
                failures: 0,
                next_attempt_ms: 0,
                disabled_reason: None,
            };
            tx.put_webhook(&record)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "webhook.created",
                Some(format!(
                    "endpoint {id} {}; events {}",
                    url_for_display(&url),
                    if event_types.is_empty() {
                        "all".to_string()
                    } else {
                        event_types.join(" ")
                    }
                )),
            ))?;
            Ok::<_, DirectoryError>(record)
        })?;
        Ok(NewWebhook { record, secret })
    }

    /// A tenant's endpoints (never their secrets).
    pub fn webhooks(&self, slug: &str) -> Result<Vec<WebhookRecord>, DirectoryError> {
        let view = self.store.read()?;
        let tenant = view
            .tenant_by_slug(slug)?
            .ok_or_else(|| super::no_such_tenant(slug))?;
        Ok(view.webhooks(Some(tenant.id))?)
    }

    /// One endpoint of a tenant.
    pub fn webhook(&self, slug: &str, id: &str) -> Result<WebhookRecord, DirectoryError> {
        let view = self.store.read()?;
        let tenant = view
            .tenant_by_slug(slug)?
            .ok_or_else(|| super::no_such_tenant(slug))?;
        view.webhook(tenant.id, id)?
            .ok_or_else(|| no_such_webhook(id))
    }

    /// Removes an endpoint and its delivery log.
    pub fn remove_webhook(&self, slug: &str, id: &str, actor: &str) -> Result<(), DirectoryError> {
        self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let hook = tx
                .view()
                .webhook(tenant.id, id)?
                .ok_or_else(|| no_such_webhook(id))?;
            tx.delete_webhook(tenant.id, id)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "webhook.removed",
                Some(format!("endpoint {id} {}", url_for_display(&hook.url))),
            ))?;
            Ok(())
        })
    }

    /// Turns deliveries on or off. Turning on (also "Retry") clears the
    /// failure count and tries the pending event at once.
    pub fn set_webhook_enabled(
        &self,
        slug: &str,
        id: &str,
        enabled: bool,
        actor: &str,
    ) -> Result<WebhookRecord, DirectoryError> {
        self.store.write(|tx| {
            let tenant = super::tenant_in(tx, slug)?;
            let mut hook = tx
                .view()
                .webhook(tenant.id, id)?
                .ok_or_else(|| no_such_webhook(id))?;
            hook.enabled = enabled;
            if enabled {
                hook.failures = 0;
                hook.next_attempt_ms = 0;
                hook.disabled_reason = None;
            }
            tx.put_webhook(&hook)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                if enabled {
                    "webhook.enabled"
                } else {
                    "webhook.disabled"
                },
                Some(format!("endpoint {id}")),
            ))?;
            Ok(hook)
        })
    }

    /// An endpoint's newest delivery attempts, newest first.
    pub fn webhook_deliveries(
        &self,
        slug: &str,
        id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, DirectoryError> {
        let hook = self.webhook(slug, id)?;
        Ok(self.store.read()?.deliveries(hook.tenant, id, limit)?)
    }

    fn webhook_secret(&self, hook: &WebhookRecord) -> Result<Zeroizing<String>, DirectoryError> {
        let plain = self
            .keys_read()
            .ring
            .open(&webhook_secret_context(hook), &hook.sealed_secret)?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| DirectoryError::Internal("a webhook secret is malformed".into()))
    }

    /// POSTs one signed message and measures it.
    fn attempt(
        &self,
        hook: &WebhookRecord,
        message_id: &str,
        body: &[u8],
    ) -> Result<Attempt, DirectoryError> {
        let transport = self.transport()?;
        let secret = self.webhook_secret(hook)?;
        let headers = signed_headers(&secret, message_id, body)?;
        let header_refs: Vec<(&str, String)> =
            headers.iter().map(|(k, v)| (*k, v.clone())).collect();
        let started_ms = super::scim::resources::now_ms();
        let clock = std::time::Instant::now();
        let outcome = transport.post(&hook.url, &header_refs, body);
        let latency_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, ok, excerpt) = match outcome {
            Ok((status, text)) => (
                Some(status),
                (200..300).contains(&status),
                excerpt_of(&text),
            ),
            Err(why) => (None, false, excerpt_of(&why)),
        };
        Ok(Attempt {
            started_ms,
            status,
            ok,
            latency_ms,
            excerpt,
        })
    }

    /// Sends a `webhook.test` message to an endpoint now (enabled or not) and
    /// logs it; the endpoint's cursor and failure count are not touched.
    pub fn send_test_webhook(
        &self,
        slug: &str,
        id: &str,
        actor: &str,
    ) -> Result<DeliveryRecord, DirectoryError> {
        let hook = self.webhook(slug, id)?;
        let message_id = format!("msg_test_{}", random_id());
        let now = crate::now_unix();
        let body = json!({
            "type": TEST_EVENT,
            "timestamp": crate::format_time(now),
            "data": {
                "id": message_id,
                "type": TEST_EVENT,
                "occurred_at": crate::format_time(now),
                "resource": {"type": "Webhook", "id": hook.id, "version": 0},
            },
        });
        let body =
            serde_json::to_vec(&body).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let attempt = self.attempt(&hook, &message_id, &body)?;
        let delivery = attempt.record(&hook.id, &message_id, TEST_EVENT, 1);
        self.store.write(|tx| {
            tx.append_delivery(hook.tenant, &delivery, KEEP_DELIVERIES)?;
            tx.append_audit(&audit_row(
                Some(hook.tenant),
                actor,
                "webhook.tested",
                Some(format!(
                    "endpoint {id}: {}",
                    delivery
                        .status
                        .map_or("no answer".to_string(), |s| s.to_string())
                )),
            ))?;
            Ok::<_, DirectoryError>(())
        })?;
        Ok(delivery)
    }

    /// Changes whenever a commit appended change events.
    pub fn event_generation(&self) -> u64 {
        self.store.event_generation()
    }

    /// Waits until `event_generation` differs from `seen` or `timeout` passes.
    pub fn wait_for_events(&self, seen: u64, timeout: Duration) -> u64 {
        self.store.wait_for_events(seen, timeout)
    }

    /// Endpoints with an attempt due now: enabled, not waiting out a backoff,
    /// and behind their tenant's feed.
    pub fn due_webhooks(&self) -> Result<Vec<(u64, String)>, DirectoryError> {
        let view = self.store.read()?;
        let now = super::scim::resources::now_ms();
        let mut due = Vec::new();
        let mut last_seq = std::collections::HashMap::new();
        for hook in view.webhooks(None)? {
            if !hook.enabled || hook.next_attempt_ms > now {
                continue;
            }
            let last = match last_seq.get(&hook.tenant) {
                Some(n) => *n,
                None => {
                    let n = view.last_event_seq(hook.tenant)?;
                    last_seq.insert(hook.tenant, n);
                    n
                }
            };
            if hook.cursor < last {
                due.push((hook.tenant, hook.id));
            }
        }
        Ok(due)
    }

    /// One delivery step of an endpoint: passes over events it does not take,
    /// POSTs the next one it does and records the outcome. Only one caller per
    /// endpoint at a time (the dispatcher's worker), which keeps the order.
    pub fn deliver_next(
        &self,
        tenant: u64,
        id: &str,
        retry_schedule: &[Duration],
    ) -> Result<DeliveryStep, DirectoryError> {
        let view = self.store.read()?;
        let Some(hook) = view.webhook(tenant, id)? else {
            return Ok(DeliveryStep::Idle);
        };
        if !hook.enabled || hook.next_attempt_ms > super::scim::resources::now_ms() {
            return Ok(DeliveryStep::Idle);
        }
        // Events retention removed before they went out are passed over.
        let mut cursor = hook.cursor.max(pruned_through(&view, tenant)?);
        let mut next = None;
        while next.is_none() {
            let batch = view.events(tenant, cursor, SCAN_BATCH)?;
            if batch.is_empty() {
                break;
            }
            for e in batch {
                if takes(&hook, &event_type(&e)) {
                    next = Some(e);
                    break;
                }
                cursor = e.seq;
            }
        }
        drop(view);
        if cursor != hook.cursor {
            self.store.write(|tx| {
                if let Some(mut h) = tx.view().webhook(tenant, id)?
                    && h.cursor == hook.cursor
                {
                    h.cursor = cursor;
                    tx.put_webhook(&h)?;
                }
                Ok::<_, DirectoryError>(())
            })?;
        }
        let Some(event) = next else {
            return Ok(DeliveryStep::Idle);
        };
        let message_id = event_cursor(event.seq);
        let kind = event_type(&event);
        let body = json!({
            "type": kind,
            "timestamp": crate::format_time(event.ts_ms / 1000),
            "data": event_json(&event),
        });
        let body =
            serde_json::to_vec(&body).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let attempt = self.attempt(&hook, &message_id, &body)?;
        let delivery = attempt.record(id, &message_id, &kind, hook.failures + 1);
        let ok = delivery.ok;
        self.store.write(|tx| {
            tx.append_delivery(tenant, &delivery, KEEP_DELIVERIES)?;
            let Some(mut h) = tx.view().webhook(tenant, id)? else {
                return Ok(());
            };
            if h.cursor > cursor {
                return Ok(());
            }
            if ok {
                h.cursor = event.seq;
                h.failures = 0;
                h.next_attempt_ms = 0;
            } else {
                h.failures = h.failures.saturating_add(1);
                match retry_schedule.get(h.failures as usize - 1) {
                    Some(wait) => {
                        h.next_attempt_ms = delivery.ts_ms.saturating_add(
                            i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
                        );
                    }
                    None => {
                        h.enabled = false;
                        let reason = format!(
                            "disabled after {} failed attempts to deliver {message_id} ({kind}); last: {}",
                            h.failures,
                            delivery.status.map_or_else(
                                || delivery.excerpt.clone(),
                                |s| format!("HTTP {s}")
                            )
                        );
                        tx.append_audit(&audit_row(
                            Some(tenant),
                            "webhooks",
                            "webhook.auto_disabled",
                            Some(format!("endpoint {id}: {reason}")),
                        ))?;
                        h.disabled_reason = Some(reason);
                    }
                }
            }
            tx.put_webhook(&h)?;
            Ok::<_, DirectoryError>(())
        })?;
        Ok(if ok {
            DeliveryStep::Delivered
        } else {
            DeliveryStep::Failed
        })
    }
}

struct Attempt {
    started_ms: i64,
    status: Option<u16>,
    ok: bool,
    latency_ms: u64,
    excerpt: String,
}

impl Attempt {
    fn record(
        &self,
        endpoint: &str,
        message: &str,
        event_type: &str,
        attempt: u32,
    ) -> DeliveryRecord {
        DeliveryRecord {
            seq: 0,
            endpoint: endpoint.to_string(),
            message: message.to_string(),
            event_type: event_type.to_string(),
            ts_ms: self.started_ms,
            attempt,
            status: self.status,
            ok: self.ok,
            latency_ms: self.latency_ms,
            excerpt: self.excerpt.clone(),
        }
    }
}

fn no_such_webhook(id: &str) -> DirectoryError {
    DirectoryError::NotFound(format!("no webhook endpoint {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_event_types() {
        assert!(validate_url("https://apps.example.com/hooks?x=1").is_ok());
        assert!(validate_url("http://127.0.0.1:9000/in").is_ok());
        assert!(validate_url("http://[::1]:9000/in").is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https:///path",
            "https://user:pw@host/",
            "https://host:99999/",
            "https://host:0/",
            "https://ho st/",
            "apps.example.com",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert_eq!(url_for_display("https://h/p?token=s#f"), "https://h/p");
        assert_eq!(parse_event_types("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_event_types("*").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_event_types("user.created, user.created group.deleted").unwrap(),
            ["user.created", "group.deleted"]
        );
        assert!(parse_event_types("user.exploded").is_err());
        assert_eq!(excerpt_of("ok\n\u{1b}"), "ok  ");
        assert!(excerpt_of(&"é".repeat(300)).len() <= 256);
    }
}
