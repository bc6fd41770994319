//! Just enough JSON for a tool without an allocator: reading top-level members of the
//! arguments object ([`Args`]), and writing a flat result object ([`Json`]). The kernel
//! has already checked the arguments against the input schema.

/// The arguments object of a call.
pub struct Args<'a> {
    text: &'a str,
}

/// Skips white space from `at`.
fn blank(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && matches!(bytes[at], b' ' | b'\t' | b'\n' | b'\r') {
        at += 1;
    }
    at
}

/// The end of the JSON value starting at `at` (strings, numbers, literals, nesting).
fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    let first = *bytes.get(at)?;
    match first {
        b'"' => {
            let mut i = at + 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => return Some(i + 1),
                    _ => i += 1,
                }
            }
            None
        }
        b'{' | b'[' => {
            let (mut depth, mut i, mut in_string) = (0usize, at, false);
            while i < bytes.len() {
                match (bytes[i], in_string) {
                    (b'\\', true) => i += 1,
                    (b'"', _) => in_string = !in_string,
                    (b'{' | b'[', false) => depth += 1,
                    (b'}' | b']', false) => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = at;
            while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                i += 1;
            }
            Some(i)
        }
    }
}

impl<'a> Args<'a> {
    /// The arguments' JSON text.
    pub fn new(text: &'a str) -> Self {
        Args { text }
    }

    /// The raw JSON text of top-level member `key`.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let mut at = blank(bytes, 0);
        if bytes.get(at) != Some(&b'{') {
            return None;
        }
        at += 1;
        loop {
            at = blank(bytes, at);
            if bytes.get(at) != Some(&b'"') {
                return None;
            }
            let name_end = value_end(bytes, at)?;
            let name = &self.text[at + 1..name_end - 1];
            at = blank(bytes, name_end);
            if bytes.get(at) != Some(&b':') {
                return None;
            }
            at = blank(bytes, at + 1);
            let end = value_end(bytes, at)?;
            if name == key {
                return Some(&self.text[at..end]);
            }
            at = blank(bytes, end);
            match bytes.get(at) {
                Some(b',') => at += 1,
                _ => return None,
            }
        }
    }

    /// Member `key` as an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        let raw = self.raw(key)?;
        raw.parse().ok().or_else(|| {
            // `3.0` is an integer to a JSON Schema.
            raw.strip_suffix(".0").and_then(|whole| whole.parse().ok())
        })
    }

    /// Member `key` as a boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Member `key` as a string without escapes (`None` if it has any).
    pub fn str(&self, key: &str) -> Option<&'a str> {
        let raw = self.raw(key)?;
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        (!inner.contains('\\')).then_some(inner)
    }
}

/// Writes a flat JSON object into a buffer: `Json::new(&mut buf).int("pin", 17).finish()`.
/// Members that do not fit are dropped and [`Json::finish`] gives what fitted, closed.
pub struct Json<'a> {
    buffer: &'a mut [u8],
    len: usize,
    members: usize,
    overflow: bool,
}

impl<'a> Json<'a> {
    /// An empty object in `buffer` (at least 2 bytes).
    pub fn new(buffer: &'a mut [u8]) -> Self {
        let mut json = Json { buffer, len: 0, members: 0, overflow: false };
        json.push(b"{");
        json
    }

