//! Standard base64 with padding (RFC 4648 §4), for binary file contents in tool results and
//! arguments.

use alloc::{string::String, vec::Vec};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Why a base64 text could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A byte outside the alphabet (white space is allowed and skipped) at this offset.
    BadCharacter(usize),
    /// The text (without white space) is not a whole number of 4-character groups, or
    /// padding appears anywhere but at the end.
    BadLength,
    /// The bits after the last byte are not zero (a non-canonical encoding).
    TrailingBits,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::BadCharacter(at) => write!(f, "base64: character at offset {at} is not in the alphabet"),
            DecodeError::BadLength => f.write_str("base64: length is not a multiple of 4 characters (with = padding)"),
            DecodeError::TrailingBits => f.write_str("base64: non-zero bits after the last byte"),
        }
    }
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes padded standard base64; ASCII white space (line breaks) is skipped.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut group = [0u8; 4];
    let mut filled = 0;
    let mut ended = false;
    for (at, c) in text.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if ended {
            return Err(DecodeError::BadLength);
        }
        if c != b'=' && value(c).is_none() {
            return Err(DecodeError::BadCharacter(at));
        }
        group[filled] = c;
        filled += 1;
        if filled == 4 {
            filled = 0;
            let pad = group.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 || group[..4 - pad].contains(&b'=') {
                return Err(DecodeError::BadLength);
            }
            let mut n = 0u32;
            for &c in &group[..4 - pad] {
                n = n << 6 | value(c).unwrap_or(0);
            }
            n <<= 6 * pad as u32;
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            if pad > 0 {
                ended = true;
                if bytes[3 - pad..].iter().any(|&b| b != 0) {
                    return Err(DecodeError::TrailingBits);
                }
            }
            out.extend_from_slice(&bytes[..3 - pad]);
        }
    }
    if filled != 0 {
        return Err(DecodeError::BadLength);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_rfc_vectors_and_round_trips() {
        for (output, input) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode(input).as_deref(), Ok(output.as_bytes()));
        }
        assert_eq!(decode("Zm9v\r\nYmFy\n").as_deref(), Ok(&b"foobar"[..]));
        let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..bytes.len() {
            assert_eq!(decode(&encode(&bytes[..len])).as_deref(), Ok(&bytes[..len]));
        }
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!(decode("Zm9"), Err(DecodeError::BadLength));
        assert_eq!(decode("Zm=v"), Err(DecodeError::BadLength));
        assert_eq!(decode("Zg==Zg=="), Err(DecodeError::BadLength));
        assert_eq!(decode("Z==="), Err(DecodeError::BadLength));
        assert_eq!(decode("Zm9v!"), Err(DecodeError::BadCharacter(4)));
        assert_eq!(decode("Zh=="), Err(DecodeError::TrailingBits));
        // Arbitrary bytes never panic.
        let mut seed = 1u32;
        for _ in 0..20_000 {
            let len = (seed % 24) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    b"AZaz09+/=\n !\xff"[(seed >> 16) as usize % 13] as char
                })
                .collect();
            let _ = decode(&text);
        }
    }

    #[test]
    fn rfc_4648_test_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(input.as_bytes()), output);
        }
        assert_eq!(encode(&[0xff, 0xfe, 0x00]), "//4A");
    }
}
