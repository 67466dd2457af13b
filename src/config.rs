//! Server configuration from three places, in rising precedence: a TOML file (`--config`),
//! the environment (`PROFILEGATE_*`), and command-line flags. `resolve` is pure (the
//! environment comes in as a function), so the precedence is unit-tested; `check-config`
//! prints the result with where each value came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration file's content. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub allow_insecure_http: Option<bool>,
    pub log_format: Option<String>,
    pub log: Option<String>,
    pub max_connections: Option<usize>,
    pub admin_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub tls: FileTls,
}

/// The `[tls]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FileTls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub self_signed: Option<bool>,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("{what} {value:?} (from the {origin}) is not valid: {why}")]
    Value {
        what: &'static str,
        value: String,
        origin: Source,
        why: String,
    },
}

/// Reads a configuration file; returns it and the keys it does not know (to warn about: a
/// typo must not silently fall back to a default).
pub fn load_file(path: &Path) -> Result<(FileConfig, Vec<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(&text).map_err(|detail| ConfigError::Parse {
        path: path.to_path_buf(),
        detail,
    })
}

/// Parses configuration text (see [`load_file`]). Unknown keys are collected by
/// `serde_ignored` as paths such as `tls.kye`.
pub fn parse_file(text: &str) -> Result<(FileConfig, Vec<String>), String> {
    let mut unknown = Vec::new();
    let cfg = serde_ignored::deserialize(toml::Deserializer::new(text), |path| {
        unknown.push(path.to_string())
    })
    .map_err(|e: toml::de::Error| e.to_string())?;
    Ok((cfg, unknown))
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "flag",
            Source::Env => "environment",
            Source::File => "config file",
            Source::Default => "default",
        })
    }
}

/// What was given on the command line (`None`/`false`: not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_self_signed: bool,
    pub allow_insecure_http: bool,
    pub log_format: Option<String>,
    pub max_connections: Option<usize>,
    /// Empty: not given.
    pub admin_hosts: Vec<String>,
}

/// The effective configuration, each value with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub data_dir: (PathBuf, Source),
    pub listen: (SocketAddr, Source),
    pub admin_listen: (Option<SocketAddr>, Source),
    pub tls_cert: (Option<PathBuf>, Source),
    pub tls_key: (Option<PathBuf>, Source),
    pub tls_self_signed: (bool, Source),
    pub allow_insecure_http: (bool, Source),
    /// `text` or `json`.
    pub log_format: (String, Source),
    /// A tracing filter, e.g. `info` or `profilegate=debug`.
    pub log: (String, Source),
    /// Open connections allowed per listener.
    pub max_connections: (usize, Source),
    /// Host names (besides IP addresses and `localhost`) the admin side answers to.
    pub admin_hosts: (Vec<String>, Source),
}

/// Picks the first of flag, environment, file, default; parses strings.
fn pick<T>(
    what: &'static str,
    flag: Option<T>,
    env: Option<String>,
    file: Option<String>,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, Source), ConfigError> {
    if let Some(v) = flag {
        return Ok((v, Source::Flag));
    }
    pick_parsed(what, None, env, file, default, parse)
}

/// [`pick`] for a flag given as text and checked like the other sources (a flag whose type
/// alone does not make it valid, e.g. a number with a range).
fn pick_parsed<T>(
    what: &'static str,
    flag: Option<String>,
    env: Option<String>,
    file: Option<String>,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, Source), ConfigError> {
    for (raw, source) in [
        (flag, Source::Flag),
        (env, Source::Env),
        (file, Source::File),
    ] {
        if let Some(raw) = raw {
            return parse(&raw)
                .map(|v| (v, source))
                .map_err(|why| ConfigError::Value {
                    what,
                    value: raw,
                    origin: source,
                    why,
                });
        }
    }
    Ok((default, Source::Default))
}

fn addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|e| format!("{e}; write it as IP:PORT, e.g. 127.0.0.1:8080"))
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err("use true or false".into()),
    }
}

