//! JSON-RPC 2.0 messages: the second layer, from a parsed value to a typed message.

use alloc::{
    borrow::{Cow, ToOwned},
    format,
    string::{String, ToString},
};
use core::fmt::Write;
use serde::Deserialize;
use serde_json::{json, value::RawValue, Map, Value};

/// JSON-RPC error codes used by MCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Invalid JSON, or not UTF-8.
    ParseError,
    /// Not a valid JSON-RPC request (batch, missing fields, too large, too deep).
    InvalidRequest,
    /// Unknown method.
    MethodNotFound,
    /// Bad parameters: unknown tool, arguments failing the schema, bad cursor.
    InvalidParams,
    /// A bug on the server side.
    InternalError,
    /// MCP: the requested resource does not exist.
    ResourceNotFound,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            Self::ParseError => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidParams => -32602,
            Self::InternalError => -32603,
            Self::ResourceNotFound => -32002,
        }
    }
}

/// An error answer: code, message and optional data.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// The error code.
    pub code: ErrorCode,
    /// A message a person can act on.
    pub message: String,
    /// Extra structured detail.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    /// Shorthand for -32602.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }
}

impl core::fmt::Display for RpcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code())
    }
}

/// A request id: a string or an integer (JSON-RPC also allows other numbers; we keep any
/// number as given).
pub type Id = Value;

/// A request id exactly as the client wrote it: the text of a JSON string or number,
/// echoed into the answer without being parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawId<'a>(&'a str);

impl<'a> RawId<'a> {
    /// The JSON text of the id.
    pub fn text(&self) -> &'a str {
        self.0
    }

    /// The id as a value (for comparing with ids kept from earlier messages).
    pub fn to_value(&self) -> Id {
        serde_json::from_str(self.0).unwrap_or(Value::Null)
    }
}

/// One incoming message, borrowed from its text: only the envelope is parsed; `params`,
/// `result` and `error` stay JSON text until a method needs them.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A request that needs exactly one response.
    Request {
        /// Its id (string or number, never null).
        id: RawId<'a>,
        /// Method name (borrowed unless it contains escapes).
        method: Cow<'a, str>,
        /// Parameters: the text of an object, or `None` when absent or null.
        params: Option<&'a str>,
    },
    /// A notification: no response, ever.
    Notification {
        /// Method name.
        method: Cow<'a, str>,
        /// Parameters: the text of an object, or `None`.
        params: Option<&'a str>,
    },
    /// A response from the client to a request the server sent (an elicitation).
    Response {
        /// The id of the server's request.
        id: RawId<'a>,
        /// `result` (`Ok`) or `error` (`Err`, `None` if it was absent).
        outcome: Result<&'a str, Option<&'a str>>,
    },
}

/// A member of the envelope: absent, or present with its JSON text (`null` included, which
/// `Option` would not tell apart from absent).
#[derive(Default)]
pub(crate) enum Member<'a> {
    #[default]
    Absent,
    Present(&'a str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Member<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(deserializer).map(|raw| Member::Present(raw.get()))
    }
}

impl<'a> Member<'a> {
    pub(crate) fn text(&self) -> Option<&'a str> {
        match self {
            Member::Absent => None,
            Member::Present(text) => Some(text),
        }
    }

    fn from(text: Option<&'a str>) -> Self {
        text.map_or(Member::Absent, Member::Present)
    }
}

/// The members of a JSON-RPC message; everything else is ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    jsonrpc: Member<'a>,
    #[serde(default, borrow)]
    id: Member<'a>,
    #[serde(default, borrow)]
    method: Member<'a>,
    #[serde(default, borrow)]
    params: Member<'a>,
    #[serde(default, borrow)]
    result: Member<'a>,
    #[serde(default, borrow)]
    error: Member<'a>,
}

