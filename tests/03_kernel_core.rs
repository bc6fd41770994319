//! Timer interrupts, heap and hardware RNG, checked on the running kernel.

use kingly_tests::Machine;
use std::{thread, time::Duration};

fn ticks(vm: &mut Machine) -> u64 {
    let info = vm.command("system_info");
    info.lines()
        .find_map(|line| line.strip_prefix("timer ticks:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no tick count in system_info:\n{info}"))
}

fn timer_ticks(board: &str) {
    let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
    let first = ticks(&mut vm);
    thread::sleep(Duration::from_millis(500));
    let second = ticks(&mut vm);
    assert!(second > first, "[{board}] timer interrupts do not tick: {first} then {second}");
}

#[test]
fn timer_ticks_on_raspi3b() {
    timer_ticks("raspi3b");
}

#[test]
fn timer_ticks_on_raspi4b() {
    timer_ticks("raspi4b");
}

#[test]
fn timer_ticks_on_virt() {
    timer_ticks("virt");
}

#[test]
fn heap_survives_allocation_stress() {
    for board in ["raspi3b", "virt"] {
        let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
        let out = vm.command("test_heap");
        assert!(out.contains("heap test: ok"), "[{board}] {out}");
        // Everything allocated by the stress test was freed again.
        let words: Vec<&str> = out.split_whitespace().collect();
        let before = words.iter().position(|w| *w == "before").and_then(|i| words.get(i + 1));
        let after = words.iter().position(|w| *w == "after").and_then(|i| words.get(i + 1));
        assert_eq!(before, after, "[{board}] heap leaked: {out}");
    }
}

#[test]
fn hardware_rng_returns_changing_values() {
    // raspi3b: the BCM2835 RNG's registers; virt: virtio-rng (QEMU's -device virtio-rng-device).
    for (board, source) in [("raspi3b", "bcm2835-rng"), ("virt", "virtio-rng")] {
        let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
        let first = vm.command("rng_read count=4");
        let second = vm.command("rng_read count=4");
        let words = |out: &str| -> Vec<String> {
            out.lines()
                .find_map(|line| line.trim().strip_prefix("words"))
                .unwrap_or_else(|| panic!("[{board}] no words: {out}"))
                .split(',')
                .map(|w| w.trim().to_string())
                .collect()
        };
        assert!(first.contains(source), "[{board}] the source is not named {source}: {first}");
        let mut all = words(&first);
        all.extend(words(&second));
        assert_eq!(all.len(), 8, "[{board}] {first}{second}");
        assert!(all.iter().all(|w| w.len() == 8 && u32::from_str_radix(w, 16).is_ok()), "[{board}] {first}{second}");
        all.sort();
        all.dedup();
        assert!(all.len() >= 7, "[{board}] RNG values repeat: {first}{second}");
    }
}

#[test]
fn rng_is_refused_cleanly_where_there_is_none() {
    // QEMU raspi4b has no RNG200 model: the tool must fail with a message, not crash.
    let Some(mut vm) = Machine::boot_to_prompt("raspi4b") else { return };
    let out = vm.command("rng_read");
    assert!(out.contains("error: this board has no supported hardware RNG"), "{out}");
    let out = vm.command("system_info");
    assert!(out.contains("board:"), "{out}");
}