    fn push(&mut self, bytes: &[u8]) {
        // Room for the closing brace is kept.
        if self.overflow || self.len + bytes.len() + 1 > self.buffer.len() {
            self.overflow = true;
            return;
        }
        self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Writes one member whole, or (when it does not fit) nothing.
    fn member(mut self, key: &str, value: impl FnOnce(&mut Self)) -> Self {
        let (len, members) = (self.len, self.members);
        self.key(key);
        value(&mut self);
        if self.overflow {
            (self.len, self.members) = (len, members);
        }
        self
    }

    fn key(&mut self, key: &str) {
        if self.members > 0 {
            self.push(b",");
        }
        self.members += 1;
        self.string(key);
        self.push(b":");
    }

    fn string(&mut self, text: &str) {
        self.push(b"\"");
        for c in text.bytes() {
            match c {
                b'"' => self.push(b"\\\""),
                b'\\' => self.push(b"\\\\"),
                c if c < 0x20 => self.push(b"?"),
                c => self.push(&[c]),
            }
        }
        self.push(b"\"");
    }

    /// An integer member.
    pub fn int(self, key: &str, value: i64) -> Self {
        self.member(key, |json| json.integer(value))
    }

    fn integer(&mut self, value: i64) {
        let mut digits = [0u8; 20];
        let mut n = value.unsigned_abs();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if value < 0 {
            self.push(b"-");
        }
        self.push(&digits[at..]);
    }

    /// A number with `decimals` (0-6) digits after the point.
    pub fn fixed(self, key: &str, value: f64, decimals: u32) -> Self {
        let decimals = decimals.min(6);
        let scale = 10i64.pow(decimals);
        let scaled = (value * scale as f64 + if value < 0.0 { -0.5 } else { 0.5 }) as i64;
        let (whole, fraction) = (scaled / scale, (scaled % scale).unsigned_abs());
        self.member(key, |json| json.decimal(scaled < 0 && whole == 0, whole, fraction, decimals))
    }

    fn decimal(&mut self, minus_zero: bool, whole: i64, fraction: u64, decimals: u32) {
        if minus_zero {
            self.push(b"-");
        }
        self.integer(whole);
        if decimals > 0 {
            self.push(b".");
            let mut frac = [b'0'; 6];
            let mut f = fraction;
            for i in (0..decimals as usize).rev() {
                frac[i] = b'0' + (f % 10) as u8;
                f /= 10;
            }
            self.push(&frac[..decimals as usize]);
        }
    }

    /// A boolean member.
    pub fn bool(self, key: &str, value: bool) -> Self {
        self.member(key, |json| json.push(if value { b"true" } else { b"false" }))
    }

    /// A string member.
    pub fn str(self, key: &str, value: &str) -> Self {
        self.member(key, |json| json.string(value))
    }

    /// The object's text.
    pub fn finish(self) -> &'a str {
        let Json { buffer, len, .. } = self;
        buffer[len] = b'}';
        core::str::from_utf8(&buffer[..len + 1]).unwrap_or("{}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_by_member() {
        let args = Args::new(
            r#" { "pin" : 17, "times": 3.0, "name":"a\"b", "on": true, "nested": {"x": [1, "}"]}, "label": "led" } "#,
        );
        assert_eq!(args.int("pin"), Some(17));
        assert_eq!(args.int("times"), Some(3));
        assert_eq!(args.bool("on"), Some(true));
        assert_eq!(args.str("name"), None, "escaped strings are not borrowed");
        assert_eq!(args.raw("nested"), Some(r#"{"x": [1, "}"]}"#));
        assert_eq!(args.str("label"), Some("led"));
        assert_eq!(args.int("missing"), None);
        for broken in ["", "[]", "{", r#"{"a""#, r#"{"a":"#, r#"{"a":1 "b":2}"#, r#"{"a":"unterminated}"#] {
            assert_eq!(Args::new(broken).int("b"), None, "{broken}");
        }
    }

    #[test]
    fn results_are_valid_json_and_truncate_cleanly() {
        let mut buffer = [0u8; 128];
        let text = Json::new(&mut buffer)
            .int("pin", -17)
            .bool("on", true)
            .str("say", "a\"b")
            .fixed("celsius", 25.5, 2)
            .fixed("t", -0.25, 1)
            .finish();
        assert_eq!(text, r#"{"pin":-17,"on":true,"say":"a\"b","celsius":25.50,"t":-0.3}"#);
        let mut small = [0u8; 12];
        assert_eq!(Json::new(&mut small).int("pin", 17).str("long", "does not fit").finish(), r#"{"pin":17}"#);
    }
}
