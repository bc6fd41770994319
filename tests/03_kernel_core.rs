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
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    let first = vm.command("rng_read");
    let second = vm.command("rng_read");
    assert!(first.starts_with("rng:"), "{first}");
    let words: Vec<&str> = first.split_whitespace().skip(1).chain(second.split_whitespace().skip(1)).collect();
    assert_eq!(words.len(), 8, "{first}{second}");
    assert!(words.iter().all(|w| w.len() == 8 && u32::from_str_radix(w, 16).is_ok()), "{first}{second}");
    let mut distinct = words.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 7, "RNG values repeat: {first}{second}");
}
