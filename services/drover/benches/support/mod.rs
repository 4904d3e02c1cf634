//! What the `drover` benches share: starting `drover` subcommands as separate processes (and
//! stopping them), and the percentile arithmetic of their tables.

// Each bench compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A `drover` child process, stopped with SIGTERM (then SIGKILL after a minute) when dropped.
pub struct Process(Child);

impl Process {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `drover ARGS` (logging errors only) and returns it with what follows `marker` on the
/// first stdout line containing it; later output is drained so the child never blocks on a
/// full pipe.
pub fn start(args: &[&str], marker: &str) -> Result<(Process, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("DROVER_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start drover {}: {e}", args[0]))?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let process = Process(child);
    let found = loop {
        let Some(Ok(line)) = lines.next() else {
            return Err(format!("drover {} stopped before it was ready", args[0]));
        };
        if let Some((_, rest)) = line.split_once(marker) {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((process, found))
}

/// The `p`th percentile (0..=100) of `values`, nearest rank; zero for none.
pub fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort_unstable();
    if values.is_empty() {
        return Duration::ZERO;
    }
    values[((p / 100.0) * (values.len() - 1) as f64).round() as usize]
}

/// A bench's exit status: success, or its error on stderr and failure.
pub fn exit_code(bench: &str, outcome: Result<(), String>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bench} bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}