/// A JSON string's contents: borrowed when it has no escapes; `None` if `text` is not a
/// string.
pub fn string(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Interprets one message (a JSON object's text, as [`crate::frame::check`] passed it). On
/// error, returns the id (if one could be read) with the error so the caller can answer it.
// The error is as large as the message it answers and is built once per bad message:
// boxing it would cost an allocation on every error for nothing.
#[allow(clippy::result_large_err)]
pub fn parse(text: &str) -> Result<Incoming<'_>, (Option<RawId<'_>>, RpcError)> {
    parse_within(text, crate::frame::Limits::default().max_depth)
}

/// [`parse`] with a nesting limit: the scanner stops past it, and the depth check runs before
/// `serde_json` sees a message the scanner did not read.
#[allow(clippy::result_large_err)]
pub fn parse_within(text: &str, max_depth: usize) -> Result<Incoming<'_>, (Option<RawId<'_>>, RpcError)> {
    // The scanner reads the usual message without serde; anything unusual goes to serde.
    let fast = crate::scan::members(text, ["jsonrpc", "id", "method", "params", "result", "error"], max_depth);
    if fast.is_none() {
        let limits = crate::frame::Limits { max_depth, ..Default::default() };
        crate::frame::check_depth(text, &limits).map_err(|error| (None, error))?;
    }
    let parsed = match fast {
        Some([jsonrpc, id, method, params, result, error]) => Ok(Envelope {
            jsonrpc: Member::from(jsonrpc),
            id: Member::from(id),
            method: Member::from(method),
            params: Member::from(params),
            result: Member::from(result),
            error: Member::from(error),
        }),
        None => serde_json::from_str(text),
    };
    let envelope: Envelope<'_> = match parsed {
        Ok(envelope) => envelope,
        Err(error) => {
            // Valid JSON that does not fit the envelope (a repeated member) is a bad request;
            // anything else is not JSON at all.
            let valid = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            let error = if valid {
                RpcError::new(ErrorCode::InvalidRequest, format!("not a JSON-RPC message: {error}"))
            } else {
                RpcError::new(ErrorCode::ParseError, format!("invalid JSON: {error}"))
            };
            return Err((None, error));
        }
    };
    let id = match envelope.id.text() {
        None => None,
        Some("null") => return Err((None, RpcError::new(ErrorCode::InvalidRequest, "'id' must not be null"))),
        Some(text)
            if text.starts_with('"') || text.starts_with('-') || text.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Some(RawId(text))
        }
        Some(_) => return Err((None, RpcError::new(ErrorCode::InvalidRequest, "'id' must be a string or a number"))),
    };
    if envelope.jsonrpc.text().and_then(string).as_deref() != Some("2.0") {
        return Err((id, RpcError::new(ErrorCode::InvalidRequest, "'jsonrpc' must be \"2.0\"")));
    }
    let method = match envelope.method.text() {
        Some(text) => match string(text) {
            Some(method) => method,
            None => return Err((id, RpcError::new(ErrorCode::InvalidRequest, "'method' must be a string"))),
        },
        None => {
            if matches!((&envelope.result, &envelope.error), (Member::Absent, Member::Absent)) {
                return Err((id, RpcError::new(ErrorCode::InvalidRequest, "'method' is missing")));
            }
            let Some(id) = id else {
                return Err((None, RpcError::new(ErrorCode::InvalidRequest, "a response needs an 'id'")));
            };
            let outcome = match (envelope.result, envelope.error) {
                (Member::Present(result), _) => Ok(result),
                (Member::Absent, Member::Present(error)) => Err(Some(error)),
                (Member::Absent, Member::Absent) => Err(None),
            };
            return Ok(Incoming::Response { id, outcome });
        }
    };
    let params = match envelope.params {
        Member::Absent => None,
        Member::Present("null") => None,
        Member::Present(text) if text.starts_with('{') => Some(text),
        Member::Present(_) => return Err((id, RpcError::new(ErrorCode::InvalidParams, "'params' must be an object"))),
    };
    Ok(match id {
        Some(id) => Incoming::Request { id, method, params },
        None => Incoming::Notification { method, params },
    })
}

/// The members of `params` as values (an empty map when absent).
pub fn params_map(params: Option<&str>) -> Result<Map<String, Value>, RpcError> {
    match params {
        None => Ok(Map::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|error| RpcError::new(ErrorCode::InvalidParams, format!("invalid 'params': {error}"))),
    }
}

/// Appends a success response whose result is the JSON text `result` (one line, no newline).
pub fn write_response(out: &mut String, id: RawId<'_>, result: &str) {
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    out.push_str(id.0);
    out.push_str(r#","result":"#);
    out.push_str(result);
    out.push('}');
}

/// Appends a success response with a result value.
pub fn write_value_response(out: &mut String, id: RawId<'_>, result: &Value) {
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    out.push_str(id.0);
    out.push_str(r#","result":"#);
    let _ = write!(out, "{result}");
    out.push('}');
}

/// Appends an error response; `id` is null when unknown.
pub fn write_error(out: &mut String, id: Option<RawId<'_>>, error: &RpcError) {
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    out.push_str(id.map_or("null", |id| id.0));
    let _ = write!(out, r#","error":{{"code":{},"message":"#, error.code.code());
    write_string(out, &error.message);
    if let Some(data) = &error.data {
        let _ = write!(out, r#","data":{data}"#);
    }
    out.push_str("}}");
}

/// Appends `text` as a JSON string literal (quoted and escaped).
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    escape_into(out, text);
    out.push('"');
}

/// Appends the JSON text of `value` as a JSON string literal (a tool's structured result
/// as its text content), escaping as it serializes: no intermediate string.
pub fn write_json_string(out: &mut String, value: &Value) {
    struct Escaping<'a>(&'a mut String);
    impl Write for Escaping<'_> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            escape_into(self.0, text);
            Ok(())
        }
    }
    out.push('"');
    let _ = write!(Escaping(out), "{value}");
    out.push('"');
}

