//! `cargo xtask qemu`: boot the kernel in QEMU with the console on this terminal.

use crate::{
    board::{Board, CardSlot},
    bridge, build, deps, util,
};
use anyhow::{bail, Context, Result};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// Boot the kernel in QEMU with the console on this terminal.
#[derive(clap::Args)]
pub struct Args {
    /// The kernel to boot (real boards run on their closest QEMU machine).
    #[command(flatten)]
    build: build::Args,
    /// Serve MCP on this process's stdin/stdout (for an MCP client's server configuration);
    /// the console's other output goes to stderr.
    #[arg(long)]
    mcp: bool,
    /// Boot this prebuilt kernel8.img instead of building one (used by the tests).
    #[arg(long, hide = true)]
    image: Option<PathBuf>,
    /// Place this GGUF model in guest RAM for the kernel's `llm_*` tools.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Attach this disk image (e.g. from `cargo xtask image`) as the SD card (raspi3b,
    /// raspi4b) or as a virtio-blk disk (virt). The kernel reads and writes it: its
    /// settings file and model load at boot, the `fs_*` tools see its files.
    #[arg(long)]
    card: Option<PathBuf>,
    /// Attach a network device (virt: virtio-net; raspi3b: USB CDC-ECM) behind QEMU's
    /// user-mode network, and forward a host port (127.0.0.1 only) to the guest's MCP
    /// endpoint. Prints the URL and the bearer token on stderr.
    #[arg(long)]
    net: bool,
    /// Host port forwarded to the guest's port 80 (with --net).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Bearer token for MCP over HTTP (with --net; default: a fresh random one).
    #[arg(long)]
    token: Option<String>,
    /// Bearer token with the read role: read-only tools, resources, prompts (with --net;
    /// default: a fresh random one).
    #[arg(long)]
    read_token: Option<String>,
    /// With --net: attach the guest's NIC to this existing host TAP interface instead of the
    /// user-mode network (no port forwarding; the guest is a host on the TAP's link, where
    /// mDNS and a DHCP server work). Needs the TAP to exist (e.g. `ip tuntap add tap0 mode tap`).
    #[arg(long, value_name = "IFNAME")]
    tap: Option<String>,
    /// An extra line for the guest's settings (`key=value`, as in kingly.txt), e.g.
    /// `--setting net.mode=server --setting net.address=10.77.0.1/24`; repeatable.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Start an MQTT broker (Mosquitto on 127.0.0.1, installed from Debian's packages when
    /// missing) and N guests serving MCP over MQTT through it as `fleet/board1..N`, each in
    /// its own user-mode network with its console in target/fleet/boardN.log; Ctrl-C stops
    /// them all. The guests give MQTT clients the control role (the broker is reachable from
    /// this machine only); `--setting` lines go to every guest (`mqtt.role=read` to change it).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16))]
    fleet: Option<u8>,
    /// The broker's port with --fleet.
    #[arg(long, default_value_t = 1883)]
    broker_port: u16,
}

/// A random token from the host's entropy source.
pub fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A TCP port on 127.0.0.1 that is free now (for QEMU's host forwarding).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits (up to 90 s) until something answers HTTP on 127.0.0.1:`port`.
pub fn wait_http(port: u16, what: &str) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok();
            let _ = stream.write_all(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 9];
            if stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 " {
                return Ok(());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    bail!("{what} did not answer HTTP on port {port}")
}

/// QEMU booting `image` on `board` with its network device forwarded from host `port` and
/// `token` (and `token`-read as the read token) placed with the settings; no display or
/// monitor. The caller wires the serial port and the standard streams.
pub fn net_machine(board: Board, image: &Path, port: u16, token: &str) -> Result<Command> {
    let mut command = Command::new(deps::QEMU);
    command
        .args(machine_args(board, image)?)
        .args(net_args(board, port)?)
        .args(settings_args(board, &net_settings(board, token, &format!("{token}-read")))?)
        .args(["-display", "none", "-monitor", "none"]);
    Ok(command)
}

