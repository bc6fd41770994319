//! The require rule: what a test does when something it needs is missing.
//!
//! `cargo xtask test` sets `KINGLY_REQUIRE=1`: then every missing prerequisite is a test
//! failure that names it and says how to get it. Only a user's fresh clone without
//! `../shared` may skip the fixture tests: xtask sets `KINGLY_NO_SHARED=1` then, and says so
//! at the start and the end of the run. Without `KINGLY_REQUIRE` (a plain `cargo test`),
//! tests skip with a message.

use std::{path::PathBuf, string::String, vec::Vec};

/// Whether missing prerequisites fail the run (`KINGLY_REQUIRE=1`, set by `cargo xtask test`).
pub fn required() -> bool {
    std::env::var_os("KINGLY_REQUIRE").is_some_and(|value| value == "1")
}

/// A missing prerequisite: fails the test under the require rule, otherwise prints why the
/// test is skipped. Returns `None` for `let Some(x) = ... else { return }`.
#[track_caller]
pub fn missing<T>(what: &str, how: &str) -> Option<T> {
    if required() {
        panic!("{what} is missing, and `cargo xtask test` requires it: {how}");
    }
    std::eprintln!("skipping: {what} is missing ({how}); under `cargo xtask test` this fails");
    None
}

/// A path given by the environment variable `name` (set by `cargo xtask test`), or the
/// require rule's answer when it is not set.
#[track_caller]
pub fn env_path(name: &str) -> Option<PathBuf> {
    match std::env::var_os(name) {
        Some(value) => Some(PathBuf::from(value)),
        None => missing(&std::format!("environment variable {name}"), "run the tests with `cargo xtask test`"),
    }
}

/// `../shared` next to the repository (test fixtures and documents).
pub fn shared_dir() -> PathBuf {
    // This crate lives at tests/kit/ in the repository.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The path of `../shared/fixtures/<path>` if it exists. A user's fresh clone without
/// `../shared` skips with a message; anywhere else a missing fixture follows the require rule.
#[track_caller]
pub fn fixture_path(path: &str) -> Option<PathBuf> {
    let full = shared_dir().join("fixtures").join(path);
    if full.is_file() {
        return Some(full);
    }
    if std::env::var_os("KINGLY_NO_SHARED").is_some_and(|value| value == "1") {
        std::eprintln!("skipping: ../shared is absent (a fresh clone), so {path} is not available");
        return None;
    }
    let what: String = std::format!("fixture {}", full.display());
    missing(&what, "../shared/fixtures is outside the repository; see its README")
}

/// The bytes of `../shared/fixtures/<path>` (see [`fixture_path`]).
#[track_caller]
pub fn fixture(path: &str) -> Option<Vec<u8>> {
    let full = fixture_path(path)?;
    match std::fs::read(&full) {
        Ok(bytes) => Some(bytes),
        Err(error) => panic!("{}: {error}", full.display()),
    }
}
