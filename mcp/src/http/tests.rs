use super::*;
use crate::{json, Annotations, CallError, ServerInfo, Tool, ToolOutput};
use alloc::vec;

const TOKEN: &str = "secret-token-0123456789";

fn entropy() -> u64 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
}

/// A server with no tools yet.
fn test_server() -> Server {
    Server::new(ServerInfo {
        name: "test".into(),
        title: "Test".into(),
        version: "1".into(),
        instructions: String::new(),
    })
}

fn endpoint() -> Endpoint {
    let mut server = test_server();
    server
        .add_tool(
            Tool::new("echo", |ctx, args| {
                ctx.progress(1.0, Some(2.0), Some("half"));
                Ok(ToolOutput::new(json!({"said": args.get("text").cloned().unwrap_or_default()})))
            })
            .title("Echo")
            .description("Echoes")
            .input_schema_text(
                r#"{"type":"object","properties":{"text":{"type":"string"}},"additionalProperties":false}"#,
            )
            .output_schema_text(r#"{"type":"object","properties":{"said":{}}}"#)
            .annotations(Annotations::READ_ONLY),
        )
        .unwrap();
    Endpoint::new(Arc::clone(server.registry()), TOKEN, entropy)
}

fn request(method: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}

fn parsed(bytes: &[u8]) -> Request {
    match parse(bytes, &HttpLimits::default()) {
        Parse::Complete(request, used) => {
            assert_eq!(used, bytes.len());
            request
        }
        other => panic!("{other:?}"),
    }
}

const AUTH: (&str, &str) = ("Authorization", "Bearer secret-token-0123456789");
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Routes and runs a request like the kernel's transport does; returns the response.
fn exchange(endpoint: &mut Endpoint, bytes: &[u8]) -> (Response, Vec<String>) {
    let request = parsed(bytes);
    match endpoint.route(&request) {
        Action::Respond(response) => (response, vec![]),
        Action::Call { session, message, stream, id, created, role } => {
            let (mut server, owned) = endpoint.begin(session.as_deref(), id.as_ref());
            server.set_role(role);
            let mut events = Vec::new();
            let mut sink = |line: &str| events.push(String::from(line));
            let answer = server.handle_message_streaming(&message, None, if stream { Some(&mut sink) } else { None });
            endpoint.finish(session.as_deref(), server, owned);
            if stream {
                events.extend(answer);
                (Response::empty(200), events)
            } else {
                (Endpoint::response(answer, created.then_some(session.as_deref().unwrap_or(""))), events)
            }
        }
    }
}

fn session_of(response: &Response) -> String {
    response.headers.iter().find(|(n, _)| *n == "Mcp-Session-Id").map(|(_, v)| v.clone()).expect("session id")
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

#[test]
fn a_session_initializes_lists_and_calls() {
    let mut e = endpoint();
    let (init, _) = exchange(&mut e, &request("POST", &[AUTH, JSON], INIT));
    assert_eq!(init.status, 200);
    let session = session_of(&init);
    assert_eq!(session.len(), 32);
    let sid = ("Mcp-Session-Id", session.as_str());
    let (accepted, _) = exchange(
        &mut e,
        &request("POST", &[AUTH, JSON, sid], r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
    );
    assert_eq!((accepted.status, accepted.body.len()), (202, 0));
    let (list, _) = exchange(
        &mut e,
        &request(
            "POST",
            &[AUTH, JSON, sid, ("MCP-Protocol-Version", "2025-11-25")],
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        ),
    );
    assert_eq!(list.status, 200);
    assert!(String::from_utf8_lossy(&list.body).contains("\"echo\""));
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":7}}}"#;
    let (_, events) =
        exchange(&mut e, &request("POST", &[AUTH, JSON, sid, ("Accept", "application/json, text/event-stream")], call));
    assert_eq!(events.len(), 2, "progress, then the answer: {events:?}");
    assert!(events[0].contains("notifications/progress") && events[1].contains("\"said\":\"hi\""));
    // Without event-stream in Accept the same call is a plain JSON answer.
    let (plain, events) = exchange(&mut e, &request("POST", &[AUTH, JSON, sid], call));
    assert!(events.is_empty() && String::from_utf8_lossy(&plain.body).contains("\"said\":\"hi\""));
    let (deleted, _) = exchange(&mut e, &request("DELETE", &[AUTH, sid], ""));
    assert_eq!(deleted.status, 204);
    let (gone, _) =
        exchange(&mut e, &request("POST", &[AUTH, JSON, sid], r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#));
    assert_eq!(gone.status, 404);
}

#[test]
fn the_transport_rules_give_their_status_codes() {
    let mut e = endpoint();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let cases: [(Vec<u8>, u16); 8] = [
        (request("POST", &[JSON], ping), 401),
        (request("POST", &[("Authorization", "Bearer wrong"), JSON], ping), 401),
        (request("POST", &[AUTH, JSON, ("Origin", "http://evil.example")], ping), 403),
        (request("POST", &[AUTH, JSON, ("MCP-Protocol-Version", "1999-01-01")], ping), 400),
        (request("POST", &[AUTH, ("Content-Type", "text/plain")], ping), 415),
        (request("GET", &[AUTH], ""), 405),
        (request("PUT", &[AUTH], ""), 405),
        (request("POST", &[AUTH, JSON, ("Mcp-Session-Id", "nope")], ping), 404),
    ];
    for (bytes, status) in cases {
        let (response, _) = exchange(&mut e, &bytes);
        assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&bytes));
    }
    let (response, _) = exchange(&mut e, b"POST /other HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(response.status, 404);
    let foreign_host = b"POST /mcp HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer secret-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(exchange(&mut e, foreign_host).0.status, 403, "DNS rebinding");
    e.set_addresses(&["10.0.2.15".into()]);
    let own_address = request("POST", &[AUTH, JSON, ("Origin", "http://10.0.2.15:80")], ping);
    assert_eq!(exchange(&mut e, &own_address).0.status, 200);
    // A sessionless request that is not initialize gets its JSON-RPC answer (a newer
    // client's discovery gets the error it falls back on).
    let (discover, _) =
        exchange(&mut e, &request("POST", &[AUTH, JSON], r#"{"jsonrpc":"2.0","id":9,"method":"server/discover"}"#));
    assert_eq!(discover.status, 200);
    assert!(String::from_utf8_lossy(&discover.body).contains("-32601"));
    assert_eq!(e.session_count(), 0);
}

#[test]
fn malformed_and_oversized_requests_are_rejected_before_routing() {
    let limits = HttpLimits::default();
    assert!(matches!(parse(b"POST /mcp HTTP/1.1\r\nContent-Le", &limits), Parse::Incomplete));
    assert!(matches!(
        parse(b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n{}", &limits),
        Parse::Incomplete
    ));
    let reject = |bytes: &[u8]| match parse(bytes, &limits) {
        Parse::Reject(r) => r.status,
        other => panic!("{other:?}"),
    };
    assert_eq!(reject(b"\x00\x01garbage\r\n\r\n"), 400);
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nHost: h\r\n\r\n"), 411);
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"), 400);
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n"), 413);
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
    // Ambiguous or missing framing and addressing headers (request smuggling, rebinding).
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"), 400, "no Host");
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}"), 400);
    assert_eq!(reject(b"POST /mcp HTTP/1.1\r\nHost: h\r\ncontent-length: 2\r\nCONTENT-LENGTH: 2\r\n\r\n{}"), 400);
    assert_eq!(
        reject(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nContent-Length: 2\r\n\r\n{}"),
        400
    );
    assert!(
        matches!(parse(b"POST /mcp HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", &limits), Parse::Complete(..)),
        "HTTP/1.0 has no Host"
    );
    let mut long = b"POST /mcp HTTP/1.1\r\nX: ".to_vec();
    long.extend(core::iter::repeat_n(b'a', 9000));
    assert_eq!(reject(&long), 431);
    let mut many = b"GET /mcp HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        many.extend(format!("X-{i}: y\r\n").bytes());
    }
    many.extend(b"\r\n");
    assert_eq!(reject(&many), 431);
    // Pipelined requests: the first one's length is reported.
    let mut two = request("POST", &[AUTH, JSON], "{}");
    let first = two.len();
    two.extend(request("POST", &[AUTH, JSON], "{}"));
    assert!(matches!(parse(&two, &limits), Parse::Complete(_, used) if used == first));
}

#[test]
fn a_cancellation_reaches_the_running_request() {
    let mut e = endpoint();
    let (init, _) = exchange(&mut e, &request("POST", &[AUTH, JSON], INIT));
    let session = session_of(&init);
    let call = parsed(&request(
        "POST",
        &[AUTH, JSON, ("Mcp-Session-Id", &session)],
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#,
    ));
    let Action::Call { session: s, id, .. } = e.route(&call) else { panic!() };
    let (server, owned) = e.begin(s.as_deref(), id.as_ref());
    assert!(owned && !e.is_cancelled(s.as_deref()));
    // While it runs, the same session still answers (through its second handle) ...
    let (pong, _) = exchange(
        &mut e,
        &request("POST", &[AUTH, JSON, ("Mcp-Session-Id", &session)], r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#),
    );
    assert_eq!(pong.status, 200);
    // ... and a cancellation of request 5 marks it.
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#;
    let (accepted, _) = exchange(&mut e, &request("POST", &[AUTH, JSON, ("Mcp-Session-Id", &session)], cancel));
    assert_eq!(accepted.status, 202);
    assert!(e.is_cancelled(s.as_deref()));
    e.finish(s.as_deref(), server, owned);
    assert!(!e.is_cancelled(s.as_deref()));
}

#[test]
fn sessions_are_bounded() {
    let mut e = endpoint();
    for _ in 0..MAX_SESSIONS + 5 {
        let (init, _) = exchange(&mut e, &request("POST", &[AUTH, JSON], INIT));
        assert_eq!(init.status, 200);
    }
    assert_eq!(e.session_count(), MAX_SESSIONS);
}

#[test]
fn responses_serialize() {
    let response = Endpoint::response(Some("{}".into()), Some("abc"));
    let text = String::from_utf8(response.to_bytes()).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"));
    assert!(text.contains("Mcp-Session-Id: abc\r\n") && text.ends_with("\r\n\r\n{}"));
    assert_eq!(
        String::from_utf8(Response::empty(202).to_bytes()).unwrap(),
        "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    );
    assert!(String::from_utf8(event_stream_head(None)).unwrap().contains("text/event-stream"));
    assert_eq!(event("{}"), b"event: message\ndata: {}\n\n");
}

#[test]
fn host_names_are_extracted() {
    assert_eq!(host_of("127.0.0.1:8080"), "127.0.0.1");
    assert_eq!(host_of("http://localhost:3000"), "localhost");
    assert_eq!(host_of("http://[::1]:80"), "::1");
    assert_eq!(host_of("example.com"), "example.com");
    assert_eq!(host_of("https://a.b/c"), "a.b");
}

#[test]
fn mutated_requests_never_panic() {
    let mut e = endpoint();
    let base = request(
        "POST",
        &[AUTH, JSON, ("Accept", "text/event-stream")],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{"progressToken":1}}}"#,
    );
    let mut rng = testkit::Rng::new(0x2545_f491);
    for _ in 0..20_000 {
        let mut m = base.clone();
        for _ in 0..3 {
            let at = rng.below(m.len());
            m[at] = rng.byte();
        }
        if rng.chance(1, 7) {
            m.truncate(rng.below(m.len()));
        }
        if let Parse::Complete(request, _) = parse(&m, &e.limits()) {
            if let Action::Call { session, message, id, .. } = e.route(&request) {
                let (mut server, owned) = e.begin(session.as_deref(), id.as_ref());
                let _ = server.handle_message(&message);
                e.finish(session.as_deref(), server, owned);
            }
        }
    }
}

#[test]
fn a_read_token_reads_and_is_refused_what_changes_the_machine() {
    let mut server = test_server();
    server
        .add_tool(
            Tool::new("look", |_, _| Ok(ToolOutput::new(json!({"ok": true})))).annotations(Annotations::READ_ONLY),
        )
        .unwrap();
    server
        .add_tool(
            Tool::new("reset", |_, _| Ok(ToolOutput::new(json!({"reset": true}))))
                .annotations(Annotations::DESTRUCTIVE),
        )
        .unwrap();
    let mut e = Endpoint::new(Arc::clone(server.registry()), TOKEN, entropy);
    e.set_read_token("read-token-abcdef");
    let read = ("Authorization", "Bearer read-token-abcdef");
    let call = |name: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{name}","arguments":{{}}}}}}"#)
    };
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let (r, _) = exchange(&mut e, &request("POST", &[read, JSON], ping));
    assert_eq!(r.status, 200);
    let (r, _) = exchange(&mut e, &request("POST", &[read, JSON], &call("look")));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains(r#""isError":false"#), "{}", String::from_utf8_lossy(&r.body));
    let (r, _) = exchange(&mut e, &request("POST", &[read, JSON], &call("reset")));
    assert_eq!(r.status, 403);
    let challenge =
        r.headers.iter().find(|(n, _)| *n == "WWW-Authenticate").map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(r#"scope="control""#),
        "{challenge}"
    );
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("control role") && body.contains(r#""id":2"#), "{body}");
    // The control token may, once confirmed (this client cannot be asked); a wrong token is
    // 401 either way.
    let (r, _) = exchange(&mut e, &request("POST", &[AUTH, JSON], &call("reset")));
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains(r#""isError":true"#) && body.contains(r#"\"confirm\": true"#), "{body}");
    let confirmed = call("reset").replace(r#""arguments":{}"#, r#""arguments":{"confirm":true}"#);
    let (r, _) = exchange(&mut e, &request("POST", &[AUTH, JSON], &confirmed));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains(r#""isError":false"#), "{}", String::from_utf8_lossy(&r.body));
    // A destructive call is answered on an event stream when the client takes one, so the
    // server can ask its user there; a read-only one without a progress token is plain JSON.
    let sse = ("Accept", "application/json, text/event-stream");
    let stream_of = |e: &mut Endpoint, body: &str| match e.route(&parsed(&request("POST", &[AUTH, JSON, sse], body))) {
        Action::Call { stream, .. } => stream,
        Action::Respond(r) => panic!("{}", r.status),
    };
    assert!(stream_of(&mut e, &call("reset")));
    assert!(!stream_of(&mut e, &call("look")));
    let (r, _) = exchange(&mut e, &request("POST", &[("Authorization", "Bearer read-token-abcdeX"), JSON], ping));
    assert_eq!(r.status, 401);
    // In the session itself (a second line of defence): the role is checked again.
    let mut session = Server::over(Arc::clone(server.registry()));
    session.set_role(Role::Read);
    assert!(matches!(session.call_tool("reset", &json!({})), Err(CallError::Forbidden(_))));
    assert!(session.call_tool("look", &json!({})).is_ok());
}