/// QEMU arguments that place `settings` (the text of a `kingly.txt`) in guest RAM with the
/// descriptor the kernel looks for (`kernel/src/storage.rs`): magic `KINGLYST`, length,
/// text, 64 KiB below the model descriptor.
pub fn settings_args(board: Board, settings: &str) -> Result<Vec<String>> {
    let (ram_base, _) = board.qemu_ram();
    let address = ram_base + 0x1000_0000 - 0x1_0000;
    let mut bytes = b"KINGLYST".to_vec();
    bytes.extend_from_slice(&(settings.len() as u64).to_le_bytes());
    bytes.extend_from_slice(settings.as_bytes());
    let dir = util::root().join("target/qemu-model");
    std::fs::create_dir_all(&dir)?;
    // One file per machine: --fleet starts several from this process.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = dir.join(format!("settings-{}-{}-{n}.bin", board.name(), std::process::id()));
    std::fs::write(&file, bytes)?;
    Ok(vec!["-device".into(), format!("loader,file={},addr={address:#x},force-raw=on", file.display())])
}

/// The settings text `--net` places in the guest: the token, and USB networking on
/// boards whose network adapter is on USB.
pub fn net_settings(board: Board, token: &str, read_token: &str) -> String {
    let mut text = format!("net.token = {token}\nnet.read_token = {read_token}\n");
    if board.facts().usb_network {
        text.push_str("net.usb = on\n");
    }
    text
}

/// QEMU arguments for the network device of `board` with `host_port` forwarded to port 80.
pub fn net_args(board: Board, host_port: u16) -> Result<Vec<String>> {
    nic_args(board, format!("user,id=n0,hostfwd=tcp:127.0.0.1:{host_port}-:80"))
}

/// QEMU arguments for the network device of `board` on the host TAP interface `tap`.
pub fn tap_args(board: Board, tap: &str) -> Result<Vec<String>> {
    if tap.is_empty() || !tap.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        bail!("--tap: '{tap}' is not an interface name");
    }
    nic_args(board, format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
}

fn nic_args(board: Board, netdev: String) -> Result<Vec<String>> {
    let Some(device) = board.facts().qemu_nic else {
        let with: Vec<&str> = crate::board::FACTS.iter().filter(|f| f.qemu_nic.is_some()).map(|f| f.name).collect();
        bail!("--net is not available on {} (use --board {})", board.name(), with.join(" or "));
    };
    Ok(vec!["-netdev".into(), netdev, "-device".into(), device.into()])
}

/// QEMU arguments that place `model` in guest RAM with the descriptor the kernel looks for
/// (`kernel/src/llm.rs`): magic `KINGLYMD`, address, length, at RAM base + 256 MiB.
pub fn model_args(board: Board, model: &Path) -> Result<Vec<String>> {
    let (ram_base, ram_end) = board.qemu_ram();
    let descriptor = ram_base + 0x1000_0000;
    let address = descriptor + 0x1000;
    let len = std::fs::metadata(model).with_context(|| format!("reading {}", model.display()))?.len();
    if address + len > ram_end {
        bail!(
            "{} is {} MiB; QEMU {} has room for {} MiB at {address:#x}",
            model.display(),
            len >> 20,
            board.name(),
            (ram_end - address) >> 20
        );
    }
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(b"KINGLYMD");
    bytes.extend_from_slice(&address.to_le_bytes());
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let dir = util::root().join("target/qemu-model");
    std::fs::create_dir_all(&dir)?;
    let descriptor_file = dir.join(format!("descriptor-{}-{}.bin", board.name(), std::process::id()));
    std::fs::write(&descriptor_file, bytes)?;
    Ok(vec![
        "-device".into(),
        format!("loader,file={},addr={address:#x},force-raw=on", model.display()),
        "-device".into(),
        format!("loader,file={},addr={descriptor:#x},force-raw=on", descriptor_file.display()),
    ])
}

/// QEMU arguments that attach the disk image `card`: the SD slot of the raspi machines, a
/// virtio-blk device on virt.
pub fn card_args(board: Board, card: &Path) -> Result<Vec<String>> {
    if !card.is_file() {
        bail!("{}: no such disk image", card.display());
    }
    let file = card.display();
    Ok(match board.emulated_by().facts().card_slot {
        CardSlot::VirtioBlk => vec![
            "-drive".into(),
            format!("if=none,id=card,format=raw,file={file}"),
            "-device".into(),
            "virtio-blk-device,drive=card".into(),
        ],
        CardSlot::Sd => vec!["-drive".into(), format!("if=sd,format=raw,file={file}")],
    })
}

