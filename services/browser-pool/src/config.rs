//! The browser-pool's configuration, loaded once: defaults < TOML file < environment
//! (`DROVER_BROWSER_POOL_<NAME>`) < command-line flags (`--<name> value`). Every problem in
//! every source is reported at once, naming the source and the setting.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `config` | — | a TOML file of these settings (flag or env only) |
//! | `listen` | `127.0.0.1:50061` | gRPC address (`:0` picks a free port) |
//! | `metrics_listen` | `127.0.0.1:9461` | Prometheus `/metrics` address, or `off` |
//! | `browsers` | 2 | browsers kept running |
//! | `pages_per_browser` | 4 | tasks one browser runs at once |
//! | `max_waiting` | 256 | tasks that may wait for a page before RESOURCE_EXHAUSTED |
//! | `chromium` | `/usr/lib/chromium/chromium-headless-shell` if installed, else `/usr/lib/chromium/chromium` | the Chromium binary |
//! | `profiles_root` | `$TMPDIR/drover-bp` | where browser profiles live (keep it short) |
//! | `idle_pages` | 4 | idle pages kept per browser |
//! | `spare_isolated_contexts` | 2 | isolated contexts kept ready per browser |
//! | `max_contexts` | 32 | shared/session contexts kept per browser |
//! | `max_tasks_per_browser` | 1000 | recycle after this many tasks (0: never) |
//! | `max_browser_age_secs` | 3600 | recycle after this age |
//! | `max_browser_memory_mb` | 1536 | recycle above this process-tree memory |
//! | `memory_high_watermark` | 0.75 | stop taking work above this share of memory used |
//! | `default_task_timeout_secs` | 300 | a job's time limit when it names none |
//! | `drain_grace_secs` | 60 | on SIGTERM, how long running tasks may finish |
//! | `allow_link_local` | false | allow link-local and cloud-metadata addresses |
//! | `deferred_reset` | true | park a returned shared/session page with its document and let the next task's first navigate replace it; false: navigate it to about:blank at once |
//! | `freeze_parked_after_ms` | 1000 | how long a parked page stays running before it is frozen (0: at once) |
//! | `collect_garbage_every` | 16 | give every Nth page a browser parks a full JavaScript garbage collection (0: never) |
//! | `scheduler` | — | also take browser work from this scheduler (`http://host:port`) |
//! | `worker_id` | `browser-<pid>` | the worker's name at the scheduler |
//! | `worker_slots` | browsers × pages | assignments run at once for the scheduler |

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use crate::pool::PoolConfig;

/// Where environment variables come from (injectable, so tests never touch the process env).
pub trait EnvSource {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The service's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC address.
    pub listen: SocketAddr,
    /// Prometheus endpoint address; `None` turns it off.
    pub metrics_listen: Option<SocketAddr>,
    /// How long running tasks may finish after SIGTERM.
    pub drain_grace: Duration,
    /// The pool.
    pub pool: PoolConfig,
    /// The scheduler to take work from, if any.
    pub scheduler: Option<String>,
    /// The worker's name at the scheduler.
    pub worker_id: String,
    /// Assignments run at once for the scheduler; `None`: every page slot.
    pub worker_slots: Option<u32>,
}

/// Every setting's name, as used in the file (`name`), env (`DROVER_BROWSER_POOL_NAME`) and
/// flags (`--name`).
const SETTINGS: &[&str] = &[
    "listen",
    "metrics_listen",
    "browsers",
    "pages_per_browser",
    "max_waiting",
    "chromium",
    "profiles_root",
    "idle_pages",
    "spare_isolated_contexts",
    "max_contexts",
    "max_tasks_per_browser",
    "max_browser_age_secs",
    "max_browser_memory_mb",
    "memory_high_watermark",
    "default_task_timeout_secs",
    "drain_grace_secs",
    "allow_link_local",
    "deferred_reset",
    "freeze_parked_after_ms",
    "collect_garbage_every",
    "scheduler",
    "worker_id",
    "worker_slots",
];

const ENV_PREFIX: &str = "DROVER_BROWSER_POOL_";

