//! Effective configuration: defaults < TOML file < `ROSTER_*` environment < flags.
//!
//! Every layer goes through the same `apply` so a value is validated the same way
//! wherever it came from, and an error names the key and the layer it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when `--config` is not given, if it exists.
pub const SYSTEM_CONFIG: &str = "/etc/roster/roster.toml";

/// Default request body limit (bytes): roomy for SCIM bulk, small enough to refuse abuse.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The settings Roster runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Directory holding the store, the control socket and (by default) the master key.
    pub data_dir: PathBuf,
    /// Base URL admins and IdPs reach Roster at; `None` means `http://<listen>`.
    pub public_url: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Master key file; `None` means the systemd credential or `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// File holding the bearer token `/metrics` requires; `None` leaves it open.
    pub metrics_token_file: Option<PathBuf>,
    /// Whether concurrent writes share durable commits.
    pub group_commit: bool,
    /// Most write requests one durable commit carries.
    pub group_commit_max_batch: usize,
    /// Journal size at which it is synced into the store file and restarted.
    pub journal_checkpoint_bytes: u64,
    /// Seconds an application's access token from `/oauth/token` lasts.
    pub access_token_lifetime: i64,
    /// How long change events are kept.
    pub event_retention: Duration,
    /// Waits between failed webhook attempts; past the last one the endpoint is disabled.
    pub webhook_retry_schedule: Vec<Duration>,
    /// Which addresses webhook deliveries may reach.
    pub webhook_targets: WebhookTargets,
    /// Where each setting came from, for `roster configtest`.
    pub origins: BTreeMap<&'static str, String>,
}

/// Raw values given on the command line; validated like every other layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--log-format`.
    pub log_format: Option<String>,
    /// `--body-limit`.
    pub body_limit: Option<String>,
}

/// A configuration error: one line naming the key and where the bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending key (`listen`, `body_limit`, ...).
    pub key: String,
    /// The layer: a file path, an environment variable or a flag.
    pub origin: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid config: key `{}` (from {}): {}",
            self.key, self.origin, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

const KEYS: [&str; 14] = [
    "listen",
    "data_dir",
    "public_url",
    "log_format",
    "body_limit",
    "master_key_file",
    "metrics_token_file",
    "group_commit",
    "group_commit_max_batch",
    "journal_checkpoint_bytes",
    "access_token_lifetime",
    "event_retention",
    "webhook_retry_schedule",
    "webhook_targets",
];

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./roster-data"),
            public_url: None,
            log_format: LogFormat::Text,
            body_limit: DEFAULT_BODY_LIMIT,
            master_key_file: None,
            metrics_token_file: None,
            group_commit: true,
            group_commit_max_batch: crate::store::DEFAULT_BATCH,
            journal_checkpoint_bytes: crate::store::DEFAULT_CHECKPOINT_BYTES,
            access_token_lifetime: 15 * 60,
            event_retention: Duration::from_secs(30 * 86_400),
            webhook_retry_schedule: DEFAULT_RETRY_SCHEDULE
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            webhook_targets: WebhookTargets::Public,
            origins: KEYS.iter().map(|k| (*k, "default".to_string())).collect(),
        }
    }
}