/// QEMU arguments (after the binary) that boot `image` on `board` with semihosting, no
/// display, and no console wiring (the caller adds `-nographic` or `-serial stdio`).
pub fn machine_args(board: Board, image: &Path) -> Result<Vec<String>> {
    let Some(machine) = board.emulated_by().qemu_machine() else {
        bail!("board {} has no QEMU machine", board.name());
    };
    let mut args: Vec<String> = machine.iter().map(|s| s.to_string()).collect();
    args.extend(["-kernel".into(), image.display().to_string(), "-semihosting".into()]);
    Ok(args)
}

impl Args {
    pub fn run(self) -> Result<()> {
        let qemu_board = self.build.board.emulated_by();
        if qemu_board != self.build.board {
            eprintln!(
                "note: {} is a real board; booting its image on QEMU {}",
                self.build.board.name(),
                qemu_board.name()
            );
        }
        deps::ensure_qemu(qemu_board.name())?;
        let image = match self.image.clone() {
            Some(image) => image,
            None => self.build.run()?.image,
        };
        if let Some(count) = self.fleet {
            return fleet(qemu_board, &image, count, self.broker_port, &self.settings);
        }
        let mut qemu = Command::new(deps::QEMU);
        qemu.args(machine_args(self.build.board, &image)?);
        if let Some(model) = &self.model {
            qemu.args(model_args(qemu_board, model)?);
        }
        if let Some(card) = &self.card {
            qemu.args(card_args(qemu_board, card)?);
        }
        if (self.tap.is_some() || !self.settings.is_empty()) && !self.net {
            bail!("--tap and --setting go with --net");
        }
        if self.net {
            let token = match &self.token {
                Some(token) => token.clone(),
                None => random_token()?,
            };
            let read_token = match &self.read_token {
                Some(token) => token.clone(),
                None => random_token()?,
            };
            let mut text = net_settings(qemu_board, &token, &read_token);
            for line in &self.settings {
                if line.contains('\n') || !line.contains('=') {
                    bail!("--setting takes one key=value line, got '{line}'");
                }
                text.push_str(line);
                text.push('\n');
            }
            let (settings, warnings) = formats::settings::parse(text.as_bytes());
            if let Some(warning) = warnings.first() {
                bail!("--setting: {warning}");
            }
            if settings.net_token.as_deref() != Some(token.as_str()) {
                bail!("--token must be 16-128 characters of A-Z a-z 0-9 - _ .");
            }
            if settings.net_read_token.as_deref() != Some(read_token.as_str()) {
                bail!("--read-token must be 16-128 characters of A-Z a-z 0-9 - _ .");
            }
            match &self.tap {
                Some(tap) => {
                    qemu.args(tap_args(qemu_board, tap)?);
                    eprintln!(
                        "MCP over HTTP: the guest's address on {tap} (net_status), or http://{}.local/mcp",
                        settings.net_hostname
                    );
                }
                None => {
                    qemu.args(net_args(qemu_board, self.port)?);
                    eprintln!("MCP over HTTP: http://127.0.0.1:{}/mcp", self.port);
                }
            }
            qemu.args(settings_args(qemu_board, &text)?);
            eprintln!("token: {token}   (header  Authorization: Bearer {token})");
            eprintln!("read-only token: {read_token}");
        }
        if self.mcp {
            return serve_mcp(qemu);
        }
        qemu.arg("-nographic");
        eprintln!("booting {} in QEMU — quit with Ctrl-A then X (or type `power_off`)", qemu_board.name());
        util::echo(&qemu);
        let status = qemu.status()?;
        if !status.success() {
            bail!("QEMU exited with {status}");
        }
        Ok(())
    }
}

/// A guest of a fleet: QEMU, its console file, its HTTP endpoint and token.
pub struct FleetGuest {
    pub qemu: testkit::process::Guard,
    pub console: PathBuf,
    pub url: String,
    pub token: String,
}

