//! The serial console shell.
//!
//! A line editor (echo, backspace, Ctrl-U, Ctrl-C) and a small command table. The commands
//! carry the names of the MCP tools that will replace them (`system_info`, `boot_timeline`,
//! `memory_stats`, `log_read`, `power_reboot`, `power_off`), so the shell can become an MCP
//! client without changing what a user types.

use crate::{print, println};
use alloc::{string::String, vec::Vec};

/// Longest accepted line (an MCP message on serial may be 64 KiB).
pub const MAX_LINE: usize = 64 * 1024 + 1024;

const PROMPT: &str = "kingly> ";

struct Command {
    name: &'static str,
    help: &'static str,
    run: fn(&str),
}

const COMMANDS: &[Command] = &[
    Command { name: "help", help: "list commands", run: |_| help() },
    Command { name: "system_info", help: "board, memory, uptime, firmware", run: |_| crate::commands::system_info() },
    Command { name: "boot_timeline", help: "boot stages in µs since kernel entry", run: |_| crate::timeline::print() },
    Command { name: "memory_stats", help: "heap usage and memory regions", run: |_| crate::commands::memory_stats() },
    Command { name: "log_read", help: "recent kernel log lines", run: |_| crate::commands::log_read() },
    Command { name: "rng_read", help: "words from the hardware RNG", run: |_| crate::commands::rng_read() },
    Command { name: "echo", help: "print the argument and its length in bytes", run: crate::commands::echo },
    Command { name: "power_reboot", help: "reset the machine", run: |_| crate::system::reboot() },
    Command { name: "power_off", help: "power off (QEMU: exit)", run: |_| crate::system::power_off(0) },
    #[cfg(feature = "test-hooks")]
    Command { name: "test_fault", help: "read an unmapped address", run: |_| crate::commands::test::fault() },
    #[cfg(feature = "test-hooks")]
    Command { name: "test_overflow", help: "overflow the kernel stack", run: |_| crate::commands::test::overflow() },
    #[cfg(feature = "test-hooks")]
    Command { name: "test_panic", help: "panic", run: |_| panic!("panic requested from the console") },
    #[cfg(feature = "test-hooks")]
    Command { name: "test_oom", help: "allocate more than the heap holds", run: |_| crate::commands::test::oom() },
    #[cfg(feature = "test-hooks")]
    Command { name: "test_heap", help: "heap allocation stress test", run: crate::commands::test::heap },
];

fn help() {
    for command in COMMANDS {
        println!("  {:<14} {}", command.name, command.help);
    }
}

fn execute(line: &str) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let (name, args) = line.split_once(' ').unwrap_or((line, ""));
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(command) => (command.run)(args.trim()),
        None => println!("unknown command '{name}' (type 'help')"),
    }
}

/// Reads one line with echo and simple editing. Returns `None` on Ctrl-C.
fn read_line(buffer: &mut Vec<u8>) -> Option<()> {
    buffer.clear();
    loop {
        match crate::console::wait_byte() {
            b'\r' | b'\n' => {
                println!();
                return Some(());
            }
            0x03 => {
                println!("^C");
                return None;
            }
            0x15 => {
                for _ in 0..buffer.len() {
                    print!("\x08 \x08");
                }
                buffer.clear();
            }
            0x08 | 0x7f => {
                if buffer.pop().is_some() {
                    print!("\x08 \x08");
                }
            }
            byte if byte >= 0x20 || byte == b'\t' => {
                if buffer.len() < MAX_LINE {
                    buffer.push(byte);
                    crate::console::write_bytes(&[byte]);
                }
            }
            _ => {}
        }
    }
}

/// Runs the shell forever.
pub fn run() -> ! {
    let mut buffer = Vec::new();
    loop {
        print!("{PROMPT}");
        if read_line(&mut buffer).is_some() {
            let line = String::from_utf8_lossy(&buffer).into_owned();
            execute(&line);
        }
    }
}
