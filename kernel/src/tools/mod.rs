//! The kernel's MCP tools, resources and prompts: one module per tool group. Everything a
//! user or client can do goes through the registry built here — the console shell calls
//! the same tools through the typed path.
//!
//! Adding a tool: declare it in its group's `register` with a name, title, description,
//! input and output schemas and annotations; its handler reads kernel state and returns
//! structured output (optionally with a text rendering for the shell).

mod gpio;
mod i2c;
mod installed;
mod intent;
mod llm;
mod net;
mod pwm;
mod spi;
mod storage;
mod system;
mod tasks;
#[cfg(feature = "test-hooks")]
mod test_hooks;

use mcp::{Server, ServerInfo};

/// Builds the server with every tool group registered.
pub fn server() -> Server {
    let mut server = Server::new(ServerInfo {
        name: "kingly-os".into(),
        title: "Kingly OS".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instructions: "Kingly OS is a bare-metal kernel whose whole system interface is MCP. \
            Read-only tools report on the machine; destructive ones (power_reboot, power_off) \
            end the session."
            .into(),
    });
    let groups: [fn(&mut Server); 12] = [
        system::register,
        tasks::register,
        llm::register,
        storage::register,
        net::register,
        intent::register,
        gpio::register,
        i2c::register,
        spi::register,
        pwm::register,
        installed::register,
        register_test_hooks,
    ];
    for register in groups {
        register(&mut server);
    }
    // Deadlines inside calls (how long a user has to answer a confirmation).
    if let Err(error) = server.set_clock(crate::arch::cpu::micros) {
        ::log::error!("MCP: {error}");
    }
    crate::intent::set_registry(&server);
    server
}

/// Brings back the tools installed on the card (after the card and the registry are up).
pub fn load_installed() {
    installed::load_from_card();
}

fn register_test_hooks(_server: &mut Server) {
    #[cfg(feature = "test-hooks")]
    test_hooks::register(_server);
}

/// Registers a tool declared as constant data (`&const { Declaration::new(..)... }`), logging
/// (not panicking) if it is rejected. Prefer it to [`add`]: registering a declaration runs
/// the same few instructions for every tool, which keeps boot fast under QEMU (see
/// [`mcp::Declaration`]); [`add`] is for tools whose declaration is computed at run time.
fn declare(server: &mut Server, declaration: &'static mcp::Declaration) {
    if let Err(error) = server.add_declared(declaration) {
        log::error!("tool {} not registered: {error}", declaration.name());
    }
}

/// Registers a tool, logging (not panicking) if the declaration is rejected: a bad
/// declaration is a bug, but the kernel keeps serving the other tools. Only the test hooks
/// build declarations at run time (one per crash kind); the rest use [`declare`].
#[cfg(feature = "test-hooks")]
fn add(server: &mut Server, tool: mcp::Tool) {
    let name = alloc::string::String::from(tool.name());
    if let Err(error) = server.add_tool(tool) {
        log::error!("tool {name} not registered: {error}");
    }
}
