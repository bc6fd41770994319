//! The serial console's line editor: one byte in, at most one finished line out.
//!
//! Editing follows what a terminal user expects of a shell: printable bytes insert at the
//! cursor; Backspace/DEL delete before it; left/right (`ESC [ C`/`D`), Home/End (`ESC [ H`/
//! `F`, `ESC [ 1~`/`4~`, `7~`/`8~`), Delete (`ESC [ 3~`); Ctrl-A/E move to the start/end,
//! Ctrl-K cuts to the end, Ctrl-U clears, Ctrl-C cancels the line; up/down walk the history
//! (the line being typed is kept as a draft); Tab completes through a callback. CR, LF or
//! CRLF end a line (the LF of a CRLF pair is swallowed).
//!
//! MCP shares the port: a line whose first byte is `{` is a JSON-RPC message. It is never
//! echoed or edited; its bytes are collected raw up to the end of the line. Lines (human
//! and JSON) are capped at the editor's `max_line` bytes; what comes after is dropped (the
//! MCP server answers an oversized message with a size error).
//!
//! What the editor prints (echo, redraws, ANSI sequences) goes to a [`Terminal`], so the
//! same code runs against the UART in the kernel and against a byte buffer in tests.

use alloc::{
    string::{String, ToString},
    vec::Vec,
};

/// Where the editor's output goes.
pub trait Terminal {
    /// Writes bytes to the terminal.
    fn write(&mut self, bytes: &[u8]);
}

impl Terminal for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// What a byte finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing yet: the line goes on.
    Pending,
    /// A human line (without its line end).
    Line(String),
    /// A JSON-RPC message: the raw bytes of a line that began with `{`.
    Json(Vec<u8>),
    /// Ctrl-C.
    Cancelled,
}

enum Escape {
    None,
    Start,
    Csi(u8),
}

/// The editor: the line being typed and the history of finished ones.
pub struct LineEditor {
    prompt: &'static str,
    max_line: usize,
    history_limit: usize,
    history: Vec<String>,
    /// The previous line ended with CR: swallow the LF of a CRLF pair.
    after_cr: bool,
    buffer: Vec<u8>,
    cursor: usize,
    json: bool,
    escape: Escape,
    /// Index into the history while recalling (== history.len() when not).
    recall: usize,
    /// The line typed before the history was recalled.
    draft: Vec<u8>,
}

impl LineEditor {
    /// An editor that redraws `prompt`, accepts lines up to `max_line` bytes and keeps the
    /// last `history_limit` distinct lines.
    pub fn new(prompt: &'static str, max_line: usize, history_limit: usize) -> LineEditor {
        LineEditor {
            prompt,
            max_line,
            history_limit,
            history: Vec::new(),
            after_cr: false,
            buffer: Vec::new(),
            cursor: 0,
            json: false,
            escape: Escape::None,
            recall: 0,
            draft: Vec::new(),
        }
    }

    /// Lines entered so far, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The line being typed and the cursor position in it.
    pub fn line(&self) -> (&[u8], usize) {
        (&self.buffer, self.cursor)
    }

