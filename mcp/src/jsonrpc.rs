//! JSON-RPC 2.0 messages: the second layer, from a parsed value to a typed message.

use alloc::{
    borrow::ToOwned,
    string::{String, ToString},
};
use serde_json::{json, Map, Value};

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

/// One incoming message.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A request that needs exactly one response.
    Request {
        /// Its id (string or number, never null).
        id: Id,
        /// Method name.
        method: String,
        /// Parameters (an empty object when absent).
        params: Map<String, Value>,
    },
    /// A notification: no response, ever.
    Notification {
        /// Method name.
        method: String,
        /// Parameters (an empty object when absent).
        params: Map<String, Value>,
    },
    /// A response from the client to a request the server sent (an elicitation).
    Response {
        /// The id of the server's request.
        id: Id,
        /// `result` (`Ok`) or `error` (`Err`).
        outcome: Result<Value, Value>,
    },
}

/// Interprets a parsed JSON value. On error, returns the id (if one could be read) with
/// the error so the caller can answer it.
// The error is as large as the message it answers and is built once per bad message:
// boxing it would cost an allocation on every error for nothing.
#[allow(clippy::result_large_err)]
pub fn parse(value: Value) -> Result<Incoming, (Option<Id>, RpcError)> {
    let Value::Object(mut object) = value else {
        return Err((None, RpcError::new(ErrorCode::InvalidRequest, "a message must be a JSON object")));
    };
    let id = object.remove("id");
    let id = match id {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(Value::Null) => {
            return Err((None, RpcError::new(ErrorCode::InvalidRequest, "'id' must not be null")));
        }
        Some(_) => {
            return Err((None, RpcError::new(ErrorCode::InvalidRequest, "'id' must be a string or a number")));
        }
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((id, RpcError::new(ErrorCode::InvalidRequest, "'jsonrpc' must be \"2.0\"")));
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err((id, RpcError::new(ErrorCode::InvalidRequest, "'method' must be a string"))),
        None if object.contains_key("result") || object.contains_key("error") => {
            let Some(id) = id else {
                return Err((None, RpcError::new(ErrorCode::InvalidRequest, "a response needs an 'id'")));
            };
            let outcome = match object.remove("result") {
                Some(result) => Ok(result),
                None => Err(object.remove("error").unwrap_or(Value::Null)),
            };
            return Ok(Incoming::Response { id, outcome });
        }
        None => return Err((id, RpcError::new(ErrorCode::InvalidRequest, "'method' is missing"))),
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => return Err((id, RpcError::new(ErrorCode::InvalidParams, "'params' must be an object"))),
    };
    Ok(match id {
        Some(id) => Incoming::Request { id, method, params },
        None => Incoming::Notification { method, params },
    })
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

    #[test]
    fn requests_notifications_and_errors() {
        let r = parse(json!({"method": "ping", "id": 0, "jsonrpc": "2.0"})).unwrap();
        assert!(matches!(r, Incoming::Request { ref method, .. } if method == "ping"));
        let n = parse(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();
        assert!(matches!(n, Incoming::Notification { .. }));
        let (id, e) = parse(json!({"jsonrpc": "1.0", "id": "a", "method": "ping"})).unwrap_err();
        assert_eq!((id, e.code), (Some(json!("a")), ErrorCode::InvalidRequest));
        assert_eq!(
            parse(json!({"jsonrpc": "2.0", "id": null, "method": "x"})).unwrap_err().1.code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            parse(json!({"jsonrpc": "2.0", "id": [1], "method": "x"})).unwrap_err().1.code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            parse(json!({"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1]})).unwrap_err().1.code,
            ErrorCode::InvalidParams
        );
        assert_eq!(
            parse(json!({"jsonrpc": "2.0", "id": 1, "result": {}})).unwrap(),
            Incoming::Response { id: json!(1), outcome: Ok(json!({})) }
        );
    }
}
