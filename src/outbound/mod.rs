//! Requests Roster makes: webhook deliveries (the HTTP(S) transport with its
//! SSRF guard, and the dispatcher threads that follow the change feed), and
//! the console's single sign-on requests to identity providers.
//!
//! The dispatcher is one supervisor thread, woken by every commit that
//! appended events (or every `POLL`), which starts one worker per endpoint
//! with something due; a worker delivers that endpoint's events one at a
//! time, in order, until it is caught up or an attempt fails. What to send
//! and what an outcome means lives in `directory::webhooks`.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::config::Config as AgentConfig;
use ureq::http::Uri;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::{Config, WebhookTargets};
use crate::directory::Directory;
use crate::directory::sso::SsoHttp;
use crate::directory::webhooks::{DeliveryStep, WebhookTransport};

/// Longest a supervisor sleeps without a commit waking it (retries come due).
const POLL: Duration = Duration::from_millis(500);
/// How often expired change events are pruned (more often under a short retention).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Endpoints delivered to at once.
const MAX_WORKERS: usize = 16;
/// Longest one delivery attempt may take, connect to last byte.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a receiver's answer kept for the delivery log.
const EXCERPT_BYTES: u64 = 256;

/// Whether an address may receive webhooks under the `webhook_targets` setting.
pub fn target_allowed(targets: WebhookTargets, ip: IpAddr) -> bool {
    if targets == WebhookTargets::Any {
        return true;
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let (never, private) = match ip {
        IpAddr::V4(v4) => (never_v4(v4), private_v4(v4)),
        IpAddr::V6(v6) => (never_v6(v6), (v6.segments()[0] & 0xfe00) == 0xfc00),
    };
    !never && (targets == WebhookTargets::Private || !private)
}

/// Loopback, link-local, unspecified, broadcast, multicast, "this network".
fn never_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.octets()[0] == 0
}

fn never_v6(ip: Ipv6Addr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (ip.segments()[0] & 0xffc0) == 0xfe80
}

/// RFC 1918, shared address space (RFC 6598) and benchmarking (RFC 2544).
fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private() || (a == 100 && (64..128).contains(&b)) || (a == 198 && (b == 18 || b == 19))
}

/// Resolves as usual, then drops the addresses `webhook_targets` forbids:
/// checked on the addresses actually connected to, so a name that resolves
/// to an internal address is refused like the address itself.
#[derive(Debug)]
struct GuardedResolver {
    targets: WebhookTargets,
    inner: DefaultResolver,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &AgentConfig,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let found = self.inner.resolve(uri, config, timeout)?;
        let mut kept = self.empty();
        for addr in found.iter() {
            if target_allowed(self.targets, addr.ip()) {
                kept.push(*addr);
            }
        }
        match found.first() {
            Some(refused) if kept.is_empty() => Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a permitted webhook target (webhook_targets = {}; set it to private or any to allow it)",
                    refused.ip(),
                    self.targets.name()
                ),
            ))),
            _ => Ok(kept),
        }
    }
}

/// Webhook messages over HTTP(S): no redirects followed (a 3xx is an answer),
/// no proxy from the environment, the OS trust store for TLS.
pub struct HttpTransport {
    agent: Agent,
}

impl HttpTransport {
    /// A transport under the given target policy.
    pub fn new(targets: WebhookTargets) -> HttpTransport {
        let config = Agent::config_builder()
            .max_redirects(0)
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .user_agent(format!("Roster-Webhooks/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        let resolver = GuardedResolver {
            targets,
            inner: DefaultResolver::default(),
        };
        HttpTransport {
            agent: Agent::with_parts(config, DefaultConnector::default(), resolver),
        }
    }
}

impl WebhookTransport for HttpTransport {
    fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, String), String> {
        let mut request = self.agent.post(url);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = request.send(body).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut start = Vec::new();
        let read = io::Read::read_to_end(
            &mut io::Read::take(response.body_mut().as_reader(), EXCERPT_BYTES),
            &mut start,
        );
        let mut excerpt = String::from_utf8_lossy(&start).into_owned();
        if let Err(e) = read {
            excerpt = format!("{excerpt} (reading the answer failed: {e})");
        }
        Ok((status, excerpt))
    }
}

/// Largest IdP answer read (discovery, JWKS, token response).
const SSO_ANSWER_LIMIT: u64 = 1024 * 1024;

/// Requests to identity providers. Their URLs come from an Owner's settings,
/// not from requests, so no address guard applies (an on-prem IdP may well
/// be on a private network); no redirects, no proxy, a 10 s limit.
pub struct SsoClient {
    agent: Agent,
}

