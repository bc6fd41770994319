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
//! [`Machine::expect_crash`]. Without `KINGLY_TEST_IMAGES` (a plain `cargo test`) the QEMU
//! tests print why and skip; with `KINGLY_REQUIRE_QEMU=1` a missing image is a failure.

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
}

/// Where the test images live, or `None` (with a message) when the tests run outside
/// `cargo xtask test`.
pub fn image_dir() -> Option<PathBuf> {
    match std::env::var_os("KINGLY_TEST_IMAGES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("skipping QEMU test: KINGLY_TEST_IMAGES is not set (run `cargo xtask test`)");
            None
        }
    }
}

fn require_qemu() -> bool {
    std::env::var_os("KINGLY_REQUIRE_QEMU").is_some_and(|v| v == "1")
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
        if let Ok(reason) = std::fs::read_to_string(board_dir.join("unavailable.txt")) {
            eprintln!("skipping QEMU test on {board}: {}", reason.trim());
            return None;
        }
        let args_file = board_dir.join("qemu-args.txt");
        let args = match std::fs::read_to_string(&args_file) {
            Ok(text) => text,
            Err(error) if !require_qemu() => {
                eprintln!("skipping QEMU test: {}: {error}", args_file.display());
                return None;
            }
            Err(error) => panic!("{}: {error} (cargo xtask test builds it)", args_file.display()),
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
            Err(error) if !require_qemu() => {
                eprintln!("skipping QEMU test: cannot start {QEMU}: {error}");
                return None;
            }
            Err(error) => panic!("cannot start {QEMU}: {error} (`cargo xtask setup` installs it)"),
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
        Some(vm)
    }

    /// Changes the deadline of later `expect` calls.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_pairs_are_parsed() {
        let pairs = parse_timeline("timeline: entry=0 mmu=1408 heap=7550 (us since kernel entry)");
        assert_eq!(pairs, vec![("entry".into(), 0), ("mmu".into(), 1408), ("heap".into(), 7550)]);
    }
}
