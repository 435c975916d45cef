//! The `serve` configuration file: YAML with `${ENV_VAR}` interpolation.
//!
//! Every table denies unknown keys, so a typo is a start-up error naming the
//! key instead of a setting silently ignored. Secrets live in [`Secret`],
//! whose `Debug` prints `***`, so a `{:?}` of the whole config is safe to log.
//!
//! This module only reads and validates settings: it does not open sockets,
//! read the rules or talk to Aircall.
//!
//! Relative paths (`rules`) are resolved against the directory of the
//! config file, so `switchboard serve --config /etc/switchboard/sb.yaml`
//! behaves the same from any working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

mod interpolate;
pub mod values;

use interpolate::{interpolate, Interpolation};
use values::{duration, optional_count, positive_count, positive_duration};
pub use values::{parse_duration, redact_url, Secret};

/// The default Aircall API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.aircall.io";

/// Whether decisions are acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// No Aircall credentials: decisions are made and logged, nothing is sent.
    DryRun,
    /// Credentials given: transfers are sent to Aircall.
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry-run",
            Mode::Live => "live",
        }
    }
}

/// How the rules path is watched for changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// The operating system's notifications (inotify on Linux).
    #[default]
    Inotify,
    /// Periodic scanning, for file systems without notifications (NFS, some
    /// container mounts).
    Poll,
    /// No watching: reload only on SIGHUP or `POST /admin/reload`.
    Off,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// How to authenticate to the Aircall API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic with the company's API ID and API token.
    Basic { api_id: String, api_token: Secret },
    /// An OAuth access token (Technology Partners).
    Bearer(Secret),
}

/// The `aircall:` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AircallConfig {
    #[serde(default)]
    pub api_id: Option<String>,
    #[serde(default)]
    pub api_token: Option<Secret>,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Where the API lives; tests and staging point it elsewhere.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The company's request budget (shared by every integration).
    #[serde(default = "default_rate_limit", deserialize_with = "positive_count")]
    pub rate_limit_per_minute: u32,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// How often the user and team directory is reloaded in full.
    #[serde(
        default = "default_directory_refresh",
        deserialize_with = "positive_duration"
    )]
    pub directory_refresh: Duration,
    /// How often availabilities are refreshed from the API (webhooks keep
    /// them current in between).
    #[serde(
        default = "default_availability_refresh",
        deserialize_with = "positive_duration"
    )]
    pub availability_refresh: Duration,
}

impl Default for AircallConfig {
    fn default() -> Self {
        AircallConfig {
            api_id: None,
            api_token: None,
            bearer_token: None,
            base_url: default_base_url(),
            rate_limit_per_minute: default_rate_limit(),
            timeouts: Timeouts::default(),
            directory_refresh: default_directory_refresh(),
            availability_refresh: default_availability_refresh(),
        }
    }
}

impl AircallConfig {
    /// The credentials, if any were given (validated by [`Config::validate`]).
    pub fn credentials(&self) -> Option<Credentials> {
        if let Some(token) = &self.bearer_token {
            return Some(Credentials::Bearer(token.clone()));
        }
        match (&self.api_id, &self.api_token) {
            (Some(api_id), Some(api_token)) => Some(Credentials::Basic {
                api_id: api_id.clone(),
                api_token: api_token.clone(),
            }),
            _ => None,
        }
    }
}

/// `aircall.timeouts`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "positive_duration"
    )]
    pub connect: Duration,
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "positive_duration"
    )]
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: default_connect_timeout(),
            request: default_request_timeout(),
        }
    }
}

/// The `server:` table: how long a client may take over each part of a
/// request, and how many connections may be open at once. The endpoint is
/// public (Aircall publishes no address range to allow), so a client that
/// opens connections and sends nothing, or a byte now and then, must not
/// be able to hold them for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// From accepting a connection (or from the first byte of a request
    /// on a kept-alive one) to the end of the request's headers.
    #[serde(
        default = "default_header_read_timeout",
        deserialize_with = "positive_duration"
    )]
    pub header_read_timeout: Duration,
    /// From the end of the headers to the end of the body; past it the
    /// request is answered 408 and the connection closed.
    #[serde(
        default = "default_body_read_timeout",
        deserialize_with = "positive_duration"
    )]
    pub body_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    #[serde(
        default = "default_idle_timeout",
        deserialize_with = "positive_duration"
    )]
    pub idle_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    /// `None`: derived from the open-files limit at start.
    #[serde(default, deserialize_with = "optional_count")]
    pub max_connections: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout: default_header_read_timeout(),
            body_read_timeout: default_body_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: None,
        }
    }
}