impl Default for SsoClient {
    fn default() -> SsoClient {
        let config = Agent::config_builder()
            .max_redirects(0)
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .user_agent(format!("Roster/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        SsoClient {
            agent: config.into(),
        }
    }
}

fn read_json(
    mut response: ureq::http::Response<ureq::Body>,
) -> Result<(u16, serde_json::Value), String> {
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(SSO_ANSWER_LIMIT)
        .read_to_string()
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    let value =
        serde_json::from_str(&text).map_err(|_| format!("the answer ({status}) is not JSON"))?;
    Ok((status, value))
}

impl SsoHttp for SsoClient {
    fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let response = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        match read_json(response)? {
            (200, value) => Ok(value),
            (status, _) => Err(format!("{url} answered {status}")),
        }
    }

    fn get_json_bearer(&self, url: &str, token: &str) -> Result<(u16, serde_json::Value), String> {
        let response = self
            .agent
            .get(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        read_json(response)
    }

    fn post_form(
        &self,
        url: &str,
        basic: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value), String> {
        use base64::Engine;
        // RFC 6749 §2.3.1: each part form-encoded before the base64.
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(basic.0),
            enc(basic.1)
        ));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .agent
            .post(url)
            .header("Authorization", format!("Basic {credentials}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .send(body.as_bytes())
            .map_err(|e| format!("{url}: {e}"))?;
        read_json(response)
    }
}

/// The running dispatcher; `stop` ends it.
pub struct Dispatcher {
    stop: Arc<AtomicBool>,
    supervisor: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Installs the HTTP transport in `dir` and starts delivering.
    pub fn start(dir: Arc<Directory>, config: &Config) -> io::Result<Dispatcher> {
        dir.install_webhook_transport(Arc::new(HttpTransport::new(config.webhook_targets)));
        let stop = Arc::new(AtomicBool::new(false));
        let schedule: Arc<[Duration]> = config.webhook_retry_schedule.clone().into();
        let prune_every = PRUNE_EVERY.min(config.event_retention / 2);
        let flag = stop.clone();
        let supervisor = std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || supervise(&dir, &schedule, prune_every, &flag))?;
        Ok(Dispatcher {
            stop,
            supervisor: Some(supervisor),
        })
    }

    /// Stops starting deliveries and waits for those in flight (each at most
    /// `ATTEMPT_TIMEOUT`); what was not delivered goes out after a restart.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.supervisor.take() {
            let _ = handle.join();
        }
    }
}

fn supervise(
    dir: &Arc<Directory>,
    schedule: &Arc<[Duration]>,
    prune_every: Duration,
    stop: &Arc<AtomicBool>,
) {
    let busy: Arc<Mutex<HashSet<(u64, String)>>> = Arc::default();
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut seen = dir.event_generation();
    let mut last_prune: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        if last_prune.is_none_or(|t| t.elapsed() >= prune_every) {
            last_prune = Some(Instant::now());
            if let Err(e) = dir.prune_events() {
                tracing::warn!(error = %e, "pruning old change events failed");
            }
        }
        workers.retain(|w| !w.is_finished());
        match dir.due_webhooks() {
            Ok(due) => {
                for key in due {
                    if workers.len() >= MAX_WORKERS {
                        break;
                    }
                    let mut running = busy.lock().unwrap_or_else(|p| p.into_inner());
                    if !running.insert(key.clone()) {
                        continue;
                    }
                    drop(running);
                    let (dir, schedule, stop, done) =
                        (dir.clone(), schedule.clone(), stop.clone(), busy.clone());
                    let spawned = std::thread::Builder::new()
                        .name("webhook-delivery".into())
                        .spawn({
                            let key = key.clone();
                            move || {
                                deliver(&dir, &key, &schedule, &stop);
                                done.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                            }
                        });
                    match spawned {
                        Ok(handle) => workers.push(handle),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start a webhook worker");
                            busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading webhook endpoints failed"),
        }
        seen = dir.wait_for_events(seen, POLL);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn deliver(dir: &Directory, key: &(u64, String), schedule: &[Duration], stop: &AtomicBool) {
    let (tenant, id) = (key.0, key.1.as_str());
    while !stop.load(Ordering::Acquire) {
        match dir.deliver_next(tenant, id, schedule) {
            Ok(DeliveryStep::Delivered) => continue,
            Ok(DeliveryStep::Failed | DeliveryStep::Idle) => break,
            Err(e) => {
                tracing::warn!(error = %e, endpoint = id, "webhook delivery step failed");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_policy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        use WebhookTargets::*;
        for never in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!target_allowed(Public, ip(never)), "{never}");
            assert!(!target_allowed(Private, ip(never)), "{never}");
            assert!(target_allowed(Any, ip(never)), "{never}");
        }
        for private in [
            "10.1.2.3",
            "192.168.0.10",
            "172.16.5.5",
            "100.64.0.1",
            "fd00::1",
        ] {
            assert!(!target_allowed(Public, ip(private)), "{private}");
            assert!(target_allowed(Private, ip(private)), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111"] {
            assert!(target_allowed(Public, ip(public)), "{public}");
        }
    }
}