impl Config {
    /// Builds the effective config from the process environment and the given flags.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(overrides, &env, Path::new(SYSTEM_CONFIG))
    }

    /// As `load`, with the environment and system file path given (for tests).
    pub fn load_from(
        overrides: &Overrides,
        env: &BTreeMap<String, String>,
        system_file: &Path,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();

        let file = overrides
            .config_file
            .clone()
            .or_else(|| env.get("ROSTER_CONFIG").map(PathBuf::from))
            .or_else(|| system_file.exists().then(|| system_file.to_path_buf()));
        if let Some(path) = file {
            config.apply_file(&path)?;
        }

        for key in KEYS {
            let var = format!("ROSTER_{}", key.to_ascii_uppercase());
            if let Some(value) = env.get(&var) {
                config.apply(key, toml::Value::String(value.clone()), &var)?;
            }
        }

        let flags = [
            ("listen", overrides.listen.clone(), "--listen"),
            (
                "data_dir",
                overrides
                    .data_dir
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                "--data-dir",
            ),
            ("public_url", overrides.public_url.clone(), "--public-url"),
            ("log_format", overrides.log_format.clone(), "--log-format"),
            ("body_limit", overrides.body_limit.clone(), "--body-limit"),
        ];
        for (key, value, flag) in flags {
            if let Some(value) = value {
                config.apply(key, toml::Value::String(value), flag)?;
            }
        }
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let origin = path.display().to_string();
        let fail = |key: &str, reason: String| ConfigError {
            key: key.to_string(),
            origin: origin.clone(),
            reason,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail("config", format!("cannot read the file: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let reason = e.message().replace('\n', " ");
            let key = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| format!("line {}", before.lines().count().max(1)))
                .unwrap_or_else(|| "toml".to_string());
            fail(&key, format!("not valid TOML: {reason}"))
        })?;
        for (key, value) in table {
            let Some(known) = KEYS.iter().find(|k| **k == key) else {
                return Err(fail(
                    &key,
                    format!("unknown key; known keys are {}", KEYS.join(", ")),
                ));
            };
            self.apply(known, value, &origin)?;
        }
        Ok(())
    }

    /// Sets one key from a raw value, validating it.
    fn apply(
        &mut self,
        key: &'static str,
        value: toml::Value,
        origin: &str,
    ) -> Result<(), ConfigError> {
        let fail = |reason: String| ConfigError {
            key: key.to_string(),
            origin: origin.to_string(),
            reason,
        };
        let as_str = |value: &toml::Value| -> Result<String, ConfigError> {
            match value {
                toml::Value::String(s) => Ok(s.trim().to_string()),
                other => Err(fail(format!("expected a string, got {}", other.type_str()))),
            }
        };
        match key {
            "listen" => {
                let raw = as_str(&value)?;
                self.listen = raw.parse().map_err(|_| {
                    fail(format!(
                        "expected an IP address and port such as 127.0.0.1:8080, got {raw:?}"
                    ))
                })?;
            }
            "data_dir" => {
                let raw = as_str(&value)?;
                if raw.is_empty() {
                    return Err(fail("must not be empty".into()));
                }
                self.data_dir = PathBuf::from(raw);
            }
            "public_url" => {
                let raw = as_str(&value)?;
                let trimmed = raw.trim_end_matches('/');
                let rest = trimmed
                    .strip_prefix("https://")
                    .or_else(|| trimmed.strip_prefix("http://"));
                match rest {
                    Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                        self.public_url = Some(trimmed.to_string());
                    }
                    _ => {
                        return Err(fail(format!(
                            "expected an http:// or https:// URL such as https://roster.example.com, got {raw:?}"
                        )));
                    }
                }
            }
            "log_format" => {
                let raw = as_str(&value)?;
                self.log_format = match raw.to_ascii_lowercase().as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(fail(format!("expected text or json, got {raw:?}"))),
                };
            }
            "body_limit" => match count_of(&value) {
                Some(n) if (1024..=(256 * 1024 * 1024)).contains(&n) => self.body_limit = n,
                _ => {
                    return Err(fail(format!(
                        "expected a number of bytes between 1024 and 268435456, got {value}"
                    )));
                }
            },
            "master_key_file" | "metrics_token_file" => {
                let raw = as_str(&value)?;
                if raw.is_empty() {
                    return Err(fail("must not be empty".into()));
                }
                if key == "master_key_file" {
                    self.master_key_file = Some(PathBuf::from(raw));
                } else {
                    self.metrics_token_file = Some(PathBuf::from(raw));
                }
            }
            "group_commit" => {
                self.group_commit = match &value {
                    toml::Value::Boolean(b) => *b,
                    toml::Value::String(s) if s.trim().eq_ignore_ascii_case("true") => true,
                    toml::Value::String(s) if s.trim().eq_ignore_ascii_case("false") => false,
                    _ => return Err(fail(format!("expected true or false, got {value}"))),
                };
            }
            "group_commit_max_batch" => match count_of(&value) {
                Some(n) if (1..=1024).contains(&n) => self.group_commit_max_batch = n,
                _ => {
                    return Err(fail(format!(
                        "expected a number of requests between 1 and 1024, got {value}"
                    )));
                }
            },
            "journal_checkpoint_bytes" => match count_of(&value) {
                Some(n) if (MIN_CHECKPOINT_BYTES..=MAX_CHECKPOINT_BYTES).contains(&(n as u64)) => {
                    self.journal_checkpoint_bytes = n as u64
                }
                _ => {
                    return Err(fail(format!(
                        "expected a number of bytes between {MIN_CHECKPOINT_BYTES} and {MAX_CHECKPOINT_BYTES}, got {value}"
                    )));
                }
            },
            "access_token_lifetime" => match count_of(&value) {
                Some(n) if (1..=86_400).contains(&n) => self.access_token_lifetime = n as i64,
                _ => {
                    return Err(fail(format!(
                        "expected a number of seconds between 1 and 86400, got {value}"
                    )));
                }
            },
            "event_retention" => match duration_of(&as_str(&value)?) {
                Some(d)
                    if d >= Duration::from_secs(1) && d <= Duration::from_secs(3650 * 86_400) =>
                {
                    self.event_retention = d
                }
                _ => {
                    return Err(fail(format!(
                        "expected a duration between 1s and 3650d such as 30d or 12h, got {value}"
                    )));
                }
            },
            "webhook_retry_schedule" => {
                let raw = as_str(&value)?;
                let waits: Option<Vec<Duration>> = raw
                    .split(',')
                    .map(|part| duration_of(part).filter(|d| *d <= Duration::from_secs(7 * 86_400)))
                    .collect();
                match waits {
                    Some(waits) if (1..=50).contains(&waits.len()) => {
                        self.webhook_retry_schedule = waits
                    }
                    _ => {
                        return Err(fail(format!(
                            "expected 1-50 comma-separated waits of at most 7d such as 5s,5m,30m,2h, got {raw:?}"
                        )));
                    }
                }
            }
            "webhook_targets" => {
                let raw = as_str(&value)?;
                self.webhook_targets = match raw.to_ascii_lowercase().as_str() {
                    "public" => WebhookTargets::Public,
                    "private" => WebhookTargets::Private,
                    "any" => WebhookTargets::Any,
                    _ => {
                        return Err(fail(format!(
                            "expected public, private or any, got {raw:?}"
                        )));
                    }
                };
            }
            _ => return Err(fail("unknown key".into())),
        }
        self.origins.insert(key, origin.to_string());
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// The store file inside the data dir.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("roster.redb")
    }

    /// How many write requests one durable commit may carry (1 when group commit is off).
    pub fn write_batch(&self) -> usize {
        if self.group_commit {
            self.group_commit_max_batch
        } else {
            1
        }
    }

    /// The control socket inside the data dir.
    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join("roster.sock")
    }

    /// The effective settings as TOML-like lines with their origins (no secrets live here).
    pub fn describe(&self) -> String {
        let origin = |k: &str| self.origins.get(k).cloned().unwrap_or_default();
        let log = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        let rows = [
            ("listen", format!("{:?}", self.listen.to_string())),
            (
                "data_dir",
                format!("{:?}", self.data_dir.display().to_string()),
            ),
            (
                "public_url",
                self.public_url
                    .as_ref()
                    .map(|u| format!("{u:?}"))
                    .unwrap_or_else(|| "(http://<listen>)".into()),
            ),
            ("log_format", format!("{log:?}")),
            ("body_limit", self.body_limit.to_string()),
            ("group_commit", self.group_commit.to_string()),
            (
                "group_commit_max_batch",
                self.group_commit_max_batch.to_string(),
            ),
            (
                "journal_checkpoint_bytes",
                self.journal_checkpoint_bytes.to_string(),
            ),
            (
                "access_token_lifetime",
                self.access_token_lifetime.to_string(),
            ),
            (
                "event_retention",
                format!("{:?}", describe_duration(self.event_retention)),
            ),
            (
                "webhook_retry_schedule",
                format!(
                    "{:?}",
                    self.webhook_retry_schedule
                        .iter()
                        .map(|d| describe_duration(*d))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (
                "webhook_targets",
                format!("{:?}", self.webhook_targets.name()),
            ),
            (
                "master_key_file",
                self.master_key_file
                    .as_ref()
                    .map(|p| format!("{:?}", p.display().to_string()))
                    .unwrap_or_else(|| "(credential or <data_dir>/master.key)".into()),
            ),
            (
                "metrics_token_file",
                self.metrics_token_file
                    .as_ref()
                    .map(|p| format!("{:?}", p.display().to_string()))
                    .unwrap_or_else(|| "(none: /metrics is open)".into()),
            ),
        ];
        rows.iter()
            .map(|(k, v)| format!("{k} = {v}    # {}\n", origin(k)))
            .collect()
    }
}

/// Standard Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h six
/// times: about 2.8 days of attempts before an endpoint is disabled.
/// Bounds of `journal_checkpoint_bytes`: small values are for crash tests.
const MIN_CHECKPOINT_BYTES: u64 = 64 * 1024;
const MAX_CHECKPOINT_BYTES: u64 = 1 << 32;

const DEFAULT_RETRY_SCHEDULE: [u64; 11] = [
    5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000, 36_000,
];

/// Which addresses webhook deliveries may reach (an SSRF guard: a webhook URL
/// is admin input, and the appliance often sits inside a private network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookTargets {
    /// Public addresses only (the default).
    Public,
    /// Also private networks (RFC 1918, unique local); never loopback or link-local.
    Private,
    /// Any address, loopback included (tests, a receiver on the same host).
    Any,
}

