//! All cores start on every QEMU board, the compute pool gives the same result as one core,
//! `tasks_list` reports the cores, and a crash on a compute core names that core.

use kingly_tests::Machine;
use serde_json::json;

fn cores_and_compute(board: &str) {
    let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
    vm.initialize("smp-test");
    vm.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let tasks = vm.ok("tasks_list", json!({}));
    assert_eq!(tasks["cores_online"], 4, "[{board}] {tasks}");
    let names: Vec<&str> = tasks["tasks"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for worker in ["compute-1", "compute-2", "compute-3"] {
        assert!(names.contains(&worker), "[{board}] no {worker}: {names:?}");
    }
    // Every quantization kind, sized so that every core gets rows.
    for dtype in ["q8_0", "q4_0", "q4_k", "q6_k", "f32"] {
        let out = vm.ok(
            "test_compute",
            serde_json::from_str(&format!(r#"{{"rows":512,"cols":256,"dtype":"{dtype}"}}"#)).expect("JSON"),
        );
        assert_eq!(out["equal"], true, "[{board}] {dtype}: pool and single core differ: {out}");
        assert_eq!(out["cores_used"], 4, "[{board}] {dtype}: not spread over all cores: {out}");
    }
    // The workers did the jobs and are idle again.
    let tasks = vm.ok("tasks_list", json!({}));
    for core in tasks["cores"].as_array().unwrap() {
        assert_eq!(core["online"], true, "[{board}] {core}");
        assert!(core["compute_jobs"].as_u64().unwrap() >= 5, "[{board}] {core}");
    }
    for task in tasks["tasks"].as_array().unwrap().iter().filter(|t| t["core"] != 0) {
        assert_eq!(task["state"], "idle", "[{board}] {task}");
    }
}

#[test]
fn four_cores_compute_on_raspi3b() {
    cores_and_compute("raspi3b");
}

#[test]
fn four_cores_compute_on_raspi4b() {
    cores_and_compute("raspi4b");
}

#[test]
fn four_cores_compute_on_virt() {
    cores_and_compute("virt");
}

#[test]
fn a_crash_on_a_compute_core_names_the_core() {
    for board in ["raspi3b", "virt"] {
        let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
        let (code, transcript) = vm.crash_with("test_core_panic core=2");
        assert_eq!(code, 101, "[{board}] exit code\n{transcript}");
        assert!(transcript.contains("*** KERNEL PANIC on core 2 ***"), "[{board}] {transcript}");
        assert!(transcript.contains("panic requested in a compute job"), "[{board}] {transcript}");
    }
}

/// A compute core that never finishes its part: core 0 gives up at the job deadline (20 s)
/// and reports which core, through the panic path (a reset with a crash record in a release
/// build), instead of waiting forever.
#[test]
fn a_hung_compute_core_is_reported_at_the_job_deadline() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.set_timeout(std::time::Duration::from_secs(90));
    let (code, transcript) = vm.crash_with("test_core_hang core=2");
    assert_eq!(code, 101, "exit code\n{transcript}");
    assert!(transcript.contains("*** KERNEL PANIC on core 0 ***"), "{transcript}");
    assert!(transcript.contains("compute core 2 did not finish its job within 20 s (hung or dead)"), "{transcript}");
}