    /// Feeds one received byte. `echo` is off while an MCP client owns the port;
    /// `complete` lists the completions of the text before the cursor (Tab).
    pub fn feed(
        &mut self,
        byte: u8,
        echo: bool,
        terminal: &mut dyn Terminal,
        complete: &mut dyn FnMut(&str) -> Vec<String>,
    ) -> Event {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        if self.json {
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = core::mem::take(&mut self.buffer);
                    self.start_line();
                    return Event::Json(line);
                }
                _ if self.buffer.len() < self.max_line => self.buffer.push(byte),
                _ => {} // over the limit: the server answers with a size error
            }
            return Event::Pending;
        }
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' { Escape::Csi(0) } else { Escape::None };
                return Event::Pending;
            }
            Escape::Csi(param) => {
                self.escape = Escape::None;
                self.control_sequence(byte, param, echo, terminal);
                return Event::Pending;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => {}
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                if echo {
                    terminal.write(b"\r\n");
                }
                let line = String::from_utf8_lossy(&self.buffer).into_owned();
                let trimmed = line.trim();
                if !trimmed.is_empty() && self.history.last().map(String::as_str) != Some(trimmed) {
                    if self.history.len() == self.history_limit {
                        self.history.remove(0);
                    }
                    self.history.push(trimmed.to_string());
                }
                self.buffer.clear();
                self.start_line();
                return Event::Line(line);
            }
            // A JSON-RPC message (an object; a batch array from a 2025-03-26 client) is
            // taken raw, to be answered by the server, never run as a command.
            b'{' | b'[' if self.buffer.is_empty() => {
                self.json = true;
                self.buffer.push(byte);
            }
            0x1b => self.escape = Escape::Start,
            0x03 => {
                if echo {
                    terminal.write(b"^C\r\n");
                }
                self.buffer.clear();
                self.start_line();
                return Event::Cancelled;
            }
            0x01 => self.move_to(0, echo, terminal),
            0x05 => self.move_to(self.buffer.len(), echo, terminal),
            0x0b => {
                self.buffer.truncate(self.cursor);
                self.redraw_if(echo, terminal);
            }
            0x15 => {
                self.buffer.clear();
                self.cursor = 0;
                self.redraw_if(echo, terminal);
            }
            0x08 | 0x7f if self.cursor > 0 => {
                self.cursor -= 1;
                self.buffer.remove(self.cursor);
                if echo {
                    if self.cursor == self.buffer.len() {
                        terminal.write(b"\x08 \x08");
                    } else {
                        self.redraw(terminal);
                    }
                }
            }
            b'\t' => self.complete(echo, terminal, complete),
            byte if byte >= 0x20 && byte != 0x7f && self.buffer.len() < self.max_line => {
                self.buffer.insert(self.cursor, byte);
                self.cursor += 1;
                if echo {
                    if self.cursor == self.buffer.len() {
                        terminal.write(&[byte]);
                    } else {
                        self.redraw(terminal);
                    }
                }
            }
            _ => {}
        }
        Event::Pending
    }

    /// State for a fresh line (the buffer is already empty).
    fn start_line(&mut self) {
        self.cursor = 0;
        self.json = false;
        self.escape = Escape::None;
        self.recall = self.history.len();
        self.draft.clear();
    }

    fn control_sequence(&mut self, byte: u8, param: u8, echo: bool, terminal: &mut dyn Terminal) {
        match byte {
            b'0'..=b'9' => self.escape = Escape::Csi(param.saturating_mul(10).saturating_add(byte - b'0')),
            b'A' | b'B' => {
                let target = if byte == b'A' { self.recall.checked_sub(1) } else { Some(self.recall + 1) };
                if let Some(target) = target.filter(|t| *t <= self.history.len()) {
                    if self.recall == self.history.len() {
                        self.draft = self.buffer.clone();
                    }
                    self.recall = target;
                    self.buffer = match self.history.get(self.recall) {
                        Some(line) => line.as_bytes().to_vec(),
                        None => self.draft.clone(),
                    };
                    self.cursor = self.buffer.len();
                    self.redraw_if(echo, terminal);
                }
            }
            b'C' if self.cursor < self.buffer.len() => {
                self.cursor += 1;
                if echo {
                    terminal.write(b"\x1b[C");
                }
            }
            b'D' if self.cursor > 0 => {
                self.cursor -= 1;
                if echo {
                    terminal.write(b"\x1b[D");
                }
            }
            b'H' => self.move_to(0, echo, terminal),
            b'F' => self.move_to(self.buffer.len(), echo, terminal),
            b'~' if param == 1 || param == 7 => self.move_to(0, echo, terminal),
            b'~' if param == 4 || param == 8 => self.move_to(self.buffer.len(), echo, terminal),
            b'~' if param == 3 && self.cursor < self.buffer.len() => {
                self.buffer.remove(self.cursor);
                self.redraw_if(echo, terminal);
            }
            _ => {}
        }
    }

    fn complete(&mut self, echo: bool, terminal: &mut dyn Terminal, complete: &mut dyn FnMut(&str) -> Vec<String>) {
        let typed = String::from_utf8_lossy(&self.buffer[..self.cursor]).into_owned();
        let candidates = complete(&typed);
        let partial = if typed.ends_with(' ') { 0 } else { typed.split(' ').next_back().map_or(0, str::len) };
        let insert = match candidates.as_slice() {
            [] => String::new(),
            [only] => {
                let mut text = only.get(partial.min(only.len())..).unwrap_or("").to_string();
                if !only.ends_with('=') {
                    text.push(' ');
                }
                text
            }
            many => {
                let prefix = common_prefix(many);
                let extra = prefix.get(partial.min(prefix.len())..).unwrap_or("").to_string();
                if extra.is_empty() && echo {
                    terminal.write(b"\r\n");
                    terminal.write(many.join("  ").as_bytes());
                    terminal.write(b"\r\n");
                }
                extra
            }
        };
        let room = self.max_line.saturating_sub(self.buffer.len());
        let insert = &insert.as_bytes()[..insert.len().min(room)];
        for (offset, &b) in insert.iter().enumerate() {
            self.buffer.insert(self.cursor + offset, b);
        }
        self.cursor += insert.len();
        self.redraw_if(echo, terminal);
    }

    fn move_to(&mut self, cursor: usize, echo: bool, terminal: &mut dyn Terminal) {
        self.cursor = cursor;
        self.redraw_if(echo, terminal);
    }

    fn redraw_if(&self, echo: bool, terminal: &mut dyn Terminal) {
        if echo {
            self.redraw(terminal);
        }
    }

    /// Prompt, line, clear to the end, cursor back to its place.
    fn redraw(&self, terminal: &mut dyn Terminal) {
        terminal.write(b"\r");
        terminal.write(self.prompt.as_bytes());
        terminal.write(&self.buffer);
        terminal.write(b"\x1b[K");
        if self.cursor < self.buffer.len() {
            terminal.write(alloc::format!("\x1b[{}D", self.buffer.len() - self.cursor).as_bytes());
        }
    }
}