/// All the problems found while loading.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Loads from `args` (without the program name), the environment and the file they name.
    pub fn load(args: &[String], env: &dyn EnvSource) -> Result<Self, ConfigError> {
        Self::load_layers(args, env, None)
    }

    /// Loads like [`Config::load`], except that the file layer is `table` (a TOML table of these
    /// settings, called `source` in messages) rather than a file named by `--config` or
    /// `DROVER_BROWSER_POOL_CONFIG` (the flag is refused, the variable not read). For programs that
    /// embed the pool and hold its settings in a section of their own file (`drover up`).
    pub fn load_with_table(
        args: &[String],
        env: &dyn EnvSource,
        source: &str,
        table: toml::Table,
    ) -> Result<Self, ConfigError> {
        Self::load_layers(args, env, Some((source, table)))
    }

    fn load_layers(
        args: &[String],
        env: &dyn EnvSource,
        table: Option<(&str, toml::Table)>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        // (setting → (value, where it came from)), later sources overriding earlier ones.
        let mut values: BTreeMap<String, (String, String)> = BTreeMap::new();
        let flags = parse_flags(args, &mut problems);
        match table {
            Some((source, table)) => {
                if flags.contains_key("config") {
                    problems.push(format!("flag --config: settings come from {source} here"));
                }
                insert_table(table, source, &mut values, &mut problems);
            }
            None => {
                let file = flags
                    .get("config")
                    .map(|(value, _)| value.clone())
                    .or_else(|| env.var(&format!("{ENV_PREFIX}CONFIG")));
                if let Some(path) = file {
                    read_file(&path, &mut values, &mut problems);
                }
            }
        }
        for name in SETTINGS {
            let var = format!("{ENV_PREFIX}{}", name.to_uppercase());
            if let Some(value) = env.var(&var) {
                values.insert((*name).to_owned(), (value, format!("env {var}")));
            }
        }
        for (name, (value, typed)) in flags {
            if name != "config" {
                values.insert(name, (value, format!("flag --{typed}")));
            }
        }
        let mut config = Config::default();
        for (name, (value, source)) in &values {
            if let Err(why) = config.set(name, value) {
                problems.push(format!("{source}: {why}"));
            }
        }
        config.check(&mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let pool = &mut self.pool;
        match name {
            "listen" => self.listen = parse(value)?,
            "metrics_listen" => {
                self.metrics_listen = if value == "off" {
                    None
                } else {
                    Some(parse(value)?)
                };
            }
            "browsers" => pool.browsers = ranged(value, 1, 64)?,
            "pages_per_browser" => pool.pages_per_browser = ranged(value, 1, 64)?,
            "max_waiting" => pool.max_waiting = ranged(value, 0, 100_000)?,
            "chromium" => pool.launch.executable = PathBuf::from(value),
            "profiles_root" => pool.launch.profiles_root = PathBuf::from(value),
            "idle_pages" => pool.actor.idle_pages = ranged(value, 0, 256)?,
            "spare_isolated_contexts" => pool.actor.spare_isolated = ranged(value, 0, 16)?,
            "max_contexts" => pool.actor.max_contexts = ranged(value, 1, 1024)?,
            "max_tasks_per_browser" => pool.max_tasks_per_browser = parse(value)?,
            "max_browser_age_secs" => {
                pool.max_browser_age = Duration::from_secs(ranged(value, 10, 7 * 86_400)?)
            }
            "max_browser_memory_mb" => {
                pool.max_browser_memory_bytes = ranged::<u64>(value, 64, 1 << 20)? * 1024 * 1024;
            }
            "memory_high_watermark" => {
                let ratio: f64 = parse(value)?;
                if !(0.1..=1.0).contains(&ratio) {
                    return Err(format!("{ratio} must be between 0.1 and 1.0"));
                }
                pool.memory_high_watermark = ratio;
            }
            "default_task_timeout_secs" => {
                pool.default_task_timeout = Duration::from_secs(ranged(value, 1, 86_400)?);
            }
            "drain_grace_secs" => self.drain_grace = Duration::from_secs(ranged(value, 0, 3600)?),
            "allow_link_local" => pool.url_policy.allow_link_local = parse(value)?,
            "deferred_reset" => pool.actor.deferred_reset = parse(value)?,
            "collect_garbage_every" => {
                pool.actor.collect_garbage_every = ranged(value, 0, 1_000_000)?;
            }
            "freeze_parked_after_ms" => {
                pool.actor.freeze_after = Duration::from_millis(ranged(value, 0, 3_600_000)?);
            }
            "scheduler" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(format!("{value:?} must be an http:// or https:// URL"));
                }
                self.scheduler = Some(value.to_owned());
            }
            "worker_id" => {
                if value.is_empty() || value.len() > 128 {
                    return Err("must be 1 to 128 characters".to_owned());
                }
                self.worker_id = value.to_owned();
            }
            "worker_slots" => self.worker_slots = Some(ranged(value, 1, 4096)?),
            other => return Err(format!("unknown setting {other:?}")),
        }
        Ok(())
    }

    fn check(&self, problems: &mut Vec<String>) {
        if !self.pool.launch.executable.exists() {
            problems.push(format!(
                "chromium: {} does not exist (install Debian's chromium, or set --chromium)",
                self.pool.launch.executable.display()
            ));
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50061)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9461))),
            drain_grace: Duration::from_secs(60),
            pool: PoolConfig::default(),
            scheduler: None,
            worker_id: format!("browser-{}", std::process::id()),
            worker_slots: None,
        }
    }
}

fn parse<T: std::str::FromStr>(value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e| format!("{value:?}: {e}"))
}

