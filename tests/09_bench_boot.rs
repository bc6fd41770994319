//! Smoke run of `cargo xtask bench boot` (2 boots, no Linux baseline): the procedure works
//! and the kernel's stage list is complete and ordered in every run.

use std::process::Command;

#[test]
fn boot_benchmark_smoke_run() {
    let Some(xtask) = kingly_tests::xtask() else { return };
    let json = std::env::temp_dir().join(format!("kingly-bench-smoke-{}.json", std::process::id()));
    let output = Command::new(xtask)
        .args(["bench", "boot", "--runs", "2", "--no-baseline", "--json"])
        .arg(&json)
        .env("KINGLY_BENCH_SMOKE", "1")
        .output()
        .expect("xtask runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench boot failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("kernel entry → mcp"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("valid JSON");
    let _ = std::fs::remove_file(&json);
    let stages = report["kernel_stages"].as_object().expect("stages");
    for stage in ["entry", "mmu", "heap", "drivers", "console", "mcp"] {
        let samples = stages[stage].as_array().unwrap_or_else(|| panic!("no {stage}"));
        assert_eq!(samples.len(), 2, "{stage}: {samples:?}");
    }
    for run in 0..2 {
        let order: Vec<f64> = ["entry", "mmu", "heap", "drivers", "console", "mcp"]
            .iter()
            .map(|s| stages[*s][run].as_f64().unwrap_or(f64::NAN))
            .collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "run {run} out of order: {order:?}");
    }
    let ready = report["summary"]["host.first_response"]["median"].as_f64().unwrap_or(0.0);
    assert!(ready > 0.0, "no first-response time: {report}");
}
