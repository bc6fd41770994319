//! `cargo xtask serial`: serve MCP on stdin/stdout for a real board on a serial port (the
//! same bridge as `cargo xtask qemu --mcp`).

use crate::{bridge, util};
use anyhow::{bail, Context, Result};
use std::{fs::OpenOptions, path::PathBuf, process::Command};

/// Bridge a board's serial console to MCP on stdin/stdout.
#[derive(clap::Args)]
pub struct Args {
    /// Serial device, e.g. /dev/ttyUSB0.
    #[arg(long)]
    port: PathBuf,
    /// Line speed.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// The board may have booted before the bridge connected: send an empty line every
    /// second until the kernel answers with its prompt.
    #[arg(long)]
    no_wait: bool,
}

impl Args {
    pub fn run(self) -> Result<()> {
        if !self.port.exists() {
            bail!("{} does not exist (is the USB serial adapter plugged in?)", self.port.display());
        }
        // Raw mode, no echo, the requested speed: what the kernel's PL011 expects.
        let mut stty = Command::new("stty");
        // GNU stty names the device with -F, the BSD stty of macOS with -f.
        let device_flag = if cfg!(target_os = "macos") { "-f" } else { "-F" };
        stty.arg(device_flag).arg(&self.port).args([
            &self.baud.to_string(),
            "raw",
            "-echo",
            "-echoe",
            "-echok",
            "-hupcl",
            "clocal",
        ]);
        util::run(&mut stty).context("configuring the serial port with stty")?;
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.port)
            .with_context(|| format!("opening {}", self.port.display()))?;
        let reader = device.try_clone()?;
        eprintln!("serving MCP for {} on stdin/stdout; close stdin to stop", self.port.display());
        bridge::run(reader, device, self.no_wait)
    }
}
