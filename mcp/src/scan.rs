//! A strict, allocation-free scanner for the common shape of a message: a JSON object whose
//! keys have no escapes and whose strings have no `\u` escapes. It picks the members a caller asks for as slices of the text and
//! validates everything else it passes over (RFC 8259 grammar: strings without control
//! characters, numbers, literals, nested objects and arrays).
//!
//! It is a fast path, never the only path: on anything outside that shape — an escape
//! sequence, a repeated member of interest, invalid JSON, nesting deeper than the
//! caller's limit — it answers `None` and the caller parses with `serde_json`, which gives
//! the precise answer or error. So it may refuse more than serde does, but never accepts
//! what serde refuses, nor reads a member differently (a differential test checks both on
//! mutated messages).

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

impl<'a> Scanner<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline(always)]
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// A string without escapes or control characters (a key); returns where its contents
    /// end (the scanner is past the closing quote).
    #[inline(always)]
    fn plain_string(&mut self) -> Option<usize> {
        self.eat(b'"')?;
        let rest = self.bytes.get(self.at..)?;
        let length = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.at += length;
        let end = self.at;
        self.eat(b'"')?;
        Some(end)
    }

    /// A string value: its short escapes (`\"`, `\\`, `\n`, ...) are validated and
    /// passed over; a `\u` escape is left to serde (surrogate rules).
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let rest = self.bytes.get(self.at..)?;
            let length = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            self.at += length;
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => match self.bytes.get(self.at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    #[inline(always)]
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// Any value, validated.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            _ => None,
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > self.max_depth {
            return None;
        }
        self.eat(b'[')?;
        self.skip_space();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.skip_space();
            self.value(depth)?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > self.max_depth {
            return None;
        }
        self.eat(b'{')?;
        self.skip_space();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.skip_space();
            self.plain_string()?;
            self.skip_space();
            self.eat(b':')?;
            self.skip_space();
            self.value(depth)?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The texts of members `keys` of the object `text` (each `None` when absent), or `None`
/// when the text is not in the scanner's shape (see the module's documentation) or nests
/// deeper than `max_depth` (the top-level object is level 1).
pub fn members<'a, const N: usize>(text: &'a str, keys: [&str; N], max_depth: usize) -> Option<[Option<&'a str>; N]> {
    let mut found = [None; N];
    let mut scanner = Scanner { bytes: text.as_bytes(), at: 0, max_depth };
    scanner.skip_space();
    scanner.eat(b'{')?;
    scanner.skip_space();
    if scanner.eat(b'}').is_none() {
        loop {
            scanner.skip_space();
            let key_start = scanner.at + 1;
            let key_end = scanner.plain_string()?;
            let key = text.get(key_start..key_end)?;
            scanner.skip_space();
            scanner.eat(b':')?;
            scanner.skip_space();
            let value_start = scanner.at;
            scanner.value(1)?;
            let value = text.get(value_start..scanner.at)?;
            // Length and first byte first: most keys are told apart without a full compare.
            let same = |k: &&str| k.len() == key.len() && k.as_bytes().first() == key.as_bytes().first() && *k == key;
            if let Some(index) = keys.iter().position(same) {
                if found[index].replace(value).is_some() {
                    return None; // a repeated member: serde decides
                }
            }
            scanner.skip_space();
            match scanner.peek()? {
                b',' => scanner.at += 1,
                b'}' => {
                    scanner.at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    scanner.skip_space();
    (scanner.at == text.len()).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_members_and_validates_the_rest() {
        let text = r#" {"jsonrpc":"2.0", "id" : 7, "method":"ping","params":{"a":[1,-2.5e3,true,null,{}]},"x":false} "#;
        let [jsonrpc, id, method, params, result] =
            members(text, ["jsonrpc", "id", "method", "params", "result"], 64).unwrap();
        assert_eq!((jsonrpc, id, method, result), (Some(r#""2.0""#), Some("7"), Some(r#""ping""#), None));
        assert_eq!(params, Some(r#"{"a":[1,-2.5e3,true,null,{}]}"#));
        for outside in [
            r#"{"a\n":1}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1} x"#,
            r#"[1]"#,
            r#"{"id":1,"id":2}"#,
            "{\"a\":\"\u{1}\"}",
        ] {
            assert_eq!(members(outside, ["id"], 64), None, "{outside}");
        }
        assert_eq!(members(r#"{"a":"say \"hi\"\n\\"}"#, ["a"], 64), Some([Some(r#""say \"hi\"\n\\""#)]));
        // A repeated member nobody asked for is serde's business too, but harmless here.
        assert!(members(r#"{"x":1,"x":2}"#, ["id"], 64).is_some());
        // Nesting: within the limit, and one level past it.
        assert!(members(r#"{"a":[{"b":[]}]}"#, ["a"], 4).is_some());
        assert!(members(r#"{"a":[{"b":[]}]}"#, ["a"], 3).is_none());
    }
}
