//! `drover up`'s settings, loaded once with every problem reported at once.
//!
//! Each service keeps its own settings and its own layering; `drover up` only adds a layer of
//! embedded defaults and one file for all three:
//!
//! ```text
//! embedded defaults < --config FILE section < DROVER_<SERVICE>_* variables < drover up flags
//! ```
//!
//! - `--config FILE` (or `DROVER_CONFIG`) is a TOML file with optional `[scheduler]`,
//!   `[browser_pool]` and `[ai_router]` sections, each holding exactly what that service's own
//!   `--config` file holds. The services' own file variables (`DROVER_SCHEDULER_CONFIG`,
//!   `DROVER_BROWSER_POOL_CONFIG`) are not read by `drover up`.
//! - `--ai-config FILE` (or `DROVER_AI_ROUTER_CONFIG`) names an ai-router file (the format of
//!   `drover ai-router --config`) and takes the place of the `[ai_router]` section.
//! - No provider configured (neither of those names `deployments`): the stand-in provider runs
//!   in-process and model group `default` goes to it; other `[ai_router]` settings still apply.
//! - Embedded defaults: the browser pool and the ai-router listen on `127.0.0.1:0` (they are
//!   reached through the scheduler); the scheduler keeps its own defaults (`127.0.0.1:50051`).
//! - One Prometheus exporter serves the whole process, at the scheduler's `metrics_listen`
//!   (`--metrics-listen`, `DROVER_SCHEDULER_METRICS_LISTEN`, `[scheduler] metrics_listen`;
//!   default `127.0.0.1:9451`); the pool's and router's `metrics_listen` are ignored.
//! - The pool's and router's worker settings (`scheduler`, `worker_id`, `worker_slots`) are
//!   set by `drover up`: they attach to the in-process scheduler.

use std::{net::SocketAddr, path::PathBuf};

use drover_ai_router::RouterConfig;
use drover_browser_pool::config::{Config as PoolConfig, EnvSource};
use drover_scheduler::SchedulerConfig;

/// The file sections `drover up` knows.
const SECTIONS: [&str; 3] = ["scheduler", "browser_pool", "ai_router"];

/// The flags of `drover up`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UpFlags {
    /// `--listen ADDR`: the scheduler's address.
    pub listen: Option<SocketAddr>,
    /// `--metrics-listen ADDR|off`: the process's one Prometheus endpoint.
    pub metrics_listen: Option<Option<SocketAddr>>,
    /// `--browsers N`.
    pub browsers: Option<String>,
    /// `--pages-per-browser N`.
    pub pages_per_browser: Option<String>,
    /// `--config FILE`: the sectioned file.
    pub config: Option<PathBuf>,
    /// `--ai-config FILE`: an ai-router file.
    pub ai_config: Option<PathBuf>,
}

impl UpFlags {
    /// Parses `--name value` and `--name=value`; every problem at once.
    pub fn parse(args: &[String]) -> Result<Self, Vec<String>> {
        let mut flags = Self::default();
        let mut problems = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let known = [
                "--listen",
                "--metrics-listen",
                "--browsers",
                "--pages-per-browser",
                "--config",
                "--ai-config",
            ];
            if !known.contains(&name) {
                problems.push(format!("unknown argument {arg:?} (see drover up --help)"));
                // Its value, if it seems to have one, is not another problem.
                if inline.is_none() && it.as_slice().first().is_some_and(|v| !v.starts_with('-')) {
                    it.next();
                }
                continue;
            }
            let Some(value) = inline.or_else(|| it.next().cloned()) else {
                problems.push(format!("{name} needs a value"));
                continue;
            };
            match name {
                "--listen" => match value.parse() {
                    Ok(addr) => flags.listen = Some(addr),
                    Err(_) => problems.push(format!("--listen: {value:?} is not an address")),
                },
                "--metrics-listen" if value == "off" => flags.metrics_listen = Some(None),
                "--metrics-listen" => match value.parse() {
                    Ok(addr) => flags.metrics_listen = Some(Some(addr)),
                    Err(_) => problems.push(format!(
                        "--metrics-listen: {value:?} is not an address or \"off\""
                    )),
                },
                "--browsers" => flags.browsers = Some(value),
                "--pages-per-browser" => flags.pages_per_browser = Some(value),
                "--config" => flags.config = Some(PathBuf::from(value)),
                _ => flags.ai_config = Some(PathBuf::from(value)),
            }
        }
        if problems.is_empty() {
            Ok(flags)
        } else {
            Err(problems)
        }
    }
}

/// Where the AI router's deployments come from.
#[derive(Debug, Clone)]
pub enum AiProvider {
    /// Configured deployments (`--ai-config`, `DROVER_AI_ROUTER_CONFIG` or `[ai_router]`).
    Configured(RouterConfig),
    /// None configured: the in-process stand-in, with these other `[ai_router]` settings.
    StandIn(toml::Table),
}

/// Everything `drover up` runs, checked.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// The scheduler; its `metrics_listen` is the process's one exporter.
    pub scheduler: SchedulerConfig,
    /// The browser pool (its `scheduler` is set once the scheduler is bound).
    pub browser_pool: PoolConfig,
    /// The AI router's provider.
    pub ai: AiProvider,
}

