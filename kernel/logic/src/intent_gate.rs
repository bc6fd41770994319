//! The stricter bar for plain-language proposals that change the machine.
//!
//! A read-only proposal that is wrong costs a useless answer; one that changes the machine
//! (power, pins, files, buses) costs much more. So besides a higher confidence, such a
//! proposal is only acted on when the request *names what it changes*: one of its words
//! belongs to the tool's subject — the parts of its name, the words of its title, or the
//! everyday words for that subject below. "make me a cup of coffee" never reaches
//! `power_off`, whatever the model says; "switch the board off" does. And a request that
//! points at another object ("turn off *the oven*", "reboot *my router*") is about another
//! machine: when a determiner introduces a word that is neither this machine nor the tool's
//! subject, the proposal is refused too.

use alloc::{string::String, vec::Vec};

/// Minimum confidence for any proposal to be acted on (chosen from the held-out evaluation
/// in `kernel/models/intent.md`, which applies this gate as the kernel does).
pub const THRESHOLD: f32 = 0.5;

/// Minimum confidence for a proposal that changes the machine (read-only ones use
/// [`THRESHOLD`]).
pub const STRICT_THRESHOLD: f32 = 0.5;

/// Everyday words for the subjects in tool names (`power_off` → "power", "off").
const SUBJECTS: &[(&str, &[&str])] = &[
    ("power", &["power", "shut", "shutdown", "halt", "turn", "switch", "poweroff", "down"]),
    ("off", &["off", "shut", "shutdown", "halt", "poweroff", "stop"]),
    ("reboot", &["reboot", "restart", "reset", "boot", "cycle", "bounce", "relaunch", "start", "again"]),
    (
        "gpio",
        &[
            "gpio", "gpios", "pin", "pins", "led", "leds", "relay", "high", "low", "input", "output", "pull", "on",
            "off",
        ],
    ),
    ("mode", &["mode", "input", "output", "direction"]),
    (
        "pwm",
        &[
            "pwm",
            "duty",
            "dim",
            "dimmer",
            "brightness",
            "servo",
            "fan",
            "frequency",
            "light",
            "lamp",
            "motor",
            "speed",
            "led",
            "leds",
            "pin",
            "gpio",
            "percent",
            "cycle",
            "signal",
            "wave",
        ],
    ),
    ("i2c", &["i2c", "register", "sensor", "address", "byte", "bytes", "device", "chip", "eeprom", "data", "reg"]),
    ("spi", &["spi", "transfer", "bytes", "byte", "mosi", "miso", "bus", "device", "data"]),
    ("fs", &["file", "files", "card", "sd", "note", "notes", "text"]),
    (
        "llm",
        &[
            "model",
            "llm",
            "language",
            "tinyllama",
            "smollm",
            "card",
            "file",
            "gguf",
            "sd",
            "built",
            "builtin",
            "embedded",
            "intent",
            "small",
            "big",
            "placed",
            "tiny",
            "one",
            "text",
            "prompt",
            "tokenizer",
            "tokens",
        ],
    ),
    ("log", &["log", "logs", "logging", "verbosity", "verbose", "debug"]),
    ("net", &["network", "net", "ip", "dhcp", "address", "ethernet", "wifi"]),
];

/// Why a proposal of a tool that changes the machine is not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its confidence is below [`STRICT_THRESHOLD`].
    Unsure,
    /// The request does not name what it would change ([`names_subject`]).
    Unnamed,
}

/// The stricter bar for a proposal of tool `name` (title `title`) that changes the
/// machine: the kernel's verifier and the trainer's evaluation both apply it.
pub fn changing(request: &str, name: &str, title: &str, confidence: f32) -> Result<(), Refusal> {
    if confidence < STRICT_THRESHOLD {
        return Err(Refusal::Unsure);
    }
    if !names_subject(request, name, title) {
        return Err(Refusal::Unnamed);
    }
    Ok(())
}

/// Whether `request` (normalised: lower case, words separated by spaces or punctuation)
/// names the subject of the tool `name` with title `title`.
pub fn names_subject(request: &str, name: &str, title: &str) -> bool {
    // Text in double quotes is dictated content (a file's text, a prompt): it names nothing.
    let mut outside = String::new();
    for (i, part) in request.split('"').enumerate() {
        if i % 2 == 0 {
            outside.push_str(part);
            outside.push(' ');
        }
    }
    let request = outside.as_str();
    // A file name ("notes.txt", "/overlays/readme") names what a file tool changes.
    let file_named = request.split_whitespace().any(|w| {
        let w = w.trim_end_matches('.');
        w.chars().any(|c| c.is_ascii_alphabetic())
            && (w.starts_with('/') && w.len() > 1
                || w.as_bytes().windows(2).any(|p| p[0] == b'.' && p[1].is_ascii_alphanumeric()))
    });
    if file_named && name.starts_with("fs_") {
        return true;
    }
    let words: Vec<String> = request
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    // A question ("what does gpio stand for", "how do leds work") asks for an answer, not a
    // change.
    // A tool whose title says it reads ("Read an I2C device's register") may be asked for
    // with a question.
    let reads = title.to_ascii_lowercase().starts_with("read");
    if !reads && words.first().is_some_and(|w| QUESTIONS.contains(&w.as_str())) {
        return false;
    }
    // One word alone changes the machine only when it is the command itself ("reboot",
    // "shutdown"), not a fragment ("power", "off", "pin").
    if words.len() == 1 {
        return ONE_WORD_COMMANDS.iter().any(|(tool, commands)| *tool == name && commands.contains(&words[0].as_str()));
    }
    let mut subject: Vec<&str> = Vec::new();
    for part in name.split('_') {
        // Verbs in tool names ("write", "set", "load") say what is done, not to what.
        if !VERBS.contains(&part) {
            subject.push(part);
        }
        if let Some((_, synonyms)) = SUBJECTS.iter().find(|(key, _)| *key == part) {
            subject.extend_from_slice(synonyms);
        }
    }
    let title = title.to_ascii_lowercase();
    let title_words: Vec<&str> = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3 && !STOP.contains(w) && !VERBS.contains(w))
        .collect();
    let known = |w: &str| {
        let stem = w.strip_suffix('s').unwrap_or(w);
        subject.iter().chain(&title_words).any(|s| *s == w || *s == stem)
    };
    if !words.iter().any(|w| known(w)) {
        return false;
    }
    // "the oven", "my router": another object than this machine or the tool's subject.
    let foreign = words.windows(2).any(|pair| {
        let (determiner, object) = (pair[0].as_str(), pair[1].as_str());
        DETERMINERS.contains(&determiner)
            && !NOT_OBJECTS.contains(&object)
            && !known(object)
            && !SELF.contains(&object)
            && !object.chars().all(|c| c.is_ascii_digit())
    });
    !foreign
}

