//! MCP over MQTT: three QEMU virt guests, each in its own user-mode network, serve their
//! tools through Mosquitto on 127.0.0.1 (with a password file: strangers are refused).
//! `fleet_client.py` (paho-mqtt, independent of the kernel's MQTT code) initializes each
//! board over EMQX's MCP-over-MQTT topics, calls tools, checks that a board's messages run
//! on it only, and asks this test to kill a guest (its last will takes it offline), start
//! it again, and restart the broker (every board reconnects). Then `gateway_client.py` (the
//! official Python MCP SDK) checks `cargo xtask fleet`: one stdio endpoint, tools namespaced
//! by board, `fleet_list`, `fleet_call`, list changes as a guest leaves and comes back.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use testkit::process::Guard;

const BOARDS: usize = 3;
const USER: &str = "fleet";

/// Mosquitto on 127.0.0.1:`port` with a password file in `dir`.
fn broker(mosquitto: &Path, dir: &Path, port: u16) -> Guard {
    let config = dir.join("mosquitto.conf");
    let log = std::fs::File::create(dir.join("mosquitto.log")).expect("broker log");
    let child = Guard::kill(
        Command::new(mosquitto)
            .arg("-c")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("mosquitto starts"),
    );
    // Ready when it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "mosquitto did not listen on {port}: {}",
        std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default()
    );
}

/// Guest `n` (1-based), serving MCP over MQTT as `fleet/board<n>`, and over HTTP on the
/// returned host port with the returned token.
fn guest(xtask: &Path, image: &Path, n: usize, broker_port: u16, password: &str) -> (Guard, u16, String) {
    let port = kingly_tests::free_port();
    let token = format!("fleet-token-{}-{n}-{port}", std::process::id());
    let mut child = Command::new(xtask)
        .args(["qemu", "--board", "virt", "--mcp", "--net", "--port", &port.to_string(), "--token", &token])
        .args(["--setting", &format!("mqtt.broker=10.0.2.2:{broker_port}")])
        .args(["--setting", &format!("mqtt.username={USER}"), "--setting", &format!("mqtt.password={password}")])
        .args(["--setting", &format!("mqtt.name=fleet/board{n}"), "--setting", &format!("net.hostname=board{n}")])
        // Board 1 lets MQTT clients change it; the others keep the default read role.
        .args(["--setting", if n == 1 { "mqtt.role=control" } else { "mqtt.role=read" }])
        .arg("--image")
        .arg(image)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("xtask starts");
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    (Guard::close_stdin(child, Duration::from_secs(20)), port, token)
}

/// Ends guest `child` as a crash would: its MCP bridge takes QEMU down on SIGTERM, and the
/// guest never sends DISCONNECT.
fn kill(mut child: Guard) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _: Option<std::process::ExitStatus> = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().ok().flatten()
    });
}

