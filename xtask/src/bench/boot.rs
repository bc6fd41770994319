//! `cargo xtask bench boot`: the kernel's stage timeline and host-side times to the first
//! MCP answer over N boots, and Linux to its init on the same QEMU machine in the same run
//! (boots interleaved, so load on a shared machine hits both alike).

use super::{linux, stats::Summary, svg};
use crate::{board::Board, build, deps, qemu, util};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// Boot stages and time to the first MCP answer, against Linux on the same QEMU machine.
#[derive(clap::Args)]
pub struct Args {
    /// QEMU board.
    #[arg(long, value_enum, default_value = "raspi3b")]
    board: Board,
    /// Boots per system.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Write all samples and summaries as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the timeline and the comparison as an SVG chart.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Compare medians with an earlier `--json` file; exit non-zero on a regression.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Regression threshold for `--compare`, in percent.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
    /// Skip the Linux baseline (quick runs, smoke tests).
    #[arg(long)]
    no_baseline: bool,
    /// Real board on this serial port: reboot it through MCP `power_reboot` between runs
    /// and read the timeline (including firmware time) from its console.
    #[arg(long)]
    serial: Option<PathBuf>,
    /// Serial speed for `--serial`.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Rewrite the boot-benchmark section of README.md with this run's table.
    #[arg(long)]
    readme: bool,
    /// Boot the kernel with this disk image as its SD card (e.g. one from `cargo xtask image
    /// --model ...`: MCP must answer before a model on the card has loaded).
    #[arg(long)]
    card: Option<PathBuf>,
}

/// Everything one benchmark run measured (the `--json` format).
#[derive(Serialize, Deserialize, Default)]
pub struct Report {
    pub board: String,
    pub runs: usize,
    /// The SD card the kernel booted with (`--card`): file name and size, if any.
    #[serde(default)]
    pub card: Option<String>,
    /// Kernel stage → µs since kernel entry, one sample per boot.
    pub kernel_stages: BTreeMap<String, Vec<f64>>,
    /// Host-side milliseconds since QEMU start: first_byte, mcp_ready, first_response.
    pub kernel_host: BTreeMap<String, Vec<f64>>,
    /// Host-side milliseconds since QEMU start to Linux's init marker.
    pub linux_init_ms: Vec<f64>,
    /// Linux packages and their SHA-256 sums.
    pub linux_packages: String,
    /// Summaries of every series above, keyed "kernel.<stage>", "host.<name>", "linux.init".
    pub summary: BTreeMap<String, Summary>,
}

const STAGE_ORDER: [&str; 9] = ["entry", "mmu", "heap", "drivers", "console", "smp", "model", "mcp", "firmware"];

/// Reads a child's stdout on a thread, timestamping each chunk.
fn timed_reader(mut out: impl Read + Send + 'static) -> mpsc::Receiver<(Instant, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 || tx.send((Instant::now(), chunk[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until `needle` appears in the accumulated output; returns when it arrived.
fn wait_for(
    rx: &mpsc::Receiver<(Instant, Vec<u8>)>,
    seen: &mut Vec<u8>,
    needle: &[u8],
    timeout: Duration,
) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    let mut last = Instant::now();
    loop {
        if let Some(at) = seen.windows(needle.len()).position(|w| w == needle) {
            let _ = at;
            return Ok(last);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((when, bytes)) => {
                last = when;
                seen.extend_from_slice(&bytes);
            }
            Err(_) => bail!("timed out after {timeout:?} waiting for {:?}", String::from_utf8_lossy(needle)),
        }
    }
}

/// Parses `timeline: a=1 b=2 ... (us since kernel entry)`.
pub fn parse_timeline(text: &str) -> Option<BTreeMap<String, f64>> {
    let line = text.lines().find(|l| l.trim_start().starts_with("timeline:"))?;
    let stages: BTreeMap<String, f64> = line
        .split_whitespace()
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect();
    (!stages.is_empty()).then_some(stages)
}

