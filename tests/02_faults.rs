//! Crashes produce a report a developer can act on, and end the test run with a failure code.

use kingly_tests::Machine;

/// Semihosting exit codes from kernel/src/panic.rs.
const EXIT_PANIC: i32 = 101;
const EXIT_FAULT: i32 = 102;

fn crash(board: &str, command: &str) -> (String, i32) {
    let Some(mut vm) = Machine::boot_to_prompt(board) else { return (String::new(), -1) };
    let (code, transcript) = vm.crash_with(command);
    (transcript, code)
}

#[test]
fn bad_access_is_reported_with_syndrome_registers_and_backtrace() {
    for board in ["raspi3b", "virt"] {
        let (report, code) = crash(board, "test_fault");
        if code == -1 {
            return;
        }
        assert_eq!(code, EXIT_FAULT, "[{board}] exit code\n{report}");
        for expected in [
            "*** KERNEL FAULT on core 0 ***",
            "data abort",
            "translation fault level",
            "FAR  0x0000000100000000",
            "ELR  0x",
            "x29 0x",
            "backtrace",
            "  #1 ",
        ] {
            assert!(report.contains(expected), "[{board}] report lacks {expected:?}:\n{report}");
        }
    }
}

/// W^X: the kernel's code cannot be written, and nothing written can be executed (heap or
/// stack): each attempt is a permission fault, reported.
#[test]
fn code_is_not_writable_and_data_is_not_executable() {
    for board in ["raspi3b", "virt"] {
        for (hook, kind) in [
            ("test_write_text", "data abort, permission fault"),
            ("test_exec_heap", "instruction abort, permission fault"),
            ("test_exec_stack", "instruction abort, permission fault"),
        ] {
            let (report, code) = crash(board, hook);
            if code == -1 {
                return;
            }
            assert_eq!(code, EXIT_FAULT, "[{board}] {hook}: exit code\n{report}");
            assert!(report.contains("*** KERNEL FAULT on core 0 ***"), "[{board}] {hook}:\n{report}");
            assert!(report.contains(kind), "[{board}] {hook}: not a {kind}:\n{report}");
        }
    }
}

#[test]
fn stack_overflow_hits_the_guard_page() {
    let (report, code) = crash("raspi3b", "test_overflow");
    if code == -1 {
        return;
    }
    assert_eq!(code, EXIT_FAULT, "{report}");
    assert!(report.contains("*** KERNEL FAULT on core 0 ***"), "{report}");
    assert!(report.contains("translation fault level 3"), "{report}");
    assert!(report.contains("stack overflow"), "guard page not named:\n{report}");
}

#[test]
fn panic_is_reported_with_location() {
    let (report, code) = crash("raspi4b", "test_panic");
    if code == -1 {
        return;
    }
    assert_eq!(code, EXIT_PANIC, "{report}");
    assert!(report.contains("*** KERNEL PANIC on core 0 ***"), "{report}");
    assert!(report.contains("panic requested from the console"), "{report}");
    assert!(report.contains("kernel/src/tools/test_hooks.rs:"), "panic location missing:\n{report}");
}

/// The path a release build takes: the report is kept in the crash area, the machine resets
/// (BCM watchdog on raspi3b, PSCI on virt; QEMU told to reset rather than exit), and the next
/// boot logs it and serves it once as `kernel://crash/last`.
#[test]
fn a_panic_resets_the_machine_and_the_next_boot_serves_the_crash_record() {
    for board in ["raspi3b", "virt"] {
        let Some(mut vm) = Machine::boot_to_prompt_with(board, &["-action", "reboot=reset"]) else { return };
        let before = vm.command("read kernel://crash/last");
        assert!(before.contains(r#""crashed":false"#), "[{board}] a fresh boot has no crash record:\n{before}");
        vm.expect_crash();
        vm.confirm("test_panic_reset");
        vm.expect("*** KERNEL PANIC on core 0 ***");
        vm.expect("resetting; the report is kept as kernel://crash/last.");
        // The machine comes back by itself and says what happened.
        vm.expect("the previous boot ended in a panic while running: its report is kernel://crash/last");
        vm.expect("Kingly OS ");
        vm.expect(kingly_tests::SERVICES_UP);
        vm.expect("\n");
        let record = vm.command("read kernel://crash/last");
        let json = record.lines().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
        let value: serde_json::Value = serde_json::from_str(json.trim())
            .unwrap_or_else(|e| panic!("[{board}] kernel://crash/last is not JSON ({e}):\n{record}"));
        assert_eq!(value["crashed"], true, "[{board}] {value}");
        assert_eq!(value["kind"], "panic", "[{board}] {value}");
        assert_eq!(value["during_boot"], false, "[{board}] {value}");
        let report = value["report"].as_str().unwrap_or("");
        for expected in [
            "*** KERNEL PANIC on core 0 ***",
            "panic requested with a reset",
            "kernel/src/tools/test_hooks.rs:",
            "backtrace",
        ] {
            assert!(report.contains(expected), "[{board}] the record lacks {expected:?}:\n{report}");
        }
        drop(vm);
    }
}

#[test]
fn out_of_memory_reports_size_and_heap_state() {
    let (report, code) = crash("raspi3b", "test_oom");
    if code == -1 {
        return;
    }
    assert_eq!(code, EXIT_PANIC, "{report}");
    assert!(report.contains("out of memory"), "{report}");
    assert!(report.contains("heap: "), "heap state missing:\n{report}");
}

#[test]
fn harness_fails_a_test_when_the_kernel_crashes_unexpectedly() {
    // The harness must turn an unexpected crash into a test failure carrying the report.
    let result = std::panic::catch_unwind(|| {
        let mut vm = Machine::boot_to_prompt("raspi3b")?;
        vm.send_line("test_fault");
        vm.send_line("y");
        vm.expect("this never appears");
        Some(())
    });
    match result {
        Ok(None) => {} // skipped: no images
        Ok(Some(())) => panic!("expect() returned although the kernel crashed"),
        Err(payload) => {
            let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(message.contains("kernel crashed"), "{message}");
            assert!(message.contains("*** KERNEL FAULT"), "report not in the failure: {message}");
        }
    }
}