fn max_connections(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (16..=100_000).contains(&n) => Ok(n),
        _ => Err("use a number from 16 to 100000".into()),
    }
}

/// A comma-separated list of host names (no ports, no addresses needed: IP addresses are
/// always accepted).
fn host_names(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let valid = name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(format!(
                "{name:?} is not a host name (letters, digits, '-' and '.', no port)"
            ));
        }
        out.push(name.to_ascii_lowercase());
    }
    Ok(out)
}

fn log_format(s: &str) -> Result<String, String> {
    match s {
        "text" | "json" => Ok(s.to_string()),
        _ => Err("use text or json".into()),
    }
}

/// Combines flags, environment and file.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
) -> Result<Config, ConfigError> {
    let path = |s: &str| Ok::<PathBuf, String>(PathBuf::from(s));
    let p2s = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    let b2s = |b: Option<bool>| b.map(|b| b.to_string());
    let flag_bool = |b: bool| b.then_some(true);
    let (cert, cert_src) = pick(
        "tls cert",
        flags.tls_cert.clone().map(Some),
        env("PROFILEGATE_TLS_CERT"),
        p2s(&file.tls.cert),
        None,
        |s| Ok(Some(PathBuf::from(s))),
    )?;
    let (key, key_src) = pick(
        "tls key",
        flags.tls_key.clone().map(Some),
        env("PROFILEGATE_TLS_KEY"),
        p2s(&file.tls.key),
        None,
        |s| Ok(Some(PathBuf::from(s))),
    )?;
    Ok(Config {
        data_dir: pick(
            "data dir",
            flags.data_dir.clone(),
            env("PROFILEGATE_DATA_DIR"),
            p2s(&file.data_dir),
            PathBuf::from("./profilegate-data"),
            path,
        )?,
        listen: pick(
            "listen",
            flags.listen,
            env("PROFILEGATE_LISTEN"),
            file.listen.clone(),
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            addr,
        )?,
        admin_listen: pick(
            "admin listen",
            flags.admin_listen.map(Some),
            env("PROFILEGATE_ADMIN_LISTEN"),
            file.admin_listen.clone(),
            None,
            |s| addr(s).map(Some),
        )?,
        tls_cert: (cert, cert_src),
        tls_key: (key, key_src),
        tls_self_signed: pick(
            "tls self_signed",
            flag_bool(flags.tls_self_signed),
            env("PROFILEGATE_TLS_SELF_SIGNED"),
            b2s(file.tls.self_signed),
            false,
            boolean,
        )?,
        allow_insecure_http: pick(
            "allow_insecure_http",
            flag_bool(flags.allow_insecure_http),
            env("PROFILEGATE_ALLOW_INSECURE_HTTP"),
            b2s(file.allow_insecure_http),
            false,
            boolean,
        )?,
        log_format: pick(
            "log format",
            flags.log_format.clone(),
            env("PROFILEGATE_LOG_FORMAT"),
            file.log_format.clone(),
            "text".into(),
            log_format,
        )?,
        log: pick(
            "log",
            None,
            env("PROFILEGATE_LOG"),
            file.log.clone(),
            "info".into(),
            |s| Ok(s.to_string()),
        )?,
        max_connections: pick_parsed(
            "max_connections",
            flags.max_connections.map(|n| n.to_string()),
            env("PROFILEGATE_MAX_CONNECTIONS"),
            file.max_connections.map(|n| n.to_string()),
            crate::http::front::DEFAULT_MAX_CONNECTIONS,
            max_connections,
        )?,
        admin_hosts: pick_parsed(
            "admin host",
            (!flags.admin_hosts.is_empty()).then(|| flags.admin_hosts.join(",")),
            env("PROFILEGATE_ADMIN_HOSTS"),
            file.admin_hosts.as_ref().map(|v| v.join(",")),
            Vec::new(),
            host_names,
        )?,
    })
}

