//! The example tools' manifests (kernel/wasm/examples/*/manifest.json) are valid, and when
//! `cargo xtask wasm-tool build` has built their modules, those compile in the sandbox
//! with exactly the imports their capabilities grant, and answer (against a host model).

use std::path::PathBuf;
use wasmhost::{Manifest, Sandbox};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

#[test]
fn example_manifests_are_valid() {
    for (dir, name) in [("blink", "blink"), ("lm75", "lm75_temperature")] {
        let text = std::fs::read_to_string(example(dir).join("manifest.json")).unwrap();
        let manifest = Manifest::parse(&text).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(manifest.name, name);
        assert!(!manifest.examples.is_empty(), "{dir} carries example phrasings");
    }
}

#[test]
fn built_example_modules_compile_with_the_imports_they_need() {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm-tools");
    for (dir, file, imports) in [
        ("blink", "blink.wasm", vec!["args_read", "fail", "result", "now_us", "sleep_ms", "gpio_write", "gpio_read"]),
        ("lm75", "lm75.wasm", vec!["args_read", "fail", "result", "i2c_write_read"]),
    ] {
        let Ok(module) = std::fs::read(built.join(file)) else {
            let _: Option<()> = testkit::missing(
                &format!("target/wasm-tools/{file}"),
                &format!("run `cargo xtask wasm-tool build {dir}` (`cargo xtask test` does)"),
            );
            continue;
        };
        let manifest = Manifest::parse(&std::fs::read_to_string(example(dir).join("manifest.json")).unwrap()).unwrap();
        let tool = Sandbox::new().compile(manifest, &module).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut got: Vec<&str> = tool.imports().to_vec();
        let mut want = imports.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
}