/// Starts guest `n` of a fleet: `board` booting `image`, serving MCP over MQTT as
/// `fleet/board<n>` through the broker on the host's `broker_port` (10.0.2.2 from the guest)
/// and over HTTP on a free host port, with `extra` settings lines, its console in `dir`.
pub fn fleet_guest(
    board: Board,
    image: &Path,
    n: u8,
    broker_port: u16,
    extra: &[String],
    dir: &Path,
) -> Result<FleetGuest> {
    let port = free_port()?;
    let token = random_token()?;
    let mut text = net_settings(board, &token, &random_token()?);
    text.push_str(&format!(
        "net.hostname = board{n}\nmqtt.broker = 10.0.2.2:{broker_port}\nmqtt.name = fleet/board{n}\n"
    ));
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    let (_, warnings) = formats::settings::parse(text.as_bytes());
    if let Some(warning) = warnings.first() {
        bail!("--setting: {warning}");
    }
    let console = dir.join(format!("board{n}.log"));
    let mut qemu = Command::new(deps::QEMU);
    qemu.args(machine_args(board, image)?)
        .args(net_args(board, port)?)
        .args(settings_args(board, &text)?)
        .args(["-display", "none", "-monitor", "none", "-serial"])
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null());
    let qemu = testkit::process::Guard::kill(qemu.spawn()?);
    Ok(FleetGuest { qemu, console, url: format!("http://127.0.0.1:{port}/mcp"), token })
}

/// Mosquitto on 127.0.0.1:`port` (anonymous: only this machine reaches it), its
/// configuration and log in `dir`; returns once it accepts connections.
pub fn local_broker(dir: &Path, port: u16) -> Result<testkit::process::Guard> {
    let mosquitto = deps::ensure_mosquitto()?;
    // A broker already there would answer in place of ours.
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!("port {port} is in use (another MQTT broker?): choose one with --broker-port");
    }
    std::fs::create_dir_all(dir)?;
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"),
    )?;
    let log = std::fs::File::create(dir.join("mosquitto.log"))?;
    let broker = testkit::process::Guard::kill(
        Command::new(&mosquitto).arg("-c").arg(&config).stdout(log.try_clone()?).stderr(log).spawn()?,
    );
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(broker);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("mosquitto did not start on port {port} (see {})", dir.join("mosquitto.log").display())
}

/// `--fleet N`: Mosquitto on 127.0.0.1:`broker_port` and `count` guests wired to it.
fn fleet(board: Board, image: &Path, count: u8, broker_port: u16, extra: &[String]) -> Result<()> {
    if board.facts().qemu_nic.is_none() {
        bail!("--fleet needs a board with a QEMU network device (use --board virt)");
    }
    let dir = util::root().join("target/fleet");
    let mut children = vec![local_broker(&dir, broker_port)?];
    eprintln!("broker: mqtt://127.0.0.1:{broker_port} (Mosquitto, log in {})", dir.join("mosquitto.log").display());
    for n in 1..=count {
        let mut settings = vec!["mqtt.role = control".to_string()];
        settings.extend(extra.iter().cloned());
        let guest = fleet_guest(board, image, n, broker_port, &settings, &dir)?;
        eprintln!(
            "fleet/board{n}: console {}, MCP over HTTP {} (token {})",
            guest.console.display(),
            guest.url,
            guest.token
        );
        children.push(guest.qemu);
    }
    eprintln!("{count} guest(s) up; Ctrl-C stops the broker and every guest");
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let _ = ctrlc::set_handler(move || {
        for pid in &pids {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        std::process::exit(130);
    });
    // Until a guest or the broker ends.
    loop {
        for child in &mut children {
            if let Some(status) = child.try_wait()? {
                bail!("a fleet process ended ({status}); stopping the others");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Runs QEMU with its console on pipes and bridges MCP between them and our stdio.
fn serve_mcp(mut qemu: Command) -> Result<()> {
    qemu.args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    util::echo(&qemu);
    // Killed when dropped, so no error path leaves QEMU running.
    let mut child = testkit::process::Guard::kill(qemu.spawn()?);
    // MCP clients stop their server with SIGTERM (or Ctrl-C): take QEMU down too, since
    // destructors do not run on a signal.
    let pid = child.id();
    let _ = ctrlc::set_handler(move || {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        std::process::exit(143);
    });
    let (Some(device_in), Some(device_out)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("QEMU's console pipes are missing");
    };
    eprintln!("serving MCP on stdin/stdout; close stdin to stop");
    bridge::run(device_out, device_in, false)?;
    // The client closed its side: the session is over, so QEMU goes too (on drop).
    drop(child);
    Ok(())
}
