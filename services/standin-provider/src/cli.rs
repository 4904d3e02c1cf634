//! The `drover-standin-provider` command line, as a library function so that the
//! `drover-standin-provider` binary and `drover standin-provider` run the same code. Flags:
//! `--listen ADDR` (default 127.0.0.1:8089; port 0 picks one), `--api-key KEY` (or
//! `DROVER_STANDIN_API_KEY`), `--behavior SPEC` (the default behaviour). Prints
//! `drover-standin-provider: a stand-in for an OpenAI-compatible provider, listening on
//! http://ADDR` on stdout once bound.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use crate::{Behavior, STARTUP_LABEL, StandInConfig, serve};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The usage line.
pub const USAGE: &str =
    "usage: drover-standin-provider [--listen ADDR] [--api-key KEY] [--behavior SPEC]";

struct Flags {
    listen: SocketAddr,
    config: StandInConfig,
}

/// Parses the flags, reporting every problem at once.
fn parse_flags(args: impl Iterator<Item = String>) -> Result<Flags, Vec<String>> {
    let mut listen = String::from("127.0.0.1:8089");
    let mut config = StandInConfig {
        api_key: std::env::var("DROVER_STANDIN_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
        ..StandInConfig::default()
    };
    let mut problems = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let slot = match name.as_str() {
            "--listen" => &mut listen,
            "--behavior" => &mut config.behavior,
            "--api-key" => config.api_key.insert(String::new()),
            "-h" | "--help" => {
                problems.push(USAGE.to_owned());
                continue;
            }
            _ => {
                problems.push(format!("unknown flag `{arg}`"));
                continue;
            }
        };
        match inline.or_else(|| args.next()) {
            Some(value) => *slot = value,
            None => problems.push(format!("`{name}` needs a value")),
        }
    }
    let listen = listen
        .parse()
        .map_err(|e| problems.push(format!("--listen `{listen}`: {e}")))
        .ok();
    if let Err(e) = Behavior::parse(&config.behavior) {
        problems.push(format!("--behavior: {e}"));
    }
    match listen {
        Some(listen) if problems.is_empty() => Ok(Flags { listen, config }),
        _ => Err(problems),
    }
}

/// Runs the stand-in as the `drover-standin-provider` binary does, with `args` (without the
/// program name): flags, bind, the startup line on stdout, serve until SIGTERM or SIGINT.
/// Exit codes: 0 after a signal, 2 on bad flags, 1 otherwise. The caller installs the tracing
/// subscriber and the Tokio runtime.
pub async fn main(args: Vec<String>) -> ExitCode {
    let flags = match parse_flags(args.into_iter()) {
        Ok(flags) => flags,
        Err(problems) => {
            for problem in problems {
                eprintln!("drover-standin-provider: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(flags.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "drover-standin-provider: cannot listen on {}: {error}",
                flags.listen
            );
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(flags.listen);
    // Stdout carries exactly this line, flushed, so a parent process can read the address.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{STARTUP_LABEL}, listening on http://{addr}");
    let _ = stdout.flush();

    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, flags.config, shutdown.clone()));
    wait_for_signal().await;
    tracing::info!("stand-in provider: shutting down");
    shutdown.cancel();
    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("drover-standin-provider: {error}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("drover-standin-provider: server task failed: {error}");
            ExitCode::from(1)
        }
    }
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, Vec<String>> {
        parse_flags(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_parse_in_both_forms() {
        let flags = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--behavior=latency=5ms",
            "--api-key",
            "k",
        ])
        .unwrap();
        assert_eq!(flags.listen.port(), 0);
        assert_eq!(flags.config.behavior, "latency=5ms");
        assert_eq!(flags.config.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = parse(&["--listen", "nowhere", "--behavior", "stauts=500", "--bogus"])
            .err()
            .unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(parse(&["--api-key"]).is_err());
    }
}