fn ranged<T>(value: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    T::Err: std::fmt::Display,
{
    let parsed: T = parse(value)?;
    if parsed < min || parsed > max {
        return Err(format!("{parsed} must be between {min} and {max}"));
    }
    Ok(parsed)
}

/// `--name value` and `--name=value`; names may use `-` or `_`. Maps each setting to its
/// value and the flag as the user typed it (for messages).
fn parse_flags(args: &[String], problems: &mut Vec<String>) -> BTreeMap<String, (String, String)> {
    let mut flags = BTreeMap::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            problems.push(format!(
                "unexpected argument {arg:?}; settings are --name value"
            ));
            continue;
        };
        let (typed, value) = match flag.split_once('=') {
            Some((typed, value)) => (typed, Some(value.to_owned())),
            None => (flag, args.next().cloned()),
        };
        let name = typed.replace('-', "_");
        if name != "config" && !SETTINGS.contains(&name.as_str()) {
            problems.push(format!("flag --{typed}: unknown setting"));
            continue;
        }
        match value {
            Some(value) => drop(flags.insert(name, (value, typed.to_owned()))),
            None => problems.push(format!("flag --{typed}: needs a value")),
        }
    }
    flags
}

fn read_file(
    path: &str,
    values: &mut BTreeMap<String, (String, String)>,
    problems: &mut Vec<String>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return problems.push(format!("config file {path}: {e}")),
    };
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(e) => return problems.push(format!("config file {path}: {e}")),
    };
    insert_table(table, &format!("config file {path}"), values, problems);
}

/// The settings of one TOML table, as the layer called `source`.
fn insert_table(
    table: toml::Table,
    source: &str,
    values: &mut BTreeMap<String, (String, String)>,
    problems: &mut Vec<String>,
) {
    for (name, value) in table {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                problems.push(format!(
                    "{source}: {name}: expected a string, number or boolean, got a {}",
                    other.type_str()
                ));
                continue;
            }
        };
        values.insert(name.clone(), (text, format!("{source}: {name}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn sources_layer_defaults_file_env_flags() {
        let dir = std::env::temp_dir().join(format!("bp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pool.toml");
        std::fs::write(
            &file,
            "browsers = 3\npages_per_browser = 5\nmetrics_listen = \"off\"\n",
        )
        .unwrap();
        let env = BTreeMap::from([
            (
                "DROVER_BROWSER_POOL_CONFIG".to_owned(),
                file.display().to_string(),
            ),
            (
                "DROVER_BROWSER_POOL_PAGES_PER_BROWSER".to_owned(),
                "6".to_owned(),
            ),
            ("DROVER_BROWSER_POOL_BROWSERS".to_owned(), "4".to_owned()),
        ]);
        let config =
            Config::load(&args(&["--browsers", "1", "--listen=127.0.0.1:0"]), &env).unwrap();
        assert_eq!(config.pool.browsers, 1, "flag beats env beats file");
        assert_eq!(config.pool.pages_per_browser, 6, "env beats file");
        assert_eq!(config.metrics_listen, None, "file beats defaults");
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.pool.max_waiting, 256, "defaults fill the rest");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_table_can_stand_for_the_file() {
        let table: toml::Table = "browsers = 3\npages_per_browser = 5\nworker_slots = \"x\"\n"
            .parse()
            .unwrap();
        let env = BTreeMap::from([
            (
                "DROVER_BROWSER_POOL_CONFIG".to_owned(),
                "/no/such/file".to_owned(),
            ),
            ("DROVER_BROWSER_POOL_BROWSERS".to_owned(), "4".to_owned()),
        ]);
        let err = Config::load_with_table(
            &args(&["--pages-per-browser", "2"]),
            &env,
            "[pool]",
            table.clone(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("[pool]: worker_slots: \"x\""), "{err}");
        assert!(
            !err.contains("/no/such/file"),
            "the file variable is not read: {err}"
        );
        let mut table = table;
        table.remove("worker_slots");
        let config =
            Config::load_with_table(&args(&["--pages-per-browser", "2"]), &env, "[pool]", table)
                .unwrap();
        assert_eq!(config.pool.browsers, 4, "env beats the table");
        assert_eq!(config.pool.pages_per_browser, 2, "flags beat the table");
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_source() {
        let env = BTreeMap::from([(
            "DROVER_BROWSER_POOL_MEMORY_HIGH_WATERMARK".to_owned(),
            "7".to_owned(),
        )]);
        let err = Config::load(
            &args(&[
                "--browsers",
                "0",
                "--bogus",
                "1",
                "--listen",
                "nowhere",
                "--chromium",
                "/no/such/chromium",
            ]),
            &env,
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "flag --browsers: 0 must be between 1 and 64",
            "flag --bogus: unknown setting",
            "flag --listen: \"nowhere\"",
            "env DROVER_BROWSER_POOL_MEMORY_HIGH_WATERMARK: 7 must be between 0.1 and 1.0",
            "chromium: /no/such/chromium does not exist",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }
}