/// The longest prefix (on character boundaries) all `candidates` share.
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else { return String::new() };
    let mut end = first.len();
    for other in &candidates[1..] {
        end = first
            .char_indices()
            .zip(other.chars())
            .find(|((_, a), b)| a != b)
            .map_or(end.min(other.len()), |((i, _), _)| i.min(end));
    }
    first[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const TOOLS: [&str; 4] = ["log_read", "llm_info", "llm_generate", "memory_stats"];

    fn completions(typed: &str) -> Vec<String> {
        let word = typed.rsplit(' ').next().unwrap_or("");
        if typed.contains(' ') {
            ["lines=", "level="].iter().filter(|a| a.starts_with(word)).map(|a| a.to_string()).collect()
        } else {
            TOOLS.iter().filter(|t| t.starts_with(word)).map(|t| t.to_string()).collect()
        }
    }

    /// Feeds `input`; returns the events (other than Pending) and what was printed.
    fn run(editor: &mut LineEditor, input: &[u8], echo: bool) -> (Vec<Event>, Vec<u8>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        for &byte in input {
            match editor.feed(byte, echo, &mut out, &mut completions) {
                Event::Pending => {}
                event => events.push(event),
            }
        }
        (events, out)
    }

    fn line(text: &str) -> Event {
        Event::Line(text.into())
    }

    fn editor() -> LineEditor {
        LineEditor::new("> ", 64, 3)
    }

    #[test]
    fn lines_end_at_cr_lf_or_crlf_and_echo_what_was_typed() {
        let mut e = editor();
        let (events, out) = run(&mut e, b"help\r\ntools\nping\r", true);
        assert_eq!(events, [line("help"), line("tools"), line("ping")]);
        assert_eq!(out, b"help\r\ntools\r\nping\r\n");
    }

    #[test]
    fn cursor_keys_home_end_and_control_keys_edit_in_place() {
        let mut e = editor();
        // "helo", left, insert "l" -> "hello"; Home, Delete -> "ello"; End, "!" -> "ello!"
        let (events, _) = run(&mut e, b"helo\x1b[Dl\x1b[H\x1b[3~\x1b[F!\r", true);
        assert_eq!(events, [line("ello!")]);
        // Ctrl-A, Ctrl-K clears from the start; Ctrl-U clears all; Ctrl-E goes to the end.
        let (events, _) = run(&mut e, b"abc\x01\x0bxy\x05z\r", false);
        assert_eq!(events, [line("xyz")]);
        let (events, _) = run(&mut e, b"abc\x15d\x1b[1~e\x1b[4~f\r", false);
        assert_eq!(events, [line("edf")]);
        // Backspace in the middle and at the start; DEL too.
        let (events, _) = run(&mut e, b"abcd\x1b[D\x08\x7f\x01\x08\r", false);
        assert_eq!(events, [line("ad")]);
        // Unknown escapes and control bytes are ignored.
        let (events, _) = run(&mut e, b"a\x1b[99Zb\x1bqc\x02\x00\r", false);
        assert_eq!(events, [line("abc")]);
    }

    #[test]
    fn history_recalls_keeps_the_draft_and_forgets_the_oldest() {
        let mut e = editor();
        run(&mut e, b"one\rtwo\rtwo\rthree\rfour\r", false);
        assert_eq!(e.history(), ["two", "three", "four"], "duplicates collapse, limit 3");
        let (events, _) = run(&mut e, b"dra\x1b[A\x1b[A\x1b[B\x1b[B\r", false);
        assert_eq!(events, [line("dra")], "down past the newest gives back the draft");
        let (events, _) = run(&mut e, b"\x1b[A\x1b[A\x1b[A\x1b[A\r", false);
        assert_eq!(events, [line("three")], "up stops at the oldest (\"dra\" pushed \"two\" out)");
        let (events, _) = run(&mut e, b"\x1bOA!\r", false);
        assert_eq!(events, [line("three!")], "application-mode arrows work too");
    }

    #[test]
    fn tab_completes_a_unique_name_a_common_prefix_or_lists_choices() {
        let mut e = editor();
        let (events, _) = run(&mut e, b"mem\t\r", false);
        assert_eq!(events, [line("memory_stats ")]);
        let (events, _) = run(&mut e, b"l\t\r", false);
        assert_eq!(events, [line("l")], "log_ and llm_ share only 'l'");
        let (events, _) = run(&mut e, b"llm_\t\r", false);
        assert_eq!(events, [line("llm_")]);
        let (_, out) = run(&mut e, b"llm_\t", true);
        assert!(String::from_utf8_lossy(&out).contains("llm_info  llm_generate"), "{out:?}");
        e.feed(0x15, false, &mut Vec::new(), &mut completions);
        let (events, _) = run(&mut e, b"log_read li\t5\r", false);
        assert_eq!(events, [line("log_read lines=5")], "argument names end in '=' with no space");
        let (events, _) = run(&mut e, b"log_read l\t\r", false);
        assert_eq!(events, [line("log_read l")]);
    }

    #[test]
    fn a_line_starting_with_a_brace_is_json_raw_and_unechoed() {
        let mut e = editor();
        let message = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let mut input = message.to_vec();
        input.extend_from_slice(b"\r\nls\x08\x08x\r");
        let (events, out) = run(&mut e, &input, true);
        assert_eq!(events, [Event::Json(message.to_vec()), line("x")]);
        assert!(!String::from_utf8_lossy(&out).contains("jsonrpc"), "JSON is not echoed");
        // Control bytes inside JSON are kept as they are: the server judges the message.
        let (events, _) = run(&mut e, b"{\x08\x1b[A}\n", false);
        assert_eq!(events, [Event::Json(b"{\x08\x1b[A}".to_vec())]);
        let (events, _) = run(&mut e, b"[{\"jsonrpc\":\"2.0\"}]\r", false);
        assert_eq!(events, [Event::Json(b"[{\"jsonrpc\":\"2.0\"}]".to_vec())], "a batch line is JSON too");
        // A brace after other text is just text.
        let (events, _) = run(&mut e, b"a{\r", false);
        assert_eq!(events, [line("a{")]);
    }

    #[test]
    fn lines_are_capped_and_ctrl_c_cancels() {
        let mut e = editor();
        let long = [b'x'; 100];
        let (events, _) = run(&mut e, &[&long[..], b"\r"].concat(), false);
        assert_eq!(events, [line(&"x".repeat(64))]);
        let json = [b"{".as_slice(), &[b'1'; 100], b"\n"].concat();
        let (events, _) = run(&mut e, &json, false);
        assert_eq!(events, [Event::Json([b"{".as_slice(), &[b'1'; 63]].concat())]);
        let (events, out) = run(&mut e, b"half\x03whole\r", true);
        assert_eq!(events, [Event::Cancelled, line("whole")]);
        assert!(out.starts_with(b"half^C"), "{out:?}");
        // Tab on a full line inserts nothing past the cap.
        let (events, _) = run(&mut e, &[&vec![b'm'; 63][..], b"\t\t\r"].concat(), false);
        match &events[..] {
            [Event::Line(text)] => assert!(text.len() <= 64, "{}", text.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn random_bytes_never_panic_and_keep_the_cursor_inside_the_line() {
        let mut rng = testkit::Rng::new(9);
        let mut e = LineEditor::new("> ", 32, 5);
        for _ in 0..200_000 {
            let byte = match rng.below(4) {
                0 => *rng.pick(b"\r\n\t\x1b[ABCDHF~0123478{\x01\x03\x05\x08\x0b\x15\x7f").unwrap_or(&b'a'),
                _ => rng.byte(),
            };
            let _ = e.feed(byte, rng.chance(1, 2), &mut Vec::new(), &mut completions);
            let (buffer, cursor) = e.line();
            assert!(cursor <= buffer.len() && buffer.len() <= 32);
        }
    }

    #[test]
    fn common_prefix_respects_characters() {
        assert_eq!(common_prefix(&["level=".into(), "lines=".into()]), "l");
        assert_eq!(common_prefix(&["abc".into(), "abd".into(), "ab".into()]), "ab");
        assert_eq!(common_prefix(&["é1".into(), "é2".into()]), "é");
        assert_eq!(common_prefix(&["x".into()]), "x");
        assert_eq!(common_prefix(&[]), "");
    }
}