#[test]
fn three_boards_serve_mcp_over_mqtt_through_one_broker() {
    let Some(images) = kingly_tests::image_dir() else { return };
    let Some(xtask) = kingly_tests::xtask() else { return };
    let Some(python) = kingly_tests::python() else { return };
    let Some(mosquitto) = testkit::env_path("KINGLY_MOSQUITTO") else { return };
    let image = images.join("virt-test/kernel8.img");
    let dir = std::env::temp_dir().join(format!("kingly-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let password = format!("pw-{}", std::process::id());
    let passwd = dir.join("passwd");
    let passwd_tool = mosquitto.parent().and_then(Path::parent).map(|usr| usr.join("bin/mosquitto_passwd"));
    let passwd_tool = passwd_tool.filter(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("mosquitto_passwd"));
    let made = Command::new(&passwd_tool).args(["-c", "-b"]).arg(&passwd).args([USER, &password]).status();
    assert!(made.is_ok_and(|s| s.success()), "{} could not write the password file", passwd_tool.display());
    let port = kingly_tests::free_port();
    std::fs::write(
        dir.join("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence false\nset_tcp_nodelay true\nlog_type all\n",
            passwd.display()
        ),
    )
    .expect("config");
    let mqtt = Some(broker(&mosquitto, &dir, port));
    let mut guests: Vec<Option<Guard>> = Vec::new();
    let mut board1_http = None;
    for n in 1..=BOARDS {
        let (guard, http_port, token) = guest(&xtask, &image, n, port, &password);
        board1_http.get_or_insert((format!("http://127.0.0.1:{http_port}/mcp"), token));
        guests.push(Some(guard));
    }
    let (http_url, http_token) = board1_http.expect("a guest");

    let mut fleet =
        Fleet { guests, mqtt, xtask: xtask.clone(), image, port, password: password.clone(), mosquitto, dir };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fleet_client.py");
    let mut direct = Command::new(&python);
    direct.arg(script).args(["127.0.0.1", &port.to_string(), USER, &password, &BOARDS.to_string()]);
    direct.args([&http_url, &http_token]);
    fleet.drive(direct, "MCP over MQTT (paho-mqtt client)");
    // The gateway, through the official Python SDK over stdio.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/gateway_client.py");
    let mut gateway = Command::new(&python);
    gateway.arg(script).arg(&xtask).args([&format!("mqtt://127.0.0.1:{port}"), USER, &password, &BOARDS.to_string()]);
    fleet.drive(gateway, "the fleet gateway (Python SDK client)");
    let _ = std::fs::remove_dir_all(&fleet.dir);
}

/// The guests, the broker, and what it takes to start them again.
struct Fleet {
    guests: Vec<Option<Guard>>,
    mqtt: Option<Guard>,
    xtask: PathBuf,
    image: PathBuf,
    port: u16,
    password: String,
    mosquitto: PathBuf,
    dir: PathBuf,
}

impl Fleet {
    /// Runs a client script to its end, doing what it asks (`do: ...`); fails the test with
    /// its transcript and the broker's last lines unless it passed.
    fn drive(&mut self, mut command: Command, what: &str) {
        let mut client: Child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("python starts");
        let mut to_client = client.stdin.take().expect("stdin");
        let mut transcript = String::new();
        for line in BufReader::new(client.stdout.take().expect("stdout")).lines() {
            let Ok(line) = line else { break };
            transcript.push_str(&line);
            transcript.push('\n');
            if line.starts_with("figure:") || std::env::var_os("KINGLY_VERBOSE").is_some() {
                eprintln!("{line}");
            }
            let Some(action) = line.strip_prefix("do: ") else { continue };
            match action.split_whitespace().collect::<Vec<_>>()[..] {
                ["kill", n] => {
                    let n: usize = n.parse().expect("a guest number");
                    if let Some(g) = self.guests[n - 1].take() {
                        kill(g);
                    }
                }
                ["start", n] => {
                    let n: usize = n.parse().expect("a guest number");
                    self.guests[n - 1] = Some(guest(&self.xtask, &self.image, n, self.port, &self.password).0);
                }
                ["restart-broker"] => {
                    drop(self.mqtt.take());
                    std::thread::sleep(Duration::from_secs(1));
                    self.mqtt = Some(broker(&self.mosquitto, &self.dir, self.port));
                }
                _ => panic!("unknown request from the client: {line}"),
            }
            let _ = writeln!(to_client, "done");
        }
        let status = client.wait().expect("client ends");
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut client.stderr.take().expect("stderr"), &mut stderr);
        if status.success() && transcript.contains("all checks passed") {
            return;
        }
        self.guests.clear();
        drop(self.mqtt.take());
        let broker_log = std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
        let tail: Vec<&str> = broker_log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{what} failed ({status}):\n{transcript}\n--- stderr ---\n{stderr}\n--- broker (last lines) ---\n{}",
            tail.join("\n")
        );
    }
}
