//! `cargo xtask`: the one entry point for building, running and testing Kingly OS.
//!
//! Each subcommand is one module with an `Args` struct (its `///` line is the `--help`
//! text) and `run(self)`. Commands are echoed as `$ ...` on stderr before they run.

mod bench;
mod board;
mod bridge;
mod build;
mod debian;
mod deps;
mod fleet;
mod image;
mod lint;
mod llm;
mod model;
mod pool;
mod qemu;
mod serial;
mod soak;
mod symbolize;
mod test;
mod tinyllama;
mod util;
mod wasm_tool;

use clap::{Parser, Subcommand};

/// The system allocator, counted: `bench mcp` reports allocations per request.
#[global_allocator]
static ALLOCATOR: testkit::alloc_counter::Counting = testkit::alloc_counter::Counting;

/// Kingly OS developer tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the kernel ELF and raw kernel8.img for a board.
    Build(build::Args),
    /// Boot the kernel in QEMU with the console on this terminal.
    Qemu(qemu::Args),
    /// Build a bootable SD card image (MBR + FAT32 with firmware, kernel, settings, model).
    Image(image::Args),
    /// Run the project's inference engine on the host (generate, tokenize).
    Llm(llm::Args),
    /// Make model files (import llama2.c checkpoints, train the intent model, TinyLlama-shaped random).
    Model(model::Args),
    /// Serve MCP on stdin/stdout for a real board on a serial port.
    Serial(serial::Args),
    /// Measure performance next to a peer measured in the same run (mcp; boot/llm/net later).
    Bench(bench::Args),
    /// The kernel in QEMU under mixed MCP load (HTTP with hostile clients, serial, a generation) for N minutes.
    Soak(soak::Args),
    /// Run every test: host unit tests of all crates and the QEMU integration tests.
    Test(test::Args),
    /// Check formatting and run clippy on every crate and every board (`-D warnings`).
    Lint(lint::Args),
    /// Install what this machine lacks (Rust target and components, QEMU, test packages).
    Setup(deps::Args),
    /// Turn addresses from a fault report into function names and source lines.
    Symbolize(symbolize::Args),
    /// Build WebAssembly tools to install on a running kernel (`tool_install`).
    WasmTool(wasm_tool::Args),
    /// One MCP endpoint (stdio) in front of every board on an MQTT 5 broker.
    Fleet(fleet::Args),
    /// The MCP core as a stdio server with the benchmark's tools (the process `bench mcp`
    /// measures against the SDK servers).
    #[command(hide = true)]
    McpStdio {
        /// Answer every line with a fixed result and no MCP work: the pipe's own cost,
        /// the floor `bench mcp` measures the servers against.
        #[arg(long)]
        floor: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => args.run().map(|_| ()),
        Command::Qemu(args) => args.run(),
        Command::Serial(args) => args.run(),
        Command::Image(args) => args.run(),
        Command::Llm(args) => args.run(),
        Command::Model(args) => args.run(),
        Command::Test(args) => args.run(),
        Command::Soak(args) => args.run(),
        Command::Lint(args) => args.run(),
        Command::Bench(args) => args.run(),
        Command::Setup(args) => args.run(),
        Command::Symbolize(args) => args.run(),
        Command::WasmTool(args) => args.run(),
        Command::Fleet(args) => args.run(),
        Command::McpStdio { floor } => bench::serve_mcp_stdio(floor),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks of every command (duplicate names, flattened groups).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