/// The most connections `server.max_connections` may allow: far above
/// what one process serves, low enough that the count fits the semaphore
/// that enforces it.
pub const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

/// The whole configuration of `switchboard serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen", deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Timeouts and the connection cap of the HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// A rules file, or a directory whose `*.rules` files form one rule set.
    #[serde(default = "default_rules")]
    pub rules: PathBuf,
    /// Put a rule set without any rule in service (every call is then
    /// kept). Off by default: an empty rules file is refused at start-up
    /// and on reload, because it is most often a truncated save.
    #[serde(default)]
    pub allow_empty_rules: bool,
    #[serde(default)]
    pub aircall: AircallConfig,
    /// Tokens of the Aircall webhooks allowed to post to us (one per webhook).
    #[serde(default)]
    pub webhook_tokens: Vec<Secret>,
    /// Bearer token for `/admin/*`; without one the admin endpoints refuse
    /// every request.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// A call older than this is not acted on (the caller has hung up or
    /// been answered by then).
    #[serde(
        default = "default_action_deadline",
        deserialize_with = "positive_duration"
    )]
    pub action_deadline: Duration,
    /// Actions waiting for the Aircall API; a full queue answers 503.
    #[serde(
        default = "default_queue_capacity",
        deserialize_with = "positive_count"
    )]
    pub queue_capacity: usize,
    /// Actions carried out at once (each waits on one Aircall request).
    /// The rate limit, not this, bounds requests to Aircall; raise it only
    /// when Aircall answers slowly and the budget is large.
    #[serde(
        default = "default_dispatch_workers",
        deserialize_with = "positive_count"
    )]
    pub dispatch_workers: usize,
    /// How long a `call.created` is remembered to drop redeliveries.
    #[serde(default = "default_dedupe_window", deserialize_with = "duration")]
    pub dedupe_window: Duration,
    #[serde(default)]
    pub watch: WatchMode,
    /// Quiet time after a change before reloading (editors write in bursts).
    #[serde(default = "default_watch_debounce", deserialize_with = "duration")]
    pub watch_debounce: Duration,
    /// Scan interval for `watch: poll`.
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "positive_duration"
    )]
    pub poll_interval: Duration,
    #[serde(default)]
    pub log_format: LogFormat,
    /// At shutdown, how long requests in flight may take to finish before
    /// their connections are closed (queued actions are finished after).
    #[serde(default = "default_shutdown_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// The state store (decision log, call history, claims): a SQLite
    /// file (default `data/switchboard.db`) or a `postgres://` URL.
    #[serde(default)]
    pub state: crate::store::StateLocation,
    /// How the state store behaves (retention, group commit, replicas).
    #[serde(default)]
    pub store: crate::store::StoreConfig,
    /// Where `contact.FIELD` comes from.
    #[serde(default)]
    pub contacts: crate::contacts::ContactsConfig,
}

impl Default for Config {
    /// Listen on 127.0.0.1:8080, rules from `rules/main.rules`, dry-run.
    fn default() -> Self {
        Config {
            listen: default_listen(),
            server: ServerConfig::default(),
            rules: default_rules(),
            allow_empty_rules: false,
            aircall: AircallConfig::default(),
            webhook_tokens: Vec::new(),
            admin_token: None,
            action_deadline: default_action_deadline(),
            queue_capacity: default_queue_capacity(),
            dispatch_workers: default_dispatch_workers(),
            dedupe_window: default_dedupe_window(),
            watch: WatchMode::default(),
            watch_debounce: default_watch_debounce(),
            poll_interval: default_poll_interval(),
            log_format: LogFormat::default(),
            shutdown_grace: default_shutdown_grace(),
            state: crate::store::StateLocation::default(),
            store: crate::store::StoreConfig::default(),
            contacts: crate::contacts::ContactsConfig::default(),
        }
    }
}