impl WebhookTargets {
    /// The setting's spelling.
    pub fn name(self) -> &'static str {
        match self {
            WebhookTargets::Public => "public",
            WebhookTargets::Private => "private",
            WebhookTargets::Any => "any",
        }
    }
}

/// `30 days`, `2 h`, `500 ms`: a duration for messages.
pub fn describe_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let units = [
        (86_400_000, "day"),
        (3_600_000, "hour"),
        (60_000, "minute"),
        (1000, "second"),
    ];
    for (size, name) in units {
        if ms >= size && ms.is_multiple_of(size) {
            let n = ms / size;
            return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{ms} ms")
}

/// `500ms`, `5s`, `5m`, `2h`, `30d` (a bare number is seconds).
fn duration_of(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms_per = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(ms_per)?))
}

/// A non-negative whole number given as a TOML integer or a string (env, flags).
fn count_of(value: &toml::Value) -> Option<usize> {
    match value {
        toml::Value::Integer(n) => usize::try_from(*n).ok(),
        toml::Value::String(s) => s.trim().parse::<usize>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_with_nothing_given() {
        let c =
            Config::load_from(&Overrides::default(), &env(&[]), Path::new("/nonexistent")).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./roster-data"));
        assert_eq!(c.body_limit, DEFAULT_BODY_LIMIT);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\nlog_format = \"json\"\nbody_limit = 4096\n",
        )
        .unwrap();
        let flags = Overrides {
            config_file: Some(file.clone()),
            listen: Some("127.0.0.1:3000".into()),
            ..Default::default()
        };
        let c = Config::load_from(
            &flags,
            &env(&[
                ("ROSTER_LISTEN", "127.0.0.1:2000"),
                ("ROSTER_BODY_LIMIT", "8192"),
            ]),
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 3000);
        assert_eq!(c.body_limit, 8192);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.origins["body_limit"], "ROSTER_BODY_LIMIT");
    }

    #[test]
    fn errors_name_key_and_origin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let flags = Overrides {
            config_file: Some(file),
            ..Default::default()
        };
        let err = Config::load_from(&flags, &env(&[]), Path::new("/nonexistent")).unwrap_err();
        assert_eq!(err.key, "lisen");
        assert!(err.to_string().contains("unknown key"));

        let err = Config::load_from(
            &Overrides::default(),
            &env(&[("ROSTER_LOG_FORMAT", "xml")]),
            Path::new("/nonexistent"),
        )
        .unwrap_err();
        assert_eq!(err.key, "log_format");
        assert_eq!(err.origin, "ROSTER_LOG_FORMAT");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn group_commit_is_on_by_default_and_can_be_turned_off() {
        let none = Path::new("/nonexistent");
        let c = Config::load_from(&Overrides::default(), &env(&[]), none).unwrap();
        assert_eq!(c.write_batch(), crate::store::DEFAULT_BATCH);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.toml");
        std::fs::write(&file, "group_commit = false\ngroup_commit_max_batch = 8\n").unwrap();
        let flags = Overrides {
            config_file: Some(file),
            ..Default::default()
        };
        let c = Config::load_from(&flags, &env(&[]), none).unwrap();
        assert_eq!(c.write_batch(), 1);
        let c = Config::load_from(&flags, &env(&[("ROSTER_GROUP_COMMIT", "true")]), none).unwrap();
        assert_eq!(c.write_batch(), 8);

        for (var, value) in [
            ("ROSTER_GROUP_COMMIT", "yes"),
            ("ROSTER_GROUP_COMMIT_MAX_BATCH", "0"),
            ("ROSTER_GROUP_COMMIT_MAX_BATCH", "5000"),
        ] {
            let err =
                Config::load_from(&Overrides::default(), &env(&[(var, value)]), none).unwrap_err();
            assert_eq!(err.origin, var);
        }
    }
}