/// Appends, escaped as a JSON string's contents, the text already in `out[range]` (a value
/// serialized a moment before), without copying it elsewhere first.
pub fn escape_within(out: &mut String, range: core::ops::Range<usize>) {
    let mut start = range.start;
    for index in range.clone() {
        let byte = out.as_bytes()[index];
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.extend_from_within(start..index);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.extend_from_within(start..range.end);
}

fn escape_into(out: &mut String, text: &str) {
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
}

impl Incoming<'_> {
    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => Some(method),
            Incoming::Response { .. } => None,
        }
    }
}

/// The parameters of `tools/call`, borrowed from the message.
pub struct CallParams<'a> {
    /// The tool's name.
    pub name: Cow<'a, str>,
    /// The arguments' JSON text (`{}` when absent or null).
    pub arguments: &'a str,
    meta: Option<&'a str>,
}

impl<'a> CallParams<'a> {
    /// Reads `params` of a `tools/call`.
    pub fn parse(params: Option<&'a str>) -> Result<Self, RpcError> {
        #[derive(Deserialize, Default)]
        struct Members<'a> {
            #[serde(default, borrow)]
            name: Member<'a>,
            #[serde(default, borrow)]
            arguments: Member<'a>,
            #[serde(default, borrow, rename = "_meta")]
            meta: Member<'a>,
        }
        // The message's depth was checked: any limit works for the scanner here.
        let fast = params.map(|params| crate::scan::members(params, ["name", "arguments", "_meta"], usize::MAX));
        let members: Members<'a> = match (params, fast) {
            (None, _) => Members::default(),
            (Some(_), Some(Some([name, arguments, meta]))) => {
                Members { name: Member::from(name), arguments: Member::from(arguments), meta: Member::from(meta) }
            }
            (Some(params), _) => serde_json::from_str(params)
                .map_err(|error| RpcError::invalid_params(format!("invalid 'params': {error}")))?,
        };
        let name =
            members.name.text().and_then(string).ok_or_else(|| RpcError::invalid_params("'name' must be a string"))?;
        let arguments = match members.arguments.text() {
            None | Some("null") => "{}",
            Some(text) => text,
        };
        let meta = match members.meta {
            Member::Present(meta) => Some(meta),
            Member::Absent => None,
        };
        Ok(CallParams { name, arguments, meta })
    }

    /// `_meta.progressToken`, if the caller asked for progress (a string or a number).
    pub fn progress_token(&self) -> Option<Value> {
        let meta: Value = serde_json::from_str(self.meta?).ok()?;
        meta.get("progressToken").filter(|t| t.is_string() || t.is_number()).cloned()
    }
}

