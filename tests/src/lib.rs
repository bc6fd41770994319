//! QEMU test harness: boots the real kernel image and talks to its serial console.
//!
//! `cargo xtask test` builds test images (kernel feature `test-hooks`) for every QEMU
//! board, writes the QEMU command line next to each image (`qemu-args.txt`) and runs the
//! tests with `KINGLY_TEST_IMAGES` pointing at them. A test boots a board with
//! [`Machine::boot`], then sends lines and waits for output with a deadline:
//!
//! ```no_run
//! let Some(mut vm) = kingly_tests::Machine::boot("raspi3b") else { return };
//! vm.expect("kingly> ");
//! vm.send_line("power_off");
//! assert_eq!(vm.wait_exit(), 0);
//! ```
//!
//! Any kernel crash report (`*** KERNEL PANIC` / `*** KERNEL FAULT`) in the output fails
//! the test at once with the whole console transcript, unless the test announced it with
//! [`Machine::expect_crash`]. A missing image, QEMU or machine follows `testkit`'s require
//! rule: a failure under `cargo xtask test`, a skip with a message under a plain `cargo test`.
//!
//! MCP over the console: [`Machine::initialize`], then [`Machine::call_tool`] (the whole
//! response), [`Machine::ok`] (must succeed), [`Machine::refused`] (must fail as a tool),
//! [`Machine::invalid`] (arguments the schema rejects). [`Bridge`] runs `cargo xtask qemu
//! --mcp` for tests that need the host bridge.

use std::{
    io::{Read, Write},
    path::PathBuf,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

/// How long one `expect` waits by default. Generous: CI machines are shared and QEMU runs
/// several instances at once on two cores.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-aarch64";

/// Marker the kernel prints at the start of a crash report.
pub const CRASH_MARKER: &str = "*** KERNEL ";

/// Shell prompt.
pub const PROMPT: &str = "kingly> ";
/// The boot log line after which the card, the models and the network are up.
pub const SERVICES_UP: &str = "services up: storage, models, network";

#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    closed: bool,
}

/// A running QEMU guest with its console attached to pipes. QEMU is killed on drop.
pub struct Machine {
    board: String,
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<(Mutex<Output>, Condvar)>,
    /// Offset in the output up to which `expect` has consumed.
    cursor: usize,
    crash_expected: bool,
    timeout: Duration,
    /// The last JSON-RPC id [`Machine::request`] used.
    next_id: u64,
}

/// Where the test images live (`KINGLY_TEST_IMAGES`, set by `cargo xtask test`).
pub fn image_dir() -> Option<PathBuf> {
    testkit::env_path("KINGLY_TEST_IMAGES")
}

/// The xtask binary that built the images (`KINGLY_XTASK`), for tests that run its commands.
pub fn xtask() -> Option<PathBuf> {
    image_dir()?;
    testkit::env_path("KINGLY_XTASK")
}

/// The Python of the test virtual environment with the pinned packages (`KINGLY_PYTHON`).
pub fn python() -> Option<PathBuf> {
    testkit::env_path("KINGLY_PYTHON")
}