/// First words of questions.
const QUESTIONS: &[&str] =
    &["what", "whats", "why", "how", "who", "when", "where", "which", "explain", "describe", "define"];

/// Tool-name parts that are actions, not subjects.
const VERBS: &[&str] = &["write", "set", "load", "read", "transfer", "run", "generate", "mode"];

/// Words that introduce the object a request is about.
const DETERMINERS: &[&str] = &["the", "my", "our", "your", "that", "this", "those", "these", "his", "her", "their"];

/// Words for this machine (and harmless words that may follow a determiner).
const SELF: &[&str] = &[
    "board",
    "machine",
    "pi",
    "raspberry",
    "system",
    "computer",
    "device",
    "kingly",
    "os",
    "kernel",
    "server",
    "box",
    "thing",
    "node",
    "whole",
    "entire",
    "current",
    "first",
    "second",
    "third",
    "same",
    "other",
    "next",
    "value",
    "state",
    "signal",
    "voltage",
    "level",
    "number",
    "chip",
    "soc",
    "cpu",
    "hardware",
];

/// Title words that name no subject.
/// The one-word requests that are commands on their own.
const ONE_WORD_COMMANDS: &[(&str, &[&str])] =
    &[("power_off", &["shutdown", "poweroff", "halt"]), ("power_reboot", &["reboot", "restart"])];

/// Words after "that" or "this" that show it is not pointing at an object ("the model that's
/// on the card", "the one that was placed").
const NOT_OBJECTS: &[&str] = &["s", "was", "is", "are", "has", "had", "will", "can", "in", "on", "at", "to", "one"];

const STOP: &[&str] = &["the", "and", "for", "with", "from", "into", "this", "that", "all", "one", "its"];

#[cfg(test)]
mod tests {
    use super::names_subject;

    #[test]
    fn requests_that_name_the_change_pass() {
        for (request, tool, title) in [
            ("switch the board off", "power_off", "Power off"),
            ("shut down now", "power_off", "Power off"),
            ("shutdown", "power_off", "Power off"),
            ("reboot", "power_reboot", "Reboot"),
            ("restart the machine", "power_reboot", "Reboot"),
            ("set pin 17 high", "gpio_write", "Set a GPIO output"),
            ("turn on the led", "gpio_write", "Set a GPIO output"),
            ("make pin 4 an input", "gpio_mode", "Set a pin's mode"),
            ("dim the light to 30 percent", "pwm_set", "Set a PWM output"),
            ("use the model from the card", "llm_load", "Switch the language model"),
            ("turn off the raspberry pi", "power_off", "Power off"),
            ("power the board down", "power_off", "Power off"),
            ("set the pin 17 high", "gpio_write", "Set a GPIO output"),
            ("save \"buy milk\" into todo.txt", "fs_write", "Write a file"),
            ("dim the led on pin 13 to 75", "pwm_set", "Set a PWM output"),
            ("send the byte 0xf4 to i2c device 0x77", "i2c_write", "Write to an I2C device"),
            ("what's in register 208 on the i2c device at 118", "i2c_write_read", "Read an I2C device's register"),
            ("load the model from the sd card", "llm_load", "Switch the language model"),
            ("switch back to the built in model", "llm_load", "Switch the language model"),
            ("make /config.txt say \"the pi\"", "fs_write", "Write a file"),
        ] {
            assert!(names_subject(request, tool, title), "{request} -> {tool}");
        }
    }

    #[test]
    fn requests_about_something_else_do_not() {
        for (request, tool, title) in [
            ("make me a cup of coffee", "power_off", "Power off"),
            ("yo whats the heap looking like", "power_off", "Power off"),
            ("tell me something funny", "power_reboot", "Reboot"),
            ("lock the front door", "gpio_write", "Set a GPIO output"),
            ("power", "power_off", "Power off"),
            ("off", "power_off", "Power off"),
            ("pin", "gpio_write", "Set a GPIO output"),
            ("what is the weather like", "pwm_set", "Set a PWM output"),
            ("turn off the oven", "power_off", "Power off"),
            ("reboot my router", "power_reboot", "Reboot"),
            ("switch off the kitchen lights", "power_off", "Power off"),
            ("write \"turn off the pin\" to the oven", "gpio_write", "Set a GPIO output"),
            ("save \"hi\" to my phone", "fs_write", "Write a file"),
        ] {
            assert!(!names_subject(request, tool, title), "{request} -> {tool}");
        }
    }
}