impl UpConfig {
    /// Loads from `args` (after `up`) and `env`.
    pub fn load(args: &[String], env: &dyn EnvSource) -> Result<Self, Vec<String>> {
        let flags = UpFlags::parse(args)?;
        let mut problems = Vec::new();
        let file = flags
            .config
            .clone()
            .or_else(|| env.var("DROVER_CONFIG").map(PathBuf::from));
        let (file_name, mut sections) = match &file {
            Some(path) => (
                path.display().to_string(),
                read_sections(path, &mut problems),
            ),
            None => (String::new(), toml::Table::new()),
        };
        let mut section = |name: &str| match sections.remove(name) {
            Some(toml::Value::Table(table)) => Some(table),
            Some(other) => {
                problems.push(format!(
                    "{file_name}: [{name}] must be a table, not a {}",
                    other.type_str()
                ));
                None
            }
            None => None,
        };
        let scheduler_section = section("scheduler");
        let pool_section = section("browser_pool");
        let ai_section = section("ai_router");

        let scheduler = scheduler_config(scheduler_section, &file_name, &flags, env)
            .map_err(|e| problems.extend(e))
            .ok();

        let mut pool_table = embedded_listen_default();
        pool_table.insert("metrics_listen".into(), "off".into());
        pool_table.extend(pool_section.unwrap_or_default());
        let mut pool_args = Vec::new();
        for (flag, value) in [
            ("--browsers", &flags.browsers),
            ("--pages-per-browser", &flags.pages_per_browser),
        ] {
            if let Some(value) = value {
                pool_args.extend([flag.to_owned(), value.clone()]);
            }
        }
        let source = if file_name.is_empty() {
            "drover up's defaults".to_owned()
        } else {
            format!("{file_name} [browser_pool]")
        };
        let browser_pool = match PoolConfig::load_with_table(&pool_args, env, &source, pool_table) {
            Ok(mut config) => {
                config.metrics_listen = None;
                Some(config)
            }
            Err(e) => {
                problems.extend(e.0.into_iter().map(|p| format!("browser pool: {p}")));
                None
            }
        };

        let ai_file = flags
            .ai_config
            .clone()
            .or_else(|| env.var("DROVER_AI_ROUTER_CONFIG").map(PathBuf::from));
        let ai_table = match &ai_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => match text.parse::<toml::Table>() {
                    Ok(table) => Some((path.display().to_string(), table)),
                    Err(e) => {
                        problems.push(format!("{}: {e}", path.display()));
                        None
                    }
                },
                Err(e) => {
                    problems.push(format!("cannot read {}: {e}", path.display()));
                    None
                }
            },
            None => Some((
                format!("{file_name} [ai_router]"),
                ai_section.unwrap_or_default(),
            )),
        };
        let ai = ai_table.and_then(|(source, table)| {
            let standin = ai_file.is_none() && !table.contains_key("deployments");
            // The stand-in's address is known once it runs; a placeholder checks the rest now.
            let checked = router_config(&table, standin.then_some("http://127.0.0.1:9"), env)
                .map_err(|e| {
                    problems.extend(e.into_iter().map(|p| format!("ai-router ({source}): {p}")))
                })
                .ok()?;
            Some(if standin {
                AiProvider::StandIn(table)
            } else {
                AiProvider::Configured(checked)
            })
        });
        match (scheduler, browser_pool, ai) {
            (Some(scheduler), Some(browser_pool), Some(ai)) if problems.is_empty() => Ok(Self {
                scheduler,
                browser_pool,
                ai,
            }),
            _ => Err(problems),
        }
    }
}

/// The AI router's settings from `table` (embedded defaults added), with the stand-in's
/// deployment and group `default` when `standin_url` is given, then `DROVER_AI_ROUTER_*`.
pub fn router_config(
    table: &toml::Table,
    standin_url: Option<&str>,
    env: &dyn EnvSource,
) -> Result<RouterConfig, Vec<String>> {
    let mut full = embedded_listen_default();
    full.extend(table.clone());
    if let Some(url) = standin_url {
        let standin: toml::Table = format!(
            r#"
            [[deployments]]
            name = "standin"
            base_url = "{url}"
            model = "standin-1"
            max_concurrency = 1024

            [[groups]]
            name = "default"
            deployments = ["standin"]
            "#
        )
        .parse()
        .expect("the embedded stand-in deployment is valid TOML");
        full.extend(standin);
    }
    let mut config: RouterConfig = from_table(full)?;
    config.check().map_err(|e| e.0)?;
    config.apply_env(|name| env.var(name)).map_err(|e| e.0)?;
    config.metrics_listen = None;
    Ok(config)
}