impl Config {
    /// The configuration as `check-config` prints it: TOML, each value with its source.
    /// (No secret lives here: TLS keys are paths; the SMTP password stays in the data dir.)
    pub fn describe(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let opt = |p: &Option<PathBuf>| match p {
            Some(p) => q(&p.to_string_lossy()),
            None => "\"\"".into(),
        };
        let line = |k: &str, v: String, s: Source| format!("{k} = {v}  # {s}\n");
        let mut out = String::new();
        out += &line(
            "data_dir",
            q(&self.data_dir.0.to_string_lossy()),
            self.data_dir.1,
        );
        out += &line("listen", q(&self.listen.0.to_string()), self.listen.1);
        out += &line(
            "admin_listen",
            self.admin_listen
                .0
                .map_or_else(|| "\"\"".into(), |a| q(&a.to_string())),
            self.admin_listen.1,
        );
        out += &line(
            "allow_insecure_http",
            self.allow_insecure_http.0.to_string(),
            self.allow_insecure_http.1,
        );
        out += &line("log_format", q(&self.log_format.0), self.log_format.1);
        out += &line("log", q(&self.log.0), self.log.1);
        out += &line(
            "max_connections",
            self.max_connections.0.to_string(),
            self.max_connections.1,
        );
        let hosts: Vec<String> = self.admin_hosts.0.iter().map(|h| q(h)).collect();
        out += &line(
            "admin_hosts",
            format!("[{}]", hosts.join(", ")),
            self.admin_hosts.1,
        );
        out += "\n[tls]\n";
        out += &line("cert", opt(&self.tls_cert.0), self.tls_cert.1);
        out += &line("key", opt(&self.tls_key.0), self.tls_key.1);
        out += &line(
            "self_signed",
            self.tls_self_signed.0.to_string(),
            self.tls_self_signed.1,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let (file, unknown) = parse_file(
            "listen = \"10.0.0.1:9000\"\nlog_format = \"json\"\ndata_dir = \"/srv/pg\"\n[tls]\nself_signed = true\n",
        )
        .unwrap();
        assert!(unknown.is_empty());
        let env = env_of(&[
            ("PROFILEGATE_LISTEN", "10.0.0.2:9001"),
            ("PROFILEGATE_LOG", "debug"),
        ]);
        let c = resolve(&Flags::default(), &env, &file).unwrap();
        assert_eq!(c.listen, ("10.0.0.2:9001".parse().unwrap(), Source::Env));
        assert_eq!(c.log_format, ("json".into(), Source::File));
        assert_eq!(c.data_dir, (PathBuf::from("/srv/pg"), Source::File));
        assert_eq!(c.tls_self_signed, (true, Source::File));
        assert_eq!(c.log, ("debug".into(), Source::Env));
        assert_eq!(c.allow_insecure_http, (false, Source::Default));
        let flags = Flags {
            listen: Some("10.0.0.3:9002".parse().unwrap()),
            ..Default::default()
        };
        let c = resolve(&flags, &env, &file).unwrap();
        assert_eq!(c.listen, ("10.0.0.3:9002".parse().unwrap(), Source::Flag));
        let c = resolve(&Flags::default(), &env_of(&[]), &FileConfig::default()).unwrap();
        assert_eq!(c.listen.1, Source::Default);
        assert_eq!(c.data_dir.0, PathBuf::from("./profilegate-data"));
    }

    #[test]
    fn unknown_keys_are_reported_and_bad_values_named() {
        let (_, unknown) =
            parse_file("lisen = \"x\"\n[tls]\ncert = \"/a\"\nkye = \"/b\"\n").unwrap();
        assert_eq!(unknown, vec!["lisen".to_string(), "tls.kye".into()]);
        assert!(parse_file("listen = 8080\n").is_err(), "wrong type");
        assert!(parse_file("listen = \n").is_err(), "not TOML");
        let (file, _) = parse_file("listen = \"localhost\"\n").unwrap();
        let e = resolve(&Flags::default(), &env_of(&[]), &file).unwrap_err();
        assert!(e.to_string().contains("config file"), "{e}");
        let e = resolve(
            &Flags::default(),
            &env_of(&[("PROFILEGATE_ALLOW_INSECURE_HTTP", "maybe")]),
            &FileConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("environment"), "{e}");
    }
}