/// A TCP port on 127.0.0.1 that is free now (for QEMU's host forwarding).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// An SD card image for `board` made by `cargo xtask image` at `output`, with the test
/// kernel of `qemu_board` on it and `extra` image options (e.g. `--model PATH`).
pub fn card_image(xtask: &std::path::Path, board: &str, qemu_board: &str, extra: &[&str], output: &std::path::Path) {
    let images = image_dir().expect("image dir");
    let status = Command::new(xtask)
        .args(["image", "--board", board, "--kernel"])
        .arg(images.join(format!("{qemu_board}-test/kernel8.img")))
        .args(extra)
        .arg("-o")
        .arg(output)
        .status()
        .expect("xtask image runs");
    assert!(status.success(), "cargo xtask image failed");
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Machine {
    /// Boots the test image of `board` (a directory under the image dir, e.g. `raspi3b`
    /// or `raspi3b-test`). Returns `None` after printing a skip message when there are no
    /// test images; panics if images are required but missing.
    pub fn boot(board: &str) -> Option<Machine> {
        Self::boot_with(board, &[])
    }

    /// Like [`Machine::boot`] with extra QEMU arguments.
    pub fn boot_with(board: &str, extra: &[&str]) -> Option<Machine> {
        let dir = image_dir()?;
        let board_dir = dir.join(format!("{board}-test"));
        let args_file = board_dir.join("qemu-args.txt");
        let args = match std::fs::read_to_string(&args_file) {
            Ok(text) => text,
            Err(error) => {
                return testkit::missing(&format!("{} ({error})", args_file.display()), "`cargo xtask test` builds it")
            }
        };
        let mut command = Command::new(QEMU);
        command
            .args(args.lines().filter(|line| !line.is_empty()))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => return testkit::missing(&format!("{QEMU} ({error})"), "`cargo xtask setup` installs it"),
        };
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let shared = Arc::clone(&output);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let read = stdout.read(&mut chunk);
                let (lock, signal) = &*shared;
                let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
                match read {
                    Ok(0) | Err(_) => {
                        out.closed = true;
                        signal.notify_all();
                        return;
                    }
                    Ok(n) => {
                        out.bytes.extend_from_slice(&chunk[..n]);
                        signal.notify_all();
                    }
                }
            }
        });
        Some(Machine {
            board: board.to_string(),
            child,
            stdin,
            output,
            cursor: 0,
            crash_expected: false,
            timeout: DEFAULT_TIMEOUT,
            next_id: 1000,
        })
    }

    /// Boots and waits for the first shell prompt.
    pub fn boot_to_prompt(board: &str) -> Option<Machine> {
        Self::boot_to_prompt_with(board, &[])
    }

    /// Boots with extra QEMU arguments (devices, a QMP socket) and waits for the prompt.
    pub fn boot_to_prompt_with(board: &str, extra: &[&str]) -> Option<Machine> {
        let mut vm = Self::boot_with(board, extra)?;
        vm.expect(PROMPT);
        // The card, models and network come up right after the prompt; their log lines
        // end with this one (a model on the card then loads in the background).
        vm.expect(SERVICES_UP);
        // The rest of that log line, so that the next command's output starts at its echo.
        vm.expect("\n");
        Some(vm)
    }

    /// Changes the deadline of later `expect` calls.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a command line for a destructive tool and answers the console's confirmation
    /// with yes.
    pub fn confirm(&mut self, line: &str) {
        self.send_line(line);
        self.expect("is destructive. Proceed? [y/N] ");
        self.send_line("y");
    }

    /// Runs a command that crashes the kernel on purpose (a test hook): announces the crash,
    /// confirms the command and returns QEMU's exit code and the whole console transcript.
    pub fn crash_with(&mut self, line: &str) -> (i32, String) {
        self.expect_crash();
        self.confirm(line);
        let code = self.wait_exit();
        (code, self.transcript())
    }

    /// Announces that the kernel is about to crash on purpose: a crash report no longer
    /// fails the test.
    pub fn expect_crash(&mut self) {
        self.crash_expected = true;
    }

    /// Everything the console printed so far.
    pub fn transcript(&self) -> String {
        let (lock, _) = &*self.output;
        let out = lock.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&out.bytes).into_owned()
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "[{}] {why}\n----- console transcript -----\n{}\n------------------------------",
            self.board,
            self.transcript()
        )
    }

    /// Waits until `needle` appears after the cursor; returns the text from the cursor up
    /// to and including it and moves the cursor past it. Fails the test on timeout, on
    /// QEMU exiting, or on an unexpected crash report.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + self.timeout;
        let (lock, signal) = &*self.output;
        let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let pending = &out.bytes[self.cursor..];
            if !self.crash_expected && find(pending, CRASH_MARKER.as_bytes()).is_some() {
                // Let the whole report arrive (a test build exits QEMU after it) so the
                // failure carries it, not just its first line.
                let grace = Instant::now() + Duration::from_secs(10);
                while !out.closed && Instant::now() < grace {
                    out = signal.wait_timeout(out, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
                }
                drop(out);
                self.fail(&format!("kernel crashed while waiting for {needle:?}"));
            }
            if let Some(at) = find(pending, needle.as_bytes()) {
                let end = at + needle.len();
                let text = String::from_utf8_lossy(&pending[..end]).into_owned();
                self.cursor += end;
                return text;
            }
            if out.closed {
                drop(out);
                self.fail(&format!("QEMU closed the console while waiting for {needle:?}"));
            }
            let now = Instant::now();
            if now >= deadline {
                drop(out);
                self.fail(&format!("timed out after {:?} waiting for {needle:?}", self.timeout));
            }
            out = signal.wait_timeout(out, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Sends `line` followed by a carriage return (what a terminal sends for Enter).
    pub fn send_line(&mut self, line: &str) {
        self.send_bytes(line.as_bytes());
        self.send_bytes(b"\r");
    }

    /// Sends raw bytes to the console.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let Some(stdin) = self.stdin.as_mut() else { self.fail("console input already closed") };
        if let Err(error) = stdin.write_all(bytes).and_then(|_| stdin.flush()) {
            self.fail(&format!("writing to QEMU failed: {error}"));
        }
    }

    /// Sends a command and returns its output: everything up to the next prompt, without
    /// the echoed command line and the prompt.
    pub fn command(&mut self, line: &str) -> String {
        self.send_line(line);
        let text = self.expect(PROMPT);
        let body = text.strip_suffix(PROMPT).unwrap_or(&text);
        let body = body.split_once('\n').map_or("", |(_, rest)| rest);
        body.replace('\r', "")
    }

    /// Sends one JSON-RPC message (a line starting with `{`) and returns the next JSON line
    /// the kernel prints (notifications included). Non-JSON lines in between fail the test
    /// when `strict` is set: once a client speaks MCP, the port must carry only JSON.
    pub fn rpc(&mut self, message: &str) -> serde_json::Value {
        self.send_line(message);
        self.next_json(true)
    }

    /// The next line that the kernel prints, as JSON.
    pub fn next_json(&mut self, strict: bool) -> serde_json::Value {
        loop {
            let line = self.expect("\n");
            let line = line.trim_end_matches(['\r', '\n']).trim_start_matches("kingly> ");
            if line.starts_with('{') {
                return match serde_json::from_str(line) {
                    Ok(value) => value,
                    Err(error) => self.fail(&format!("invalid JSON from the kernel ({error}): {line}")),
                };
            }
            if strict && !line.is_empty() {
                self.fail(&format!("non-JSON line on the MCP port: {line:?}"));
            }
        }
    }

    /// Waits for QEMU to exit and returns its exit code (semihosting exit status).
    pub fn wait_exit(&mut self) -> i32 {
        let status = self.wait_status();
        match status.code() {
            Some(code) => code,
            None => self.fail(&format!("QEMU ended without an exit code: {status}")),
        }
    }

    fn wait_status(&mut self) -> ExitStatus {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Let the reader thread collect the last bytes for the transcript.
                    let (lock, signal) = &*self.output;
                    let out = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = signal.wait_timeout_while(out, Duration::from_secs(2), |o| !o.closed);
                    return status;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => self.fail("timed out waiting for QEMU to exit"),
                Err(error) => self.fail(&format!("waiting for QEMU failed: {error}")),
            }
        }
    }

    /// The board this machine was booted as.
    pub fn board(&self) -> &str {
        &self.board
    }

    /// Sends `initialize` as a client named `client` and checks the answer.
    pub fn initialize(&mut self, client: &str) -> serde_json::Value {
        let request = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": client, "version": "1"}}});
        let reply = self.request(request);
        if reply["result"]["protocolVersion"] != "2025-11-25" {
            self.fail(&format!("initialize failed: {reply}"));
        }
        reply
    }

    /// Sends a JSON-RPC request and returns its response, skipping the notifications (log
    /// messages, progress) that arrive before it. Ids are numbered by the harness.
    pub fn request(&mut self, mut request: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        request["id"] = id.into();
        let mut reply = self.rpc(&request.to_string());
        while reply.get("id").is_none() {
            reply = self.next_json(true);
        }
        if reply["id"] != id {
            self.fail(&format!("answer to request {id} carries another id: {reply}"));
        }
        reply
    }

    /// Calls a tool and returns the whole JSON-RPC response.
    pub fn call_tool(&mut self, tool: &str, arguments: serde_json::Value) -> serde_json::Value {
        self.request(serde_json::json!({"jsonrpc": "2.0", "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}))
    }

    /// Calls a tool and returns its `result` (failing the test on a JSON-RPC error).
    pub fn tool_result(&mut self, tool: &str, arguments: serde_json::Value) -> serde_json::Value {
        let reply = self.call_tool(tool, arguments.clone());
        if reply.get("result").is_none() {
            self.fail(&format!("{tool} {arguments}: no result: {reply}"));
        }
        reply["result"].clone()
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub fn ok(&mut self, tool: &str, arguments: serde_json::Value) -> serde_json::Value {
        let reply = self.call_tool(tool, arguments.clone());
        if reply["result"]["isError"] != false {
            self.fail(&format!("{tool} {arguments} failed: {reply}"));
        }
        reply["result"]["structuredContent"].clone()
    }

    /// Calls a tool that must fail as a tool (`isError`); returns its message.
    pub fn refused(&mut self, tool: &str, arguments: serde_json::Value) -> String {
        let reply = self.call_tool(tool, arguments.clone());
        if reply["result"]["isError"] != true {
            self.fail(&format!("{tool} {arguments} should fail as a tool: {reply}"));
        }
        reply["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string()
    }

    /// Calls a tool whose arguments the schema must reject (-32602); returns the message.
    pub fn invalid(&mut self, tool: &str, arguments: serde_json::Value) -> String {
        let reply = self.call_tool(tool, arguments.clone());
        if reply["error"]["code"] != -32602 {
            self.fail(&format!("{tool} {arguments} should be rejected with -32602: {reply}"));
        }
        reply["error"]["message"].as_str().unwrap_or_default().to_string()
    }

    /// Sends `ping` and checks the empty answer.
    pub fn ping(&mut self) {
        let reply = self.request(serde_json::json!({"jsonrpc": "2.0", "method": "ping"}));
        if reply["result"] != serde_json::json!({}) {
            self.fail(&format!("ping: {reply}"));
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Parses `name=value` pairs from a `timeline:` line, in µs.
pub fn parse_timeline(line: &str) -> Vec<(String, u64)> {
    line.split_whitespace()
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// QEMU's machine protocol (QMP) on a Unix socket, for tests that change emulated devices
/// while the kernel runs (a sensor's reading, a card pulled out). Boot QEMU with
/// `-qmp unix:PATH,server=on,wait=off` ([`Qmp::argument`]) and [`Qmp::connect`] to it.
pub struct Qmp {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
}

impl Qmp {
    /// A fresh socket path for this process and thread, and QEMU's `-qmp` value for it.
    pub fn argument(name: &str) -> (PathBuf, String) {
        let socket = std::env::temp_dir().join(format!(
            "kingly-qmp-{}-{name}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&socket);
        let argument = format!("unix:{},server=on,wait=off", socket.display());
        (socket, argument)
    }

    /// Connects (waiting up to 30 s for QEMU to open the socket) and negotiates.
    pub fn connect(path: &std::path::Path) -> Qmp {
        let deadline = Instant::now() + Duration::from_secs(30);
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(error) if Instant::now() > deadline => panic!("QMP socket {}: {error}", path.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut qmp = Qmp { reader: std::io::BufReader::new(stream), writer };
        qmp.line(); // greeting
        qmp.execute(serde_json::json!({"execute": "qmp_capabilities"}));
        qmp
    }

    fn line(&mut self) -> serde_json::Value {
        use std::io::BufRead;
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("QMP answers");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("QMP sent {line:?}: {e}"))
    }

    /// Runs a command and returns its `return` value (events in between are skipped); an
    /// error answer fails the test.
    pub fn execute(&mut self, command: serde_json::Value) -> serde_json::Value {
        use std::io::Write;
        writeln!(self.writer, "{command}").expect("QMP write");
        loop {
            let reply = self.line();
            if let Some(value) = reply.get("return") {
                return value.clone();
            }
            assert!(reply.get("error").is_none(), "QMP {command}: {reply}");
        }
    }
}

/// `cargo xtask qemu --mcp ...`: the host's stdio bridge to a guest, as an MCP client
/// (Claude Desktop, an SDK) uses it. Closing it (drop) ends the bridge, which stops QEMU.
pub struct Bridge {
    /// Owns the bridge's stdin: closing it (on drop) ends the bridge, which stops QEMU.
    child: testkit::process::Guard,
    output: std::io::BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl Bridge {
    /// Starts `cargo xtask qemu --mcp --board BOARD --image <its test image> ARGS...` and
    /// initializes a session. `None` when the images are not there (require rule).
    pub fn start(board: &str, args: &[&str]) -> Option<Bridge> {
        let xtask = xtask()?;
        let image = image_dir()?.join(format!("{board}-test/kernel8.img"));
        let mut child = Command::new(xtask)
            .args(["qemu", "--mcp", "--board", board, "--image"])
            .arg(&image)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("xtask starts");
        let output = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
        let child = testkit::process::Guard::close_stdin(child, Duration::from_secs(20));
        let mut bridge = Bridge { child, output, next_id: 1_000_000 };
        let init = bridge.request(serde_json::json!({"jsonrpc": "2.0", "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bridge-test", "version": "1"}}}));
        assert_eq!(init["result"]["serverInfo"]["name"], "kingly-os", "{init}");
        Some(bridge)
    }

    /// Sends one message (a request with its own id, or a notification).
    pub fn send(&mut self, message: &serde_json::Value) {
        let input = self.child.stdin.as_mut().expect("bridge open");
        writeln!(input, "{message}").expect("write to the bridge");
        input.flush().expect("flush the bridge");
    }

    /// The next message the guest sends.
    pub fn line(&mut self) -> serde_json::Value {
        use std::io::BufRead;
        let mut line = String::new();
        let n = self.output.read_line(&mut line).expect("read from the bridge");
        assert!(n > 0, "the bridge closed its output");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends a request (numbered here) and returns its response, skipping notifications.
    pub fn request(&mut self, mut message: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        message["id"] = id.into();
        self.send(&message);
        loop {
            let reply = self.line();
            if reply["id"] == id {
                return reply;
            }
        }
    }

    /// Calls a tool and returns the whole response.
    pub fn call_tool(&mut self, tool: &str, arguments: serde_json::Value) -> serde_json::Value {
        self.request(serde_json::json!({"jsonrpc": "2.0", "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}))
    }

    /// Whether the bridge process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_pairs_are_parsed() {
        let pairs = parse_timeline("timeline: entry=0 mmu=1408 heap=7550 (us since kernel entry)");
        assert_eq!(pairs, vec![("entry".into(), 0), ("mmu".into(), 1408), ("heap".into(), 7550)]);
    }
}
