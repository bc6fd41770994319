//! The official Rust MCP SDK (rmcp) serving the benchmark's tool over stdio: the peer that
//! `cargo xtask bench mcp` measures next to Kingly OS's MCP core. Tuned as the SDK allows:
//! release build with fat LTO, a single-threaded Tokio runtime (no cross-thread wake-ups
//! per message; `--multi-thread` selects the default multi-threaded runtime instead).

use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt,
};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddRequest {
    a: i64,
    b: i64,
}

#[derive(Debug, Clone)]
struct Bench {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Bench {
    fn new() -> Self {
        Self { tool_router: Self::tool_router() }
    }

    #[tool(description = "Adds two integers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        a.wrapping_add(b).to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bench {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

async fn serve() -> anyhow::Result<()> {
    let server = Bench::new().serve(rmcp::transport::stdio()).await?;
    server.waiting().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut runtime = if std::env::args().any(|a| a == "--multi-thread") {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime.enable_all().build()?.block_on(serve())
}
