//! `cargo xtask wasm-tool build NAME`: builds a tool for the kernel's WebAssembly sandbox
//! (a crate under `kernel/wasm/examples/NAME`, or any directory with a Cargo package that
//! depends on `kingly-tool` and a `manifest.json`) and writes `target/wasm-tools/NAME.wasm`
//! and `NAME.json` (the manifest, checked by the same parser the kernel uses), plus
//! `NAME.install.json`: the `tool_install` arguments, ready to send.

use crate::{deps, util};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The target tools are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Build WebAssembly tools for `tool_install`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Build NAME (kernel/wasm/examples/NAME, or --path DIR) into target/wasm-tools/.
    Build {
        /// The example's name (blink, lm75) or, with --path, the name of the outputs.
        name: String,
        /// A tool crate elsewhere (a directory with Cargo.toml and manifest.json).
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// List the example tools.
    List,
}

fn examples() -> PathBuf {
    util::root().join("kernel/wasm/examples")
}

impl Args {
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Build { name, path } => build(&name, path).map(|_| ()),
            Command::List => {
                for entry in std::fs::read_dir(examples())? {
                    let entry = entry?;
                    if entry.path().join("manifest.json").exists() {
                        println!("{}", entry.file_name().to_string_lossy());
                    }
                }
                Ok(())
            }
        }
    }
}

/// Builds one tool; returns the module's path.
pub fn build(name: &str, path: Option<PathBuf>) -> Result<PathBuf> {
    deps::ensure_target(TARGET)?;
    let dir = path.unwrap_or_else(|| examples().join(name));
    let manifest_path = dir.join("manifest.json");
    let manifest_text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!("{} (a tool needs a manifest.json next to its Cargo.toml)", manifest_path.display())
    })?;
    let manifest =
        wasmhost::Manifest::parse(&manifest_text).map_err(|e| anyhow::anyhow!("{}: {e}", manifest_path.display()))?;
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).context("the tool's Cargo.toml")?;
    let package = cargo_toml
        .lines()
        .find_map(|l| {
            l.trim().strip_prefix("name").map(|r| r.trim_start_matches([' ', '=']).trim().trim_matches('"').to_string())
        })
        .context("no package name in the tool's Cargo.toml")?;
    let root = util::root();
    let mut cargo = util::cargo();
    cargo
        .current_dir(&root)
        .args(["build", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", "wasm-tool", "--target-dir"])
        .arg(root.join("target"));
    util::run(&mut cargo)?;
    let built = root.join("target").join(TARGET).join("wasm-tool").join(format!("{}.wasm", package.replace('-', "_")));
    let module = std::fs::read(&built).with_context(|| format!("{} was not built", built.display()))?;
    // The same checks as tool_install, here, so a mistake shows before a board sees it.
    let tool = wasmhost::Sandbox::new()
        .compile(manifest.clone(), &module)
        .map_err(|e| anyhow::anyhow!("{name}: the kernel would refuse it: {e}"))?;
    if module.len() > wasmhost::LIMITS.module_bytes {
        bail!("{name}: {} bytes, over the {} a module may be", module.len(), wasmhost::LIMITS.module_bytes);
    }
    let out = root.join("target/wasm-tools");
    std::fs::create_dir_all(&out)?;
    let wasm = out.join(format!("{name}.wasm"));
    std::fs::write(&wasm, &module)?;
    std::fs::write(out.join(format!("{name}.json")), &manifest_text)?;
    let manifest_value: serde_json::Value = serde_json::from_str(&manifest_text)?;
    let install = serde_json::json!({"module": formats::base64::encode(&module), "manifest": manifest_value});
    std::fs::write(out.join(format!("{name}.install.json")), serde_json::to_string(&install)?)?;
    eprintln!(
        "{name}: {} bytes, tool '{}', imports {:?}, may reach {}\n  {}\n  {}",
        module.len(),
        manifest.name,
        tool.imports(),
        tool.reach(),
        wasm.display(),
        out.join(format!("{name}.install.json")).display()
    );
    Ok(wasm)
}