fn scheduler_config(
    section: Option<toml::Table>,
    file_name: &str,
    flags: &UpFlags,
    env: &dyn EnvSource,
) -> Result<SchedulerConfig, Vec<String>> {
    let prefix = |p: String| format!("scheduler: {p}");
    let mut config = match section {
        Some(table) => {
            let config: SchedulerConfig = from_table(table).map_err(|e| {
                e.into_iter()
                    .map(|p| prefix(format!("{file_name} [scheduler]: {p}")))
                    .collect::<Vec<_>>()
            })?;
            config
                .check()
                .map_err(|e| e.0.into_iter().map(prefix).collect::<Vec<_>>())?;
            config
        }
        None => SchedulerConfig::default(),
    };
    config
        .apply_env(|name| env.var(name))
        .map_err(|e| e.0.into_iter().map(prefix).collect::<Vec<_>>())?;
    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    if let Some(metrics) = flags.metrics_listen {
        config.metrics_listen = metrics;
    }
    Ok(config)
}

/// A settings struct from a TOML table; a problem names the offending setting.
fn from_table<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, Vec<String>> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_owned();
        if path == "." || path.is_empty() {
            vec![message]
        } else {
            vec![format!("{path}: {message}")]
        }
    })
}

fn embedded_listen_default() -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("listen".into(), "127.0.0.1:0".into());
    table
}

fn read_sections(path: &std::path::Path, problems: &mut Vec<String>) -> toml::Table {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("cannot read {}: {e}", path.display()));
            return toml::Table::new();
        }
    };
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            return toml::Table::new();
        }
    };
    for name in table.keys() {
        if !SECTIONS.contains(&name.as_str()) {
            problems.push(format!(
                "{}: unknown section [{name}]; expected [scheduler], [browser_pool] or [ai_router]",
                path.display()
            ));
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("drover-up-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_need_no_file_and_use_the_stand_in() {
        let config = UpConfig::load(&[], &env(&[])).expect("defaults are valid");
        assert_eq!(config.scheduler.listen.port(), 50051);
        assert_eq!(config.browser_pool.listen.port(), 0);
        assert_eq!(config.browser_pool.metrics_listen, None);
        assert!(matches!(config.ai, AiProvider::StandIn(_)));
    }

    #[test]
    fn sections_env_and_flags_layer_in_that_order() {
        let file = write(
            "layers.toml",
            r#"
            [scheduler]
            max_queued = 10
            lease_ms = 9000
            [browser_pool]
            browsers = 3
            pages_per_browser = 5
            [ai_router]
            cache_entries = 7
            "#,
        );
        let config = UpConfig::load(
            &args(&[
                "--config",
                file.to_str().unwrap(),
                "--browsers=1",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "off",
            ]),
            &env(&[
                ("DROVER_SCHEDULER_MAX_QUEUED", "20"),
                ("DROVER_BROWSER_POOL_PAGES_PER_BROWSER", "6"),
            ]),
        )
        .unwrap();
        assert_eq!(config.scheduler.max_queued, 20, "env beats the file");
        assert_eq!(config.scheduler.lease_ms, 9000, "the file beats defaults");
        assert_eq!(config.scheduler.listen.port(), 0, "flags beat everything");
        assert_eq!(config.scheduler.metrics_listen, None);
        assert_eq!(config.browser_pool.pool.browsers, 1);
        assert_eq!(config.browser_pool.pool.pages_per_browser, 6);
        let AiProvider::StandIn(table) = &config.ai else {
            panic!("no deployments: the stand-in");
        };
        let router = router_config(table, Some("http://127.0.0.1:1"), &env(&[])).unwrap();
        assert_eq!(router.cache_entries, 7);
        assert_eq!(router.listen.port(), 0);
    }

    #[test]
    fn a_provider_file_replaces_the_stand_in() {
        let file = write(
            "ai.toml",
            r#"
            [[deployments]]
            name = "real"
            base_url = "http://127.0.0.1:1/v1"
            model = "m"
            [[groups]]
            name = "default"
            deployments = ["real"]
            "#,
        );
        let config =
            UpConfig::load(&args(&["--ai-config", file.to_str().unwrap()]), &env(&[])).unwrap();
        let AiProvider::Configured(router) = config.ai else {
            panic!("configured");
        };
        assert_eq!(router.deployments[0].name, "real");
        let config = UpConfig::load(
            &[],
            &env(&[("DROVER_AI_ROUTER_CONFIG", file.to_str().unwrap())]),
        )
        .unwrap();
        assert!(matches!(config.ai, AiProvider::Configured(_)));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let file = write(
            "bad.toml",
            "[scheduler]\nlease_ms = 1\n[browser_pool]\nbrowsers = 0\n[ai_router]\ncache_entries = \"x\"\n[extra]\n",
        );
        let problems = UpConfig::load(
            &args(&["--config", file.to_str().unwrap(), "--bogus", "1"]),
            &env(&[]),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1, "flags first: {problems:?}");
        let problems = UpConfig::load(
            &args(&["--config", file.to_str().unwrap()]),
            &env(&[("DROVER_SCHEDULER_MAX_QUEUED", "lots")]),
        )
        .unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "unknown section [extra]",
            "scheduler: lease_ms",
            "browser pool: ",
            "browsers: 0 must be between 1 and 64",
            "ai-router (",
            "cache_entries: invalid type",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }
}
