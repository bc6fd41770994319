//! The first layer over untrusted bytes: checks one raw JSON-RPC message before any JSON
//! parser sees it. Never panics, never recurses.
//!
//! Checks, in order: size limit, UTF-8, and that the top level is an object or an array (a batch, which revision 2025-06-18 removed:
//! the server answers it by the session's revision).

use crate::jsonrpc::{ErrorCode, RpcError};
use alloc::format;

/// Limits applied to every incoming message.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest accepted message in bytes (without the line terminator).
    pub max_message_bytes: usize,
    /// Deepest accepted nesting of objects and arrays.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message_bytes: 64 * 1024, max_depth: 64 }
    }
}

/// Returns the maximum nesting depth of `text`, ignoring brackets inside strings.
/// Stops counting (returning `limit + 1`) as soon as `limit` is exceeded.
pub fn nesting_depth(text: &[u8], limit: usize) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > deepest {
                    deepest = depth;
                    if deepest > limit {
                        return deepest;
                    }
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Checks that `text` nests no deeper than the limit. Runs before any recursive parser
/// (`serde_json`) sees the text; the scanner of [`crate::scan`] bounds depth as it goes.
pub fn check_depth(text: &str, limits: &Limits) -> Result<(), RpcError> {
    // Each level of nesting takes a byte: a message no longer than the limit cannot exceed it.
    if text.len() > limits.max_depth && nesting_depth(text.as_bytes(), limits.max_depth) > limits.max_depth {
        return Err(RpcError::new(
            ErrorCode::InvalidRequest,
            format!("message nesting exceeds the limit of {} levels", limits.max_depth),
        ));
    }
    Ok(())
}

/// Checks a raw message's size, encoding and first byte against `limits`; on success
/// returns it as text. Its nesting is checked by whichever parser reads it
/// ([`crate::jsonrpc::parse_within`]), before any recursion.
pub fn check<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str, RpcError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(RpcError::new(
            ErrorCode::InvalidRequest,
            format!("message of {} bytes exceeds the limit of {} bytes", bytes.len(), limits.max_message_bytes),
        ));
    }
    let text = core::str::from_utf8(bytes).map_err(|error| {
        RpcError::new(ErrorCode::ParseError, format!("message is not valid UTF-8 (byte {})", error.valid_up_to()))
    })?;
    match text.trim_start().as_bytes().first() {
        Some(b'{') => Ok(text),
        // A batch: whether it is answered depends on the session's revision (the server's call).
        Some(b'[') => Ok(text),
        Some(_) => Err(RpcError::new(ErrorCode::ParseError, "a message must be a JSON object")),
        None => Err(RpcError::new(ErrorCode::ParseError, "empty message")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{string::String, vec};

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth(br#"{"a":"[[[{{{\"]]"}"#, 64), 1);
        assert_eq!(nesting_depth(b"[[[]]]", 64), 3);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits::default();
        let big = vec![b' '; 64 * 1024 + 1];
        assert_eq!(check(&big, &limits).unwrap_err().code, ErrorCode::InvalidRequest);
        let deep: String = "[".repeat(65) + &"]".repeat(65);
        assert_eq!(check_depth(&deep, &limits).unwrap_err().code, ErrorCode::InvalidRequest);
        assert!(check_depth(&deep[1..deep.len() - 1], &limits).is_ok());
        assert_eq!(check(b"{\"a\":\"\xff\"}", &limits).unwrap_err().code, ErrorCode::ParseError);
        assert!(check(b"[{}]", &limits).is_ok());
        assert_eq!(check(b"7", &limits).unwrap_err().code, ErrorCode::ParseError);
        assert!(check(b"{}", &limits).is_ok());
    }
}