/// Checks the stage list: the boot stages are all there and in order.
pub fn check_stages(stages: &BTreeMap<String, f64>) -> Result<()> {
    let required = ["entry", "mmu", "heap", "drivers", "console", "mcp"];
    for name in required {
        if !stages.contains_key(name) {
            bail!("timeline lacks stage '{name}'");
        }
    }
    let ordered: Vec<f64> =
        STAGE_ORDER.iter().filter(|s| **s != "firmware").filter_map(|s| stages.get(*s).copied()).collect();
    if ordered.windows(2).any(|w| w[0] > w[1]) {
        bail!("timeline stages out of order: {stages:?}");
    }
    Ok(())
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;

struct KernelRun {
    stages: BTreeMap<String, f64>,
    first_byte_ms: f64,
    ready_ms: f64,
    response_ms: f64,
}

fn kernel_run(board: Board, image: &std::path::Path, card: Option<&std::path::Path>) -> Result<KernelRun> {
    let mut command = Command::new(deps::QEMU);
    command.args(qemu::machine_args(board, image)?);
    if let Some(card) = card {
        command.args(qemu::card_args(board, card)?);
    }
    command
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = command.spawn()?;
    let result = (|| {
        let rx = timed_reader(child.stdout.take().context("stdout")?);
        let mut input = child.stdin.take().context("stdin")?;
        let mut seen = Vec::new();
        let first = wait_for(&rx, &mut seen, b"\n", Duration::from_secs(60))?;
        let ready = wait_for(&rx, &mut seen, b"kingly> ", Duration::from_secs(60))?;
        let stages = parse_timeline(&String::from_utf8_lossy(&seen)).context("no timeline line")?;
        seen.clear();
        input.write_all(INITIALIZE.as_bytes())?;
        input.write_all(b"\r")?;
        input.flush()?;
        let response = wait_for(&rx, &mut seen, b"\"result\"", Duration::from_secs(60))?;
        let ms = |t: Instant| t.duration_since(start).as_secs_f64() * 1e3;
        Ok(KernelRun { stages, first_byte_ms: ms(first), ready_ms: ms(ready), response_ms: ms(response) })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn linux_run(args: &[String]) -> Result<f64> {
    let start = Instant::now();
    let mut child = Command::new(deps::QEMU)
        .args(args)
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| {
        let rx = timed_reader(child.stdout.take().context("stdout")?);
        let mut seen = Vec::new();
        let at = wait_for(&rx, &mut seen, linux::MARKER.as_bytes(), Duration::from_secs(300))?;
        Ok(at.duration_since(start).as_secs_f64() * 1e3)
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn summarize(report: &mut Report) {
    let mut summary = BTreeMap::new();
    for (name, values) in &report.kernel_stages {
        summary.insert(format!("kernel.{name}"), Summary::of(values));
    }
    for (name, values) in &report.kernel_host {
        summary.insert(format!("host.{name}"), Summary::of(values));
    }
    if !report.linux_init_ms.is_empty() {
        summary.insert("linux.init".into(), Summary::of(&report.linux_init_ms));
    }
    report.summary = summary;
}

/// The results table as Markdown.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "Boot benchmark on QEMU {}{} ({} runs; min / median / p95 / max)\n\n| measurement | unit | min | median | p95 | max |\n|---|---|--:|--:|--:|--:|\n",
        report.board,
        report.card.as_ref().map(|c| format!(", SD card {c}")).unwrap_or_default(),
        report.runs
    );
    let mut row = |label: &str, unit: &str, s: &Summary| {
        out.push_str(&format!("| {label} | {unit} | {:.0} | {:.0} | {:.0} | {:.0} |\n", s.min, s.median, s.p95, s.max));
    };
    for stage in STAGE_ORDER.iter().skip(1) {
        if let Some(s) = report.summary.get(&format!("kernel.{stage}")) {
            let label = if *stage == "firmware" {
                "firmware before kernel (BCM timer)".to_string()
            } else {
                format!("kernel entry → {stage}")
            };
            row(&label, "µs", s);
        }
    }
    for (key, label) in [
        ("host.first_byte", "QEMU start → first console byte"),
        ("host.mcp_ready", "QEMU start → MCP ready (prompt)"),
        ("host.first_response", "QEMU start → first MCP response"),
    ] {
        if let Some(s) = report.summary.get(key) {
            row(label, "ms", s);
        }
    }
    if let Some(linux) = report.summary.get("linux.init") {
        row("Linux: QEMU start → init", "ms", linux);
        if let Some(kingly) = report.summary.get("host.first_response") {
            out.push_str(&format!(
                "\nLinux reaches its init in {:.1}× the time Kingly OS takes to answer its first MCP request (ratio of medians, same run).\n",
                linux.median / kingly.median
            ));
        }
    }
    out
}

fn compare(report: &Report, earlier: &Report, threshold: f64) -> bool {
    let mut regressed = false;
    println!("\nchange of medians against the earlier run (threshold {threshold}%):");
    for (key, now) in &report.summary {
        let Some(before) = earlier.summary.get(key) else { continue };
        let change = super::stats::change(before.median, now.median) * 100.0;
        let flag = if change > threshold { "  REGRESSION" } else { "" };
        regressed |= change > threshold;
        println!("  {key:<24} {:>12.1} -> {:>12.1}  {change:+6.1}%{flag}", before.median, now.median);
    }
    regressed
}

fn update_readme(markdown: &str, svg: Option<&PathBuf>) -> Result<()> {
    let path = util::root().join("README.md");
    let text = std::fs::read_to_string(&path)?;
    let (start, end) = ("<!-- bench-boot:start -->", "<!-- bench-boot:end -->");
    let (Some(a), Some(b)) = (text.find(start), text.find(end)) else {
        bail!("README.md lacks the {start} ... {end} markers");
    };
    let mut section = String::from("\n");
    if let Some(svg) = svg {
        let relative = svg.strip_prefix(util::root()).unwrap_or(svg);
        if relative.is_relative() {
            section.push_str(&format!("![boot benchmark]({})\n\n", relative.display()));
        }
    }
    section.push_str(markdown);
    section.push_str("\nRegenerate with `cargo xtask bench boot --svg xtask/results/boot-raspi3b.svg --readme`.\n");
    let updated = format!("{}{start}{section}{}", &text[..a], &text[b..]);
    std::fs::write(&path, updated)?;
    eprintln!("updated the boot benchmark section of README.md");
    Ok(())
}

impl Args {
    pub fn run(self) -> Result<()> {
        if let Some(port) = &self.serial {
            return serial_runs(port, self.baud, self.runs);
        }
        let board = self.board;
        if board.qemu_machine().is_none() {
            bail!("{} is a real board: use --serial PORT", board.name());
        }
        deps::ensure_qemu(board.name())?;
        let image = build::Args { board, release: true, test_hooks: false }.run()?.image;
        let linux = if self.no_baseline { None } else { Some(linux::prepare()?) };
        let linux_args = match &linux {
            Some(l) => Some(linux::qemu_args(l, board)?),
            None => None,
        };
        let card = match &self.card {
            Some(path) => {
                let bytes = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Some(format!("{name} ({} MiB)", bytes >> 20))
            }
            None => None,
        };
        let mut report = Report { board: board.name().into(), runs: self.runs, card, ..Report::default() };
        if let Some(l) = &linux {
            report.linux_packages = l.manifest.clone();
        }
        for run in 1..=self.runs {
            eprintln!("run {run}/{}: Kingly OS", self.runs);
            let k = kernel_run(board, &image, self.card.as_deref()).with_context(|| format!("kernel boot {run}"))?;
            check_stages(&k.stages).with_context(|| format!("kernel boot {run}"))?;
            for (name, value) in &k.stages {
                report.kernel_stages.entry(name.clone()).or_default().push(*value);
            }
            for (name, value) in
                [("first_byte", k.first_byte_ms), ("mcp_ready", k.ready_ms), ("first_response", k.response_ms)]
            {
                report.kernel_host.entry(name.into()).or_default().push(value);
            }
            if let Some(args) = &linux_args {
                eprintln!("run {run}/{}: Linux", self.runs);
                report.linux_init_ms.push(linux_run(args).with_context(|| format!("Linux boot {run}"))?);
            }
        }
        eprintln!("done: {} runs", self.runs);
        summarize(&mut report);
        let markdown = table(&report);
        println!("{markdown}");
        if let Some(path) = &self.json {
            std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
            eprintln!("wrote {}", path.display());
        }
        if let Some(path) = &self.svg {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, svg::chart(&report))?;
            eprintln!("wrote {}", path.display());
        }
        if self.readme {
            update_readme(&markdown, self.svg.as_ref())?;
        }
        if let Some(path) = &self.compare {
            let earlier: Report = serde_json::from_str(&std::fs::read_to_string(path)?).context("reading --compare")?;
            if compare(&report, &earlier, self.threshold) {
                bail!("a median regressed by more than {}%", self.threshold);
            }
        }
        Ok(())
    }
}

/// Real-board mode: reboot through MCP, read each boot's timeline from the console.
fn serial_runs(port: &std::path::Path, baud: u32, runs: usize) -> Result<()> {
    util::run(Command::new("stty").arg("-F").arg(port).args([&baud.to_string(), "raw", "-echo", "clocal"]))?;
    let device = std::fs::OpenOptions::new().read(true).write(true).open(port)?;
    let rx = timed_reader(device.try_clone()?);
    let mut writer = device;
    let mut report = Report { board: format!("serial {}", port.display()), runs, ..Report::default() };
    for run in 1..=runs {
        eprint!("\rrun {run}/{runs}: rebooting through power_reboot");
        writer.write_all(INITIALIZE.as_bytes())?;
        writer.write_all(b"\r{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"power_reboot\",\"arguments\":{\"confirm\":true}}}\r")?;
        writer.flush()?;
        let mut seen = Vec::new();
        wait_for(&rx, &mut seen, b"(us since kernel entry)", Duration::from_secs(120))?;
        let stages = parse_timeline(&String::from_utf8_lossy(&seen)).context("no timeline line")?;
        check_stages(&stages)?;
        for (name, value) in stages {
            report.kernel_stages.entry(name).or_default().push(value);
        }
        wait_for(&rx, &mut seen, b"kingly> ", Duration::from_secs(30))?;
    }
    eprintln!();
    summarize(&mut report);
    println!("{}", table(&report));
    if let Some(fw) = report.summary.get("kernel.firmware") {
        if let Some(mcp) = report.summary.get("kernel.mcp") {
            println!("power-on → MCP ready (median): {:.1} ms", (fw.median + mcp.median) / 1e3);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_is_parsed_and_checked() {
        let text = "noise\ntimeline: entry=0 mmu=10 heap=20 drivers=30 console=40 mcp=50 firmware=900 (us since kernel entry)\n";
        let stages = parse_timeline(text).unwrap();
        assert_eq!(stages["mcp"], 50.0);
        assert_eq!(stages["firmware"], 900.0);
        check_stages(&stages).unwrap();
        let mut bad = stages.clone();
        bad.insert("heap".into(), 45.0);
        assert!(check_stages(&bad).is_err());
        bad.remove("mcp");
        assert!(check_stages(&bad).unwrap_err().to_string().contains("mcp"));
        assert!(parse_timeline("no timeline here").is_none());
    }

    fn report(median: f64) -> Report {
        let mut r = Report { board: "raspi3b".into(), runs: 3, ..Report::default() };
        r.kernel_stages.insert("mcp".into(), vec![median - 1.0, median, median + 1.0]);
        r.kernel_host.insert("first_response".into(), vec![100.0, 100.0, 100.0]);
        r.linux_init_ms = vec![4000.0, 5000.0, 6000.0];
        summarize(&mut r);
        r
    }

    #[test]
    fn comparison_flags_regressions_over_the_threshold() {
        let before = report(100.0);
        assert!(!compare(&report(105.0), &before, 10.0));
        assert!(compare(&report(120.0), &before, 10.0));
        assert!(!compare(&report(80.0), &before, 10.0));
    }

    #[test]
    fn table_has_ratio_and_stages() {
        let text = table(&report(50.0));
        assert!(text.contains("kernel entry → mcp"), "{text}");
        assert!(text.contains("50.0×"), "{text}");
    }
}