/// Serializes a success response as one line (no newline).
pub fn response(id: &Id, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// Serializes an error response as one line (no newline); `id` is null when unknown.
pub fn error_response(id: Option<&Id>, error: &RpcError) -> String {
    let mut body = Map::new();
    body.insert("code".to_owned(), Value::from(error.code.code()));
    body.insert("message".to_owned(), Value::from(error.message.clone()));
    if let Some(data) = &error.data {
        body.insert("data".to_owned(), data.clone());
    }
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": body}).to_string()
}

/// Serializes a notification as one line (no newline).
pub fn notification(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Incoming<'_>, (Option<RawId<'_>>, RpcError)> {
        parse(text)
    }

    #[test]
    fn requests_notifications_and_errors() {
        let r = parsed(r#"{"method": "ping", "id": 0, "jsonrpc": "2.0"}"#).unwrap();
        assert!(
            matches!(r, Incoming::Request { ref method, id, params: None } if method == "ping" && id.text() == "0")
        );
        let n = parsed(r#"{"jsonrpc": "2.0", "method": "notifications/initialized"}"#).unwrap();
        assert!(matches!(n, Incoming::Notification { .. }));
        let (id, e) = parsed(r#"{"jsonrpc": "1.0", "id": "a", "method": "ping"}"#).unwrap_err();
        assert_eq!((id.map(|i| i.text()), e.code), (Some("\"a\""), ErrorCode::InvalidRequest));
        for bad in [
            r#"{"jsonrpc": "2.0", "id": null, "method": "x"}"#,
            r#"{"jsonrpc": "2.0", "id": [1], "method": "x"}"#,
            r#"{"jsonrpc": "2.0", "id": true, "method": "x"}"#,
            r#"{"jsonrpc": "2.0", "id": 1, "method": 5}"#,
            r#"{"jsonrpc": "2.0", "id": 1}"#,
            r#"{"jsonrpc": 2.0, "id": 1, "method": "x"}"#,
            r#"{"jsonrpc": "2.0", "id": 1, "id": 2, "method": "x"}"#,
        ] {
            assert_eq!(parsed(bad).unwrap_err().1.code, ErrorCode::InvalidRequest, "{bad}");
        }
        assert_eq!(
            parsed(r#"{"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1]}"#).unwrap_err().1.code,
            ErrorCode::InvalidParams
        );
        assert_eq!(parsed(r#"{"jsonrpc": "2.0", "id": 1, "method": "x""#).unwrap_err().1.code, ErrorCode::ParseError);
        let Ok(Incoming::Response { id, outcome: Ok(result) }) = parsed(r#"{"jsonrpc": "2.0", "id": 1, "result": {}}"#)
        else {
            panic!("a response")
        };
        assert_eq!((id.to_value(), result), (json!(1), "{}"));
        // Escaped members are decoded, plain ones borrowed.
        let Ok(Incoming::Request { method, params, .. }) =
            parsed(r#"{"jsonrpc":"\u0032.0","id":"x","method":"p\u0069ng","params":{"a":1}}"#)
        else {
            panic!("a request")
        };
        assert_eq!((method.as_ref(), params), ("ping", Some(r#"{"a":1}"#)));
    }

    #[test]
    fn written_answers_are_json() {
        let mut out = String::new();
        write_error(&mut out, None, &RpcError::new(ErrorCode::ParseError, "a \"quote\"\n\u{1}\\ é"));
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["error"]["message"], "a \"quote\"\n\u{1}\\ é");
        assert_eq!(out, error_response(None, &RpcError::new(ErrorCode::ParseError, "a \"quote\"\n\u{1}\\ é")));
        // Escaping a serialized value in place gives what escaping while serializing gives.
        let value = json!({"t": "a \"b\"\n\u{1} é \\", "n": [1, 2.5, null]});
        let mut expected = String::new();
        write_json_string(&mut expected, &value);
        out.clear();
        out.push_str("prefix:");
        let start = out.len();
        let _ = write!(out, "{value}");
        let end = out.len();
        out.push('"');
        escape_within(&mut out, start..end);
        out.push('"');
        assert_eq!(&out[end..], expected);
        out.clear();
        write_response(&mut out, RawId("\"id\""), "{}");
        assert_eq!(out, response(&json!("id"), json!({})));
    }

    /// The scanner (fast path) against serde on mutated messages: whenever the scanner
    /// answers, serde accepts the text too and reads the same members.
    #[test]
    fn scanner_agrees_with_serde() {
        let seeds = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc": "2.0", "id": "a-1", "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": [3.5e-2, true, null]}}}"#,
            r#"{"jsonrpc":"2.0","id":-0.5,"result":{"x":[{},[]],"t":"a \"b\" \\ \n \u00e9"},"error":null}"#,
            r#" { "method" : "notifications/initialized" , "jsonrpc" : "2.0" } "#,
        ];
        let alphabet = b"{}[]\",:0123456789-+.eEtrufalsn \t\n\\\\ax\x01u/";
        let mut rng = testkit::Rng::new(0x5ca9);
        let (mut scanned, mut total) = (0, 0);
        for _ in 0..200_000 {
            let mut bytes = seeds[rng.below(seeds.len())].as_bytes().to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len() + 1);
                let byte = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, byte),
                }
            }
            let Ok(text) = core::str::from_utf8(&bytes) else { continue };
            total += 1;
            let keys = ["jsonrpc", "id", "method", "params", "result", "error"];
            let Some(fast) = crate::scan::members(text, keys, 64) else { continue };
            scanned += 1;
            let slow: Envelope<'_> = serde_json::from_str(text)
                .unwrap_or_else(|error| panic!("the scanner accepted what serde refuses ({error}): {text}"));
            let slow = [slow.jsonrpc, slow.id, slow.method, slow.params, slow.result, slow.error].map(|m| m.text());
            assert_eq!(fast, slow, "{text}");
        }
        // Mutations must leave plenty of messages in the scanner's shape, and push many out.
        assert!(scanned > total / 10 && scanned < total * 9 / 10, "{scanned} of {total} scanned");
    }
}