/// Why a configuration cannot be used. Every message names the file and,
/// where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid YAML: {message}", path.display())]
    Yaml { path: PathBuf, message: String },
    #[error("{}: `{key}` refers to environment variable `{var}`, which is not set", path.display())]
    MissingEnv {
        path: PathBuf,
        key: String,
        var: String,
    },
    #[error("{}: `{key}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl Config {
    /// Reads, interpolates, decodes and validates a config file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::from_yaml_with(&text, path, |name| std::env::var(name).ok())?;
        if config.rules.is_relative() {
            if let Some(dir) = path.parent() {
                config.rules = dir.join(&config.rules);
            }
        }
        // The state and contact files follow the config file too, like
        // the rules (the default state then lives beside the config).
        if let Some(dir) = path.parent() {
            config.state = config.state.resolve_against(dir);
            config.contacts = config.contacts.resolve_against(dir);
        }
        Ok(config)
    }

    /// Decodes config text. `env` looks up `${VAR}` references (a function
    /// so tests need not touch the process environment). `path` is only
    /// used in messages; relative paths are left as written.
    pub fn from_yaml_with(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|error| ConfigError::Yaml {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
        // An empty file is an empty mapping: every default applies.
        if value.is_null() {
            value = serde_yaml::Value::Mapping(serde_yaml::Mapping::new());
        }
        interpolate(&mut value, &env).map_err(|(key, problem)| match problem {
            Interpolation::Missing(var) => ConfigError::MissingEnv {
                path: path.to_owned(),
                key,
                var,
            },
            Interpolation::Unclosed => ConfigError::Invalid {
                path: path.to_owned(),
                key,
                message: "`${` without a closing `}` (write `$${` for a literal `${`)".to_owned(),
            },
        })?;
        let config: Config = serde_path_to_error::deserialize(value).map_err(|error| {
            let key = error.path().to_string();
            ConfigError::Invalid {
                path: path.to_owned(),
                key: if key == "." {
                    "(top level)".to_owned()
                } else {
                    key
                },
                message: error.into_inner().to_string(),
            }
        })?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_owned(),
                key: key.to_owned(),
                message,
            })?;
        config
            .store
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_owned(),
                key: key.to_owned(),
                message,
            })?;
        config
            .contacts
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_owned(),
                key,
                message,
            })?;
        Ok(config)
    }

    /// Dry-run without credentials, live with them.
    pub fn mode(&self) -> Mode {
        if self.aircall.credentials().is_some() {
            Mode::Live
        } else {
            Mode::DryRun
        }
    }

    /// Checks the relations between keys that serde cannot express (a
    /// duration or count that must be more than 0 is refused while
    /// decoding, by [`values::positive_duration`] and
    /// [`values::positive_count`]). Returns the offending key and the
    /// problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let aircall = &self.aircall;
        match (&aircall.api_id, &aircall.api_token, &aircall.bearer_token) {
            (Some(_), Some(_), Some(_)) => {
                return Err((
                    "aircall.bearer_token",
                    "give either api_id + api_token (Basic) or bearer_token (OAuth), not both"
                        .to_owned(),
                ))
            }
            (Some(_), None, _) => {
                return Err((
                    "aircall.api_token",
                    "api_id is set but api_token is missing".to_owned(),
                ))
            }
            (None, Some(_), _) => {
                return Err((
                    "aircall.api_id",
                    "api_token is set but api_id is missing".to_owned(),
                ))
            }
            (Some(id), Some(_), None) if id.trim().is_empty() => {
                return Err(("aircall.api_id", "must not be empty".to_owned()))
            }
            _ => {}
        }
        match reqwest::Url::parse(&aircall.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            Ok(_) => {
                return Err((
                    "aircall.base_url",
                    format!("`{}` is not an http(s) URL", aircall.base_url),
                ))
            }
            Err(error) => {
                return Err((
                    "aircall.base_url",
                    format!("`{}` is not a URL: {error}", aircall.base_url),
                ))
            }
        }
        match self.server.max_connections {
            Some(0) => {
                return Err(("server.max_connections", "must be at least 1".to_owned()));
            }
            Some(count) if count > MAX_CONNECTIONS_LIMIT => {
                return Err((
                    "server.max_connections",
                    format!("must be at most {MAX_CONNECTIONS_LIMIT}"),
                ));
            }
            _ => {}
        }
        if self.rules.as_os_str().is_empty() {
            return Err(("rules", "must not be empty".to_owned()));
        }
        Ok(())
    }
}

fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim().parse().map_err(|_| {
        de::Error::custom(format!(
            "`{text}` is not an address such as `127.0.0.1:8080` or `[::]:8080`"
        ))
    })
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_body_read_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_rules() -> PathBuf {
    PathBuf::from("rules/main.rules")
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_rate_limit() -> u32 {
    60
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_directory_refresh() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_availability_refresh() -> Duration {
    Duration::from_secs(5 * 60)
}

fn default_action_deadline() -> Duration {
    Duration::from_secs(30)
}

fn default_queue_capacity() -> usize {
    1024
}

fn default_dispatch_workers() -> usize {
    16
}

fn default_dedupe_window() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_watch_debounce() -> Duration {
    Duration::from_millis(200)
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_with(text, Path::new("sb.yaml"), |name| match name {
            "TOKEN" => Some("s3cr3t: #not-yaml".to_owned()),
            "PORT_ADDR" => Some("0.0.0.0:9000".to_owned()),
            "CAPACITY" => Some("64".to_owned()),
            _ => None,
        })
    }

    #[test]
    fn empty_file_is_the_default_dry_run() {
        let config = parse("").unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.rules, PathBuf::from("rules/main.rules"));
        assert_eq!(config.mode(), Mode::DryRun);
        assert_eq!(config.aircall.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.aircall.rate_limit_per_minute, 60);
        assert_eq!(config.action_deadline, Duration::from_secs(30));
        assert_eq!(Config::default().mode(), Mode::DryRun);
    }

    #[test]
    fn full_file_with_interpolation() {
        let config = parse(
            "listen: ${PORT_ADDR}\nrules: rules/\naircall:\n  api_id: abc\n  api_token: ${TOKEN}\n  \
             base_url: http://127.0.0.1:1234\n  rate_limit_per_minute: 600\n  timeouts:\n    connect: 500ms\n    \
             request: 3s\nwebhook_tokens:\n  - ${TOKEN}\n  - other\nadmin_token: adm\naction_deadline: 20\n\
             queue_capacity: ${CAPACITY}\nwatch: poll\nlog_format: json\n",
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.mode(), Mode::Live);
        // The secret's `:` and `#` did not change the YAML structure.
        assert_eq!(config.webhook_tokens[0].expose(), "s3cr3t: #not-yaml");
        assert_eq!(
            config.aircall.credentials(),
            Some(Credentials::Basic {
                api_id: "abc".to_owned(),
                api_token: Secret::new("s3cr3t: #not-yaml"),
            })
        );
        assert_eq!(config.aircall.timeouts.connect, Duration::from_millis(500));
        assert_eq!(config.action_deadline, Duration::from_secs(20));
        assert_eq!(config.queue_capacity, 64);
        assert_eq!(config.watch, WatchMode::Poll);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = parse("aircall:\n  bearer_token: ${TOKEN}\nadmin_token: hunter2\n").unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("***"));
        assert_eq!(config.mode(), Mode::Live);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("listn: 1.2.3.4:5\n").unwrap_err().to_string();
        assert!(err.contains("listn"), "{err}");
        let err = parse("aircall:\n  api_tokn: x\n").unwrap_err().to_string();
        assert!(err.contains("aircall") && err.contains("api_tokn"), "{err}");
        let err = parse("aircall:\n  timeouts:\n    conect: 1s\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("conect"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse("listen: localhost\n").unwrap_err().to_string();
        assert!(
            err.contains("`listen`") && err.contains("localhost"),
            "{err}"
        );
        let err = parse("action_deadline: 30 parsecs\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`action_deadline`") && err.contains("parsecs"),
            "{err}"
        );
        let err = parse("queue_capacity: lots\n").unwrap_err().to_string();
        assert!(err.contains("`queue_capacity`"), "{err}");
        let err = parse("queue_capacity: 0\n").unwrap_err().to_string();
        assert!(err.contains("`queue_capacity`"), "{err}");
        let err = parse("watch: fanotify\n").unwrap_err().to_string();
        assert!(err.contains("`watch`"), "{err}");
        let err = parse("aircall:\n  base_url: ftp://x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`aircall.base_url`"), "{err}");
        let err = parse("aircall:\n  api_id: x\n").unwrap_err().to_string();
        assert!(err.contains("`aircall.api_token`"), "{err}");
        let err = parse("webhook_tokens: ['']\n").unwrap_err().to_string();
        assert!(err.contains("webhook_tokens"), "{err}");
    }

    #[test]
    fn missing_variable_is_named_with_its_key() {
        let err = parse("aircall:\n  api_id: a\n  api_token: ${NOPE}\n").unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::MissingEnv { key, var, .. } if key == "aircall.api_token" && var == "NOPE"
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("NOPE"));
        let err = parse("admin_token: ${OPEN\n").unwrap_err().to_string();
        assert!(
            err.contains("admin_token") && err.contains("closing"),
            "{err}"
        );
    }

    #[test]
    fn dollar_escapes() {
        let config = parse("admin_token: a$$${b}$c\n").unwrap();
        assert_eq!(config.admin_token.unwrap().expose(), "a$${b}$c");
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../switchboard.example.yaml");
        let config = Config::from_yaml_with(text, Path::new("switchboard.example.yaml"), |name| {
            Some(format!("value-of-{name}"))
        })
        .unwrap();
        assert_eq!(config.mode(), Mode::Live);
        assert_eq!(config.webhook_tokens.len(), 1);
        assert_eq!(config.watch_debounce, Duration::from_millis(200));
        // Every documented key of the defaults is in the example.
        let defaults = Config::default();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.rules, defaults.rules);
        assert_eq!(config.queue_capacity, defaults.queue_capacity);
        assert_eq!(config.server, defaults.server);
        assert_eq!(config.state, defaults.state);
        assert_eq!(config.store, defaults.store);

        let text = include_str!("../../deploy/switchboard.container.yaml");
        let config =
            Config::from_yaml_with(text, Path::new("switchboard.container.yaml"), |name| {
                Some(format!("value-of-{name}"))
            })
            .unwrap();
        assert_eq!(config.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.mode(), Mode::Live);
    }

    #[test]
    fn server_table() {
        let config = parse("").unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.server.body_read_timeout, Duration::from_secs(30));
        assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.server.max_connections, None);
        let config = parse(
            "server:\n  header_read_timeout: 2s\n  body_read_timeout: 500ms\n  idle_timeout: 5m\n  \
             max_connections: ${CAPACITY}\n",
        )
        .unwrap();
        assert_eq!(config.server.header_read_timeout, Duration::from_secs(2));
        assert_eq!(config.server.body_read_timeout, Duration::from_millis(500));
        assert_eq!(config.server.idle_timeout, Duration::from_secs(300));
        assert_eq!(config.server.max_connections, Some(64));
        let config = parse("server:\n  max_connections: auto\n").unwrap();
        assert_eq!(config.server.max_connections, None);
        for (text, key) in [
            ("server:\n  idle_timeout: 0s\n", "`server.idle_timeout`"),
            (
                "server:\n  max_connections: 0\n",
                "`server.max_connections`",
            ),
            (
                "server:\n  max_connections: 2000000\n",
                "`server.max_connections`",
            ),
            (
                "server:\n  max_connections: many\n",
                "`server.max_connections`",
            ),
            ("server:\n  header_timeout: 1s\n", "header_timeout"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    /// Every duration key of the file, dotted, and whether 0 is allowed.
    const DURATION_KEYS: [(&str, bool); 19] = [
        ("aircall.timeouts.connect", false),
        ("aircall.timeouts.request", false),
        ("aircall.directory_refresh", false),
        ("aircall.availability_refresh", false),
        ("server.header_read_timeout", false),
        ("server.body_read_timeout", false),
        ("server.idle_timeout", false),
        ("action_deadline", false),
        ("dedupe_window", true),
        ("watch_debounce", true),
        ("poll_interval", false),
        ("shutdown_grace", true),
        ("store.retention", false),
        ("store.prune_interval", false),
        ("store.history_window", false),
        ("store.commit_wait", true),
        ("store.lease_expiry", false),
        ("contacts.timeout", false),
        ("contacts.cache_ttl", true),
    ];

    /// `a.b.c` set to `value`, as nested YAML.
    fn nested(key: &str, value: &str) -> String {
        let mut yaml = String::new();
        let parts: Vec<&str> = key.split('.').collect();
        for (depth, part) in parts.iter().enumerate() {
            yaml.push_str(&"  ".repeat(depth));
            yaml.push_str(part);
            yaml.push(':');
            yaml.push(if depth + 1 == parts.len() { ' ' } else { '\n' });
        }
        yaml.push_str(value);
        yaml.push('\n');
        yaml
    }

    #[test]
    fn every_duration_key_takes_days() {
        let config = parse("dedupe_window: 1d\n").unwrap();
        assert_eq!(config.dedupe_window, Duration::from_secs(86_400));
        for (key, _) in DURATION_KEYS {
            // `lease_expiry` and `commit_wait` have bounds of their own;
            // the unit is what is tested here.
            let value = if key == "store.commit_wait" {
                "0.000001d"
            } else {
                "1d"
            };
            let result = parse(&nested(key, value));
            assert!(result.is_ok(), "{key}: {value}: {}", result.unwrap_err());
        }
    }

    #[test]
    fn every_duration_key_lists_the_units_it_accepts() {
        for (key, _) in DURATION_KEYS {
            for value in ["3 weeks", "soon", "-5", "true"] {
                let err = parse(&nested(key, value)).unwrap_err().to_string();
                assert!(
                    err.contains(&format!("`{key}`")) && err.contains("ms, s, m, h or d"),
                    "{key}: {value}: {err}"
                );
            }
        }
    }

    #[test]
    fn durations_that_must_be_more_than_zero() {
        for (key, zero_allowed) in DURATION_KEYS {
            let result = parse(&nested(key, "0s"));
            if zero_allowed {
                assert!(result.is_ok(), "{key}: {}", result.unwrap_err());
            } else {
                // `lease_expiry` has a higher floor: "at least 1s".
                let err = result.unwrap_err().to_string();
                assert!(
                    err.contains(&format!("`{key}`"))
                        && (err.contains("more than 0") || err.contains("at least")),
                    "{key}: {err}"
                );
            }
        }
    }

    #[test]
    fn counts_take_variables_and_refuse_zero() {
        for key in [
            "aircall.rate_limit_per_minute",
            "queue_capacity",
            "dispatch_workers",
            "store.commit_batch",
            "store.wal_limit_mb",
            "store.pool_size",
            "store.replicas",
        ] {
            let result = parse(&nested(key, "${CAPACITY}"));
            assert!(result.is_ok(), "{key}: {}", result.unwrap_err());
            let err = parse(&nested(key, "0")).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{key}`")) && err.contains("at least 1"),
                "{key}: {err}"
            );
        }
        let config = parse("contacts:\n  cache_size: ${CAPACITY}\n").unwrap();
        assert_eq!(config.contacts.cache_size, 64);
        assert_eq!(config.store, crate::store::StoreConfig::default());
    }

    #[test]
    fn relative_rules_path_follows_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.yaml");
        std::fs::write(&path, "rules: rules/main.rules\n").unwrap();
        let config = Config::from_file(&path).unwrap();
        assert_eq!(config.rules, dir.path().join("rules/main.rules"));
        let err = Config::from_file(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(err.to_string().contains("missing.yaml"), "{err}");
    }
}
