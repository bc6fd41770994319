//! Helpers: running commands visibly, locating the workspace.

use anyhow::{bail, Context, Result};
use std::{
    io::Write,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Prints a command as `$ ...` on stderr.
pub fn echo(command: &Command) {
    let mut line = String::from("$");
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            line.push_str(&format!(" {}={}", key.to_string_lossy(), value.to_string_lossy()));
        }
    }
    line.push(' ');
    line.push_str(&command.get_program().to_string_lossy());
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') {
            line.push_str(&format!(" '{arg}'"));
        } else {
            line.push_str(&format!(" {arg}"));
        }
    }
    eprintln!("{line}");
}

/// Runs a command to completion, failing on a non-zero exit.
pub fn run(command: &mut Command) -> Result<()> {
    echo(command);
    let status = command.status().with_context(|| format!("cannot start {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{:?} failed with {status}", command.get_program());
    }
    Ok(())
}

/// The `cargo` that runs us.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// A progress bar on stderr for long host work (redrawn at most ten times a second).
pub struct Progress {
    label: String,
    /// Counted in bytes (shown in MiB) rather than items.
    bytes: bool,
    total: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// A bar for `total` bytes (shown in MiB).
    pub fn new(label: &str, total: u64) -> Progress {
        Progress {
            label: label.into(),
            bytes: true,
            total: total.max(1),
            done: 0,
            started: Instant::now(),
            drawn: None,
        }
    }

    /// A bar for `total` items (runs, files...).
    pub fn items(label: &str, total: u64) -> Progress {
        Progress { bytes: false, ..Progress::new(label, total) }
    }

    /// `units` more are done.
    pub fn advance(&mut self, units: u64) {
        self.done = (self.done + units).min(self.total);
        if self.drawn.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            self.draw();
        }
    }

    fn draw(&mut self) {
        const WIDTH: usize = 30;
        let filled = (self.done as f64 / self.total as f64 * WIDTH as f64) as usize;
        let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '.' }).collect();
        let (done, total, unit) =
            if self.bytes { (self.done >> 20, self.total >> 20, " MiB") } else { (self.done, self.total, "") };
        eprint!(
            "\r{} [{bar}] {:3.0}% {done}/{total}{unit} {:.1} s",
            self.label,
            self.done as f64 / self.total as f64 * 100.0,
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        self.drawn = Some(Instant::now());
    }

    /// Draws the final state and ends the line.
    pub fn finish(mut self) {
        self.done = self.total;
        self.draw();
        eprintln!();
    }
}
