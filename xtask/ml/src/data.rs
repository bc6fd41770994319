//! The intent dataset: `intents.txt` (tool-call templates with training and held-out
//! phrasings) expanded into (request, answer) pairs with seeded slot values.

use crate::rng::Rng;
use anyhow::{bail, Context, Result};

/// One intent: the call template and its phrasings.
pub struct Intent {
    /// `tool {json}` with `{slot}` placeholders, or `none`.
    pub call: String,
    /// Phrasings used for training.
    pub train: Vec<String>,
    /// Phrasings only evaluated.
    pub held_out: Vec<String>,
}

/// A request, the call it means (with its values), and the line the model must write
/// (values as `#n` references to the request's numbers, see `inference::intent`).
#[derive(Clone, Debug)]
pub struct Example {
    pub request: String,
    pub answer: String,
    pub target: String,
}

/// Parses the dataset file.
pub fn parse(text: &str) -> Result<Vec<Intent>> {
    parse_with(text, true)
}

/// Parses an evaluation-only file (held-out `+` phrasings, no training lines).
pub fn parse_evaluation(text: &str) -> Result<Vec<Intent>> {
    parse_with(text, false)
}

fn parse_with(text: &str, training: bool) -> Result<Vec<Intent>> {
    let mut intents: Vec<Intent> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, rest) = line.split_at(1);
        let rest = rest.trim().to_string();
        match kind {
            "=" => intents.push(Intent { call: rest, train: Vec::new(), held_out: Vec::new() }),
            "-" | "+" => {
                let intent =
                    intents.last_mut().with_context(|| format!("line {}: phrasing before any '=' call", number + 1))?;
                if kind == "-" {
                    intent.train.push(rest);
                } else {
                    intent.held_out.push(rest);
                }
            }
            _ => bail!("line {}: expected '=', '-' or '+': {line}", number + 1),
        }
    }
    for intent in &intents {
        if training && intent.train.is_empty() {
            bail!("intent '{}' has no training phrasings", intent.call);
        }
        for phrase in intent.train.iter().chain(&intent.held_out) {
            for slot in slots(phrase) {
                if !intent.call.contains(&format!("{{{slot}}}")) && intent.call != inference::intent::NONE {
                    bail!("'{phrase}' fills {{{slot}}}, which '{}' does not use", intent.call);
                }
            }
        }
    }
    Ok(intents)
}

fn slots(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else { break };
        let name = &rest[start + 1..start + len];
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            out.push(name);
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// Words for made-up file names and dictated text.
const WORDS: [&str; 40] = [
    "notes",
    "config",
    "readme",
    "data",
    "log",
    "test",
    "hello",
    "world",
    "sensor",
    "greenhouse",
    "todo",
    "boot",
    "backup",
    "report",
    "kitchen",
    "garden",
    "temp",
    "values",
    "list",
    "draft",
    "cmdline",
    "settings",
    "story",
    "plan",
    "shed",
    "alarm",
    "water",
    "light",
    "door",
    "monday",
    "pump",
    "fan",
    "relay",
    "morning",
    "evening",
    "remember",
    "buy",
    "milk",
    "check",
    "seeds",
];
const EXTENSIONS: [&str; 8] = ["txt", "txt", "csv", "log", "json", "md", "cfg", "ini"];
const PUNCTUATION: [&str; 6] = ["", "", ".", "!", ",", "?"];

fn word(rng: &mut Rng) -> &'static str {
    WORDS[rng.range(0, WORDS.len() as u64 - 1) as usize]
}

/// A random value for a slot: how the request says it, and how the call writes it. A slot
/// name may end in digits to tell several of a kind apart (`{byte1} {byte2}`).
fn value(slot: &str, rng: &mut Rng) -> (String, String) {
    let kind = slot.trim_end_matches(|c: char| c.is_ascii_digit());
    // Numbers that users often write in hex: both ways, the call always in decimal.
    let either = |n: u64, hex_share: u64, rng: &mut Rng| {
        let text = if rng.range(1, 100) <= hex_share { format!("0x{n:02x}") } else { n.to_string() };
        (text, n.to_string())
    };
    let same = |text: String| (text.clone(), text);
    match kind {
        "pin" => same(rng.range(2, 27).to_string()),
        "lines" => same(rng.range(1, 200).to_string()),
        "count" => same(rng.range(1, 64).to_string()),
        "bus" => same(rng.range(0, 1).to_string()),
        "address" => {
            let n = rng.range(3, 119);
            either(n, 40, rng)
        }
        "sensor" => {
            let n = rng.range(72, 79);
            either(n, 60, rng)
        }
        "byte" => {
            let n = if rng.range(0, 3) == 0 { rng.range(0, 15) } else { rng.range(0, 255) };
            either(n, 50, rng)
        }
        "register" => {
            let n = rng.range(0, 255);
            either(n, 70, rng)
        }
        "length" => same(rng.range(1, 32).to_string()),
        "duty" => same(match rng.range(0, 2) {
            0 => (rng.range(0, 10) * 10).to_string(),
            _ => rng.range(0, 100).to_string(),
        }),
        "freq" => same(match rng.range(0, 2) {
            0 => ["50", "100", "200", "440", "500", "2000", "5000", "10000", "20000", "25000"]
                [rng.range(0, 9) as usize]
                .to_string(),
            _ => rng.range(1, 100000).to_string(),
        }),
        "pwmpin" => same(["12", "13", "18", "19"][rng.range(0, 3) as usize].to_string()),
        "file" => {
            let mut name = String::new();
            if rng.range(0, 5) == 0 {
                name.push('/');
                if rng.range(0, 2) == 0 {
                    name.push_str(word(rng));
                    name.push('/');
                }
            }
            name.push_str(word(rng));
            if rng.range(0, 3) == 0 {
                name.push(if rng.range(0, 1) == 0 { '_' } else { '2' });
                name.push_str(word(rng));
            }
            name.push('.');
            name.push_str(EXTENSIONS[rng.range(0, EXTENSIONS.len() as u64 - 1) as usize]);
            let name = name.chars().take(40).collect::<String>();
            same(name)
        }
        "text" => {
            let mut text = String::new();
            for i in 0..rng.range(1, 6) {
                if i > 0 {
                    text.push(' ');
                }
                let w = word(rng);
                if rng.range(0, 3) == 0 || i == 0 && rng.range(0, 1) == 0 {
                    let mut c = w.chars();
                    text.extend(c.next().map(|f| f.to_ascii_uppercase()));
                    text.push_str(c.as_str());
                } else {
                    text.push_str(w);
                }
                if rng.range(0, 5) == 0 {
                    text.push_str(&rng.range(0, 99).to_string());
                }
            }
            text.push_str(PUNCTUATION[rng.range(0, PUNCTUATION.len() as u64 - 1) as usize]);
            (format!("\"{text}\""), text)
        }
        "ip" => same(match rng.range(0, 3) {
            0 => format!("10.0.{}.{}", rng.range(0, 9), rng.range(1, 254)),
            1 => format!("192.168.{}.{}", rng.range(0, 255), rng.range(1, 254)),
            2 => format!("{}.{}.{}.{}", rng.range(1, 223), rng.range(0, 255), rng.range(0, 255), rng.range(1, 254)),
            _ => format!("172.{}.{}.{}", rng.range(16, 31), rng.range(0, 255), rng.range(1, 254)),
        }),
        _ => same("0".into()),
    }
}

/// Fills a phrasing's slots with random values; returns the request, the call with the
/// values, and the call with `#n` for the value's position among all the request's values
/// (a phrasing may hold literal numbers too: "write 1 to pin {pin}" answers with `#2`).
fn fill(phrase: &str, call: &str, rng: &mut Rng) -> (String, String, String) {
    let mut request = String::new();
    let mut answer = call.to_string();
    let mut target = call.to_string();
    let mut rest = phrase;
    for slot in slots(phrase) {
        let placeholder = format!("{{{slot}}}");
        let Some(at) = rest.find(&placeholder) else { break };
        request.push_str(&rest[..at]);
        rest = &rest[at + placeholder.len()..];
        let reference = inference::intent::entities(&inference::intent::normalise(&request)).len() + 1;
        let (said, written) = value(slot, rng);
        // The marker the request's mask uses for this kind of value (inference::intent::mask).
        let marker = inference::intent::marker(&inference::intent::normalise(&said));
        request.push_str(&said);
        answer = answer.replace(&placeholder, &written);
        target = target.replace(&placeholder, &format!("{marker}{reference}"));
    }
    request.push_str(rest);
    (request, answer, target)
}

const PREFIXES: [&str; 8] = ["please ", "can you ", "could you ", "hey ", "kingly ", "i want to ", "now ", "quickly "];
const SUFFIXES: [&str; 5] = [" please", " now", " thanks", "?", " for me"];

fn example(request: &str, answer: &str, target: &str) -> Example {
    Example { request: inference::intent::normalise(request), answer: answer.to_string(), target: target.to_string() }
}

/// Words that can be dropped or inserted without changing what a request means.
const FILLERS: [&str; 8] = ["the", "a", "me", "just", "please", "now", "all", "current"];

/// One meaning-preserving change, so the model learns words rather than exact strings: a
/// typo (two letters swapped or one dropped) in a word of five letters or more, a filler
/// word dropped, or a filler word inserted. Numbers are never touched.
fn noise(request: &str, rng: &mut Rng) -> String {
    let mut words: Vec<String> = request.split(' ').map(String::from).collect();
    match rng.range(0, 2) {
        0 => {
            let long: Vec<usize> = (0..words.len())
                .filter(|&i| words[i].len() >= 5 && words[i].bytes().all(|b| b.is_ascii_lowercase()))
                .collect();
            if !long.is_empty() {
                let w = long[rng.range(0, long.len() as u64 - 1) as usize];
                let mut letters: Vec<char> = words[w].chars().collect();
                let at = rng.range(1, letters.len() as u64 - 2) as usize;
                if rng.range(0, 1) == 0 {
                    letters.swap(at, at + 1);
                } else {
                    letters.remove(at);
                }
                words[w] = letters.into_iter().collect();
            }
        }
        1 => {
            let droppable: Vec<usize> = (0..words.len()).filter(|&i| FILLERS.contains(&words[i].as_str())).collect();
            if !droppable.is_empty() && words.len() > 2 {
                words.remove(droppable[rng.range(0, droppable.len() as u64 - 1) as usize]);
            }
        }
        _ => {
            let at = rng.range(0, words.len() as u64) as usize;
            words.insert(at, FILLERS[rng.range(0, FILLERS.len() as u64 - 1) as usize].to_string());
        }
    }
    words.join(" ")
}

/// Interchangeable wordings of this domain, applied to training requests so the model meets
/// more of the words people use. A group applies only to requests containing its context
/// word (if any), where all members mean the same. Revised after the first evaluations; the
/// held-out phrasings were never moved into training.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("", &["show", "display", "list", "print", "give me", "tell me", "let me see", "get me", "report"]),
    ("", &["what is", "what's", "whats"]),
    ("", &["machine", "system", "board", "computer", "device", "pi", "raspberry pi", "box"]),
    ("", &["cpu", "processor", "cpus", "cores"]),
    ("", &["memory", "ram"]),
    ("memory", &["free", "available", "left", "unused", "remaining"]),
    ("pin", &["turn on", "switch on", "enable", "activate", "power on"]),
    ("pin", &["turn off", "switch off", "disable", "deactivate", "power off"]),
    ("pin", &["read", "check", "get", "sample"]),
    ("gpio", &["turn on", "switch on", "enable", "activate"]),
    ("gpio", &["turn off", "switch off", "disable", "deactivate"]),
    ("gpio", &["read", "check", "get"]),
    ("", &["pin", "gpio", "gpio pin"]),
    ("", &["reboot", "restart", "reset"]),
    ("", &["network", "net", "networking"]),
    ("", &["log", "logs", "kernel log"]),
    ("", &["tasks", "processes", "jobs"]),
    ("", &["boot", "startup", "start up"]),
    ("", &["card", "sd card", "disk"]),
    ("", &["files", "file list"]),
    ("", &["random numbers", "random values", "random words"]),
    ("", &["fetch", "get", "read", "grab"]),
    ("", &["devices", "chips", "sensors"]),
    ("pin", &["set", "put", "make", "drive"]),
    ("", &["scan", "search", "look for devices on", "probe"]),
    ("", &["check if", "see if", "test if", "find out if"]),
    ("", &["answers", "responds to", "replies to"]),
    ("", &["running", "going on", "happening"]),
    ("", &["show", "describe", "tell me about"]),
];

/// Replaces one wording found in `request` by another of its group (whole words only).
fn synonym(request: &str, rng: &mut Rng) -> String {
    let padded = format!(" {request} ");
    let mut found: Vec<(&str, &[&str])> = Vec::new();
    for &(context, group) in SYNONYMS {
        if !context.is_empty() && !padded.contains(&format!(" {context} ")) {
            continue;
        }
        for &word in group {
            if padded.contains(&format!(" {word} ")) {
                found.push((word, group));
            }
        }
    }
    if found.is_empty() {
        return request.to_string();
    }
    let (word, group) = found[rng.range(0, found.len() as u64 - 1) as usize];
    let other = group[rng.range(0, group.len() as u64 - 1) as usize];
    padded.replacen(&format!(" {word} "), &format!(" {other} "), 1).trim().to_string()
}

/// Random letter strings: requests that mean nothing.
fn gibberish(rng: &mut Rng) -> String {
    let words = rng.range(1, 4);
    let mut text = String::new();
    for w in 0..words {
        if w > 0 {
            text.push(' ');
        }
        for _ in 0..rng.range(2, 9) {
            text.push((b'a' + rng.range(0, 25) as u8) as char);
        }
    }
    text
}

fn pick<'a>(list: &[&'a str], rng: &mut Rng) -> &'a str {
    list[rng.range(0, list.len() as u64 - 1) as usize]
}

/// Things in a home or an office that are not this board.
const APPLIANCES: &[&str] = &[
    "oven",
    "stove",
    "lights",
    "light",
    "lamp",
    "tv",
    "television",
    "router",
    "modem",
    "laptop",
    "computer",
    "pc",
    "phone",
    "car",
    "door",
    "garage door",
    "window",
    "blinds",
    "curtains",
    "heater",
    "heating",
    "air conditioner",
    "kettle",
    "coffee machine",
    "dishwasher",
    "washing machine",
    "dryer",
    "vacuum",
    "printer",
    "speaker",
    "speakers",
    "music",
    "radio",
    "alarm",
    "sprinklers",
    "camera",
    "thermostat",
    "fridge",
    "freezer",
    "microwave",
    "toaster",
    "gate",
    "doorbell",
    "xbox",
    "playstation",
    "nas",
    "iphone",
    "ipad",
    "tablet",
    "monitor",
    "projector",
    "headphones",
    "boiler",
    "hot tub",
    "pool pump",
    "garden hose",
    "ceiling light",
    "desk lamp",
    "christmas lights",
];
const PLACES: &[&str] = &[
    "",
    "",
    "",
    "kitchen ",
    "living room ",
    "bedroom ",
    "office ",
    "garage ",
    "upstairs ",
    "downstairs ",
    "bathroom ",
    "hallway ",
    "porch ",
    "garden ",
    "work ",
    "kids ",
    "neighbour's ",
];
const OWNERS: &[&str] = &["the", "the", "my", "our", "your", "his", "her", "their", "that", "this"];
const ACTIONS: &[&str] = &[
    "turn off",
    "turn on",
    "switch off",
    "switch on",
    "shut down",
    "shut off",
    "restart",
    "reboot",
    "power off",
    "power on",
    "power down",
    "open",
    "close",
    "lock",
    "unlock",
    "start",
    "stop",
    "dim",
    "brighten",
    "mute",
    "pause",
    "reset",
    "unplug",
    "plug in",
    "turn up",
    "turn down",
    "set",
    "disable",
    "enable",
    "kill",
    "cycle",
];
/// Words of this domain, asked about rather than acted on.
const TERMS: &[&str] = &[
    "gpio",
    "a gpio pin",
    "gpio pins",
    "i2c",
    "spi",
    "pwm",
    "uart",
    "an sd card",
    "a file system",
    "a file",
    "files",
    "a kernel",
    "an operating system",
    "a cpu",
    "ram",
    "memory",
    "a heap",
    "a network",
    "an ip address",
    "dhcp",
    "an led",
    "a resistor",
    "a sensor",
    "a temperature sensor",
    "a language model",
    "an llm",
    "a token",
    "a tokenizer",
    "a raspberry pi",
    "a random number",
    "entropy",
    "a boot loader",
    "firmware",
    "a log file",
    "a task",
    "a process",
    "a thread",
    "an interrupt",
    "a register",
    "an eeprom",
    "voltage",
    "a duty cycle",
    "a pin",
    "the gpio header",
    "mcp",
    "json",
    "a reboot",
    "a ping",
    "a relay",
    "a transistor",
    "a servo",
];
const QUESTIONS: &[&str] = &[
    "what is {}",
    "what's {}",
    "whats {}",
    "what are {}",
    "explain {}",
    "define {}",
    "how does {} work",
    "how do {} work",
    "why do we need {}",
    "what is {} used for",
    "what is {} good for",
    "can you explain {}",
    "i don't understand {}",
    "teach me about {}",
    "who invented {}",
    "what does {} mean",
    "is {} hard to learn",
    "history of {}",
    "difference between {} and a capacitor",
    "how do i learn about {}",
    "how do i solder {}",
    "how do i wire up {}",
    "what voltage does {} use",
    "where can i buy {}",
    "is {} safe to touch",
    "how do i connect {} to a breadboard",
    "which book explains {}",
];
const TOPICS: &[&str] = &[
    "mount everest",
    "the eiffel tower",
    "paris",
    "spain",
    "the moon",
    "mars",
    "einstein",
    "shakespeare",
    "the president",
    "the sun",
    "the ocean",
    "a blue whale",
    "the amazon river",
    "tokyo",
    "my grandmother",
    "the roman empire",
    "world war two",
    "bitcoin",
    "the stock market",
    "football",
    "the olympics",
    "chess",
    "a black hole",
    "the universe",
    "dinosaurs",
    "the great wall of china",
    "new york",
    "antarctica",
];
const ASKS: &[&str] = &[
    "how tall is {}",
    "how far away is {}",
    "how old is {}",
    "who is {}",
    "where is {}",
    "when was {} built",
    "tell me about {}",
    "what do you know about {}",
    "how big is {}",
    "how hot is {}",
    "how cold is {}",
    "what's the weather in {}",
    "what is the population of {}",
    "show me pictures of {}",
    "write a poem about {}",
    "write a story about {}",
    "sing a song about {}",
    "is {} real",
    "how much does {} cost",
    "why is {} famous",
];
const ERRANDS: &[&str] = &[
    "add {} to the shopping list",
    "remind me to buy {}",
    "order {} online",
    "buy {}",
    "send {} to my mom",
    "play {}",
    "find {} near me",
    "book {} for tomorrow",
    "search the web for {}",
    "email {} to bob",
    "translate {} into french",
    "what rhymes with {}",
    "spell {}",
    "draw {}",
    "cook {}",
];
const THINGS: &[&str] = &[
    "eggs",
    "milk",
    "bread",
    "a pizza",
    "some jazz",
    "a taxi",
    "a table for two",
    "the news",
    "a movie",
    "flowers",
    "a birthday present",
    "new shoes",
    "cat food",
    "coffee beans",
    "a recipe",
    "the weather",
    "my photos",
    "batteries",
];

/// A request this machine has no tool for, made up from word lists so that every epoch
/// meets new ones: a command for another appliance ("turn off the kitchen lights"), a
/// question about a word of this domain rather than its state ("how does i2c work"), a
/// general-knowledge question, or an errand.
fn refusal(rng: &mut Rng) -> String {
    match rng.range(0, 3) {
        0 => {
            let owner = pick(OWNERS, rng);
            let place = pick(PLACES, rng);
            let thing = pick(APPLIANCES, rng);
            match rng.range(0, 2) {
                0 => format!("{} {owner} {place}{thing}", pick(ACTIONS, rng)),
                1 => format!("{} {owner} {place}{thing} please", pick(ACTIONS, rng)),
                _ => format!("can you {} {owner} {place}{thing}", pick(ACTIONS, rng)),
            }
        }
        1 => pick(QUESTIONS, rng).replace("{}", pick(TERMS, rng)),
        2 => pick(ASKS, rng).replace("{}", pick(TOPICS, rng)),
        _ => pick(ERRANDS, rng).replace("{}", pick(THINGS, rng)),
    }
}

/// Training examples: every training phrasing `per_phrase` times (slot values and
/// politeness varied), plus gibberish as `none`; shuffled.
pub fn training(intents: &[Intent], per_phrase: usize, rng: &mut Rng) -> Vec<Example> {
    let mut out = Vec::new();
    for intent in intents {
        let answer_template = if intent.call == "none" { "none".to_string() } else { intent.call.clone() };
        // Intents with few phrasings get more samples each, so classes stay balanced.
        let repeats = (per_phrase * 12 / intent.train.len().max(1)).clamp(per_phrase, per_phrase * 4);
        for phrase in &intent.train {
            for i in 0..repeats {
                let (mut request, answer, target) = fill(phrase, &answer_template, rng);
                // Dictated text stays as written: no synonyms or typos inside it.
                let dictated = phrase.contains("{text}");
                if intent.call != inference::intent::NONE && i % 2 == 1 && !dictated {
                    request = synonym(&request, rng);
                }
                match i % 4 {
                    1 => request = format!("{}{request}", PREFIXES[rng.range(0, PREFIXES.len() as u64 - 1) as usize]),
                    2 => request.push_str(SUFFIXES[rng.range(0, SUFFIXES.len() as u64 - 1) as usize]),
                    3 if !dictated => request = noise(&request, rng),
                    _ => {}
                }
                out.push(example(&request, &answer, &target));
            }
        }
    }
    for _ in 0..per_phrase * 40 {
        let text = gibberish(rng);
        out.push(example(&text, "none", "none"));
    }
    for _ in 0..per_phrase * 100 {
        let text = refusal(rng);
        out.push(example(&text, "none", "none"));
    }
    out.retain(|e| !e.request.is_empty());
    rng.shuffle(&mut out);
    out
}

/// Held-out examples: every held-out phrasing with three slot fillings (once if no slots),
/// plus fresh gibberish; fixed seed, independent of training.
pub fn held_out(intents: &[Intent], rng: &mut Rng) -> Vec<Example> {
    let mut out = Vec::new();
    for intent in intents {
        for phrase in &intent.held_out {
            let times = if slots(phrase).is_empty() { 1 } else { 3 };
            for _ in 0..times {
                let (request, answer, target) = fill(phrase, &intent.call, rng);
                out.push(example(&request, &answer, &target));
            }
        }
    }
    for _ in 0..10 {
        let text = gibberish(rng);
        out.push(example(&text, "none", "none"));
    }
    out
}

/// Training examples from a card's decisions (`INTENTS.LOG`: one JSON object per line, see
/// `kernel/src/decisions.rs`): every proposal that ran, with the request's values turned
/// back into references. Requests that match a phrasing never trained on (`never`: the
/// held-out and independent sets, compared with their values masked) are left out, and so
/// are lines that do not parse or whose call cannot be rebuilt from the request. Returns the
/// examples and a one-line account.
pub fn confirmed_decisions(text: &str, intents: &[Intent], never: &[Example]) -> (Vec<Example>, String) {
    use inference::intent::{entities, fill, mask, normalise};
    let protected: std::collections::BTreeSet<String> = never.iter().map(|e| mask(&normalise(&e.request))).collect();
    let known: Vec<&str> = intents.iter().map(|i| i.call.split(' ').next().unwrap_or_default()).collect();
    let (mut lines, mut ran, mut held, mut unusable) = (0, 0, 0, 0);
    let mut out: Vec<Example> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            unusable += 1;
            continue;
        };
        if value["outcome"] != "ran" {
            continue;
        }
        ran += 1;
        let (Some(request), Some(proposal)) = (value["request"].as_str(), value["proposal"].as_str()) else {
            unusable += 1;
            continue;
        };
        let request = normalise(request);
        if protected.contains(&mask(&request)) {
            held += 1;
            continue;
        }
        let values = entities(&request);
        let target = match value["raw"].as_str().filter(|raw| fill(raw, &values) == proposal) {
            Some(raw) => raw.to_string(),
            None => match references_for(proposal, &values) {
                Some(target) => target,
                None => {
                    unusable += 1;
                    continue;
                }
            },
        };
        let tool = proposal.split(' ').next().unwrap_or_default();
        if !known.contains(&tool) || out.iter().any(|e| e.request == request) {
            unusable += (!known.contains(&tool)) as usize;
            continue;
        }
        out.push(Example { request, answer: proposal.to_string(), target });
    }
    let report = format!(
        "decisions: {lines} lines, {ran} ran; {} added to training, {held} left out (phrasings never trained on), \
         {unusable} unusable",
        out.len()
    );
    (out, report)
}

/// A proposal with values (`gpio_write {"pin":17,"value":true}`) with each of the request's
/// values replaced by its reference (`#1`), so that filling it again gives the proposal;
/// `None` when that does not work out.
fn references_for(proposal: &str, values: &[&str]) -> Option<String> {
    use inference::intent::{fill, marker};
    let mut target = proposal.to_string();
    for (n, value) in values.iter().enumerate() {
        let reference = format!("{}{}", marker(value), n + 1);
        let written = fill(&format!("{}1", marker(value)), &[value]);
        let bytes = target.as_bytes();
        let at = (0..target.len()).find(|&i| {
            target[i..].starts_with(&written)
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && bytes.get(i + written.len()).is_none_or(|b| !b.is_ascii_alphanumeric())
        });
        if let Some(at) = at {
            target.replace_range(at..at + written.len(), &reference);
        }
    }
    (fill(&target, values) == proposal).then_some(target)
}

/// The words of the model's domain (`inference::intent::DOMAIN_KEY`): every word of the
/// training phrasings of tool calls and of the synonyms used in training, less the stop
/// words; sorted. Held-out phrasings are not read.
pub fn domain_words(intents: &[Intent]) -> Vec<String> {
    let mut words = std::collections::BTreeSet::new();
    let mut add = |text: &str| {
        let mut plain = text.to_string();
        for slot in slots(text) {
            plain = plain.replace(&format!("{{{slot}}}"), " ");
        }
        for word in inference::intent::normalise(&plain).split(' ') {
            if !word.is_empty()
                && !inference::intent::STOP_WORDS.contains(&word)
                && word.bytes().any(|b| b.is_ascii_alphabetic())
            {
                words.insert(word.to_string());
            }
        }
    };
    for intent in intents.iter().filter(|i| i.call != inference::intent::NONE) {
        for phrase in &intent.train {
            add(phrase);
        }
    }
    for (context, group) in SYNONYMS {
        add(context);
        for member in group.iter() {
            add(member);
        }
    }
    words.into_iter().collect()
}

/// A tool of the kernel's registry as the dataset needs it.
#[derive(Clone, Debug)]
pub struct Registered {
    pub name: String,
    pub title: String,
    pub read_only: bool,
}

/// The kernel's tools, read from their declarations in `kernel/src/tools` (`Tool::new`,
/// `.title`, `read_only`); the test hooks are left out. The dataset is checked against it
/// and the evaluation applies the kernel's gate with it.
pub fn registry() -> Result<Vec<Registered>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernel/src/tools");
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != "test_hooks.rs"))
        .collect();
    paths.sort();
    for path in paths {
        // Tools are declared as constant data (`Declaration::new`, or `Declaration::typed::<T>`
        // for typed arguments) or, where computed at run time, with the `Tool::new` builder;
        // the chains have the same methods.
        let mut source = std::fs::read_to_string(&path)?.replace("Declaration::new(", "Tool::new(");
        while let Some(at) = source.find("Declaration::typed::<") {
            let Some(open) = source[at..].find(">(").map(|o| at + o + 2) else { break };
            source.replace_range(at..open, "Tool::new(");
        }
        for part in source.split("Tool::new(\"").skip(1) {
            let name = part.split('"').next().unwrap_or_default().to_string();
            let declaration = part.split("Tool::new(").next().unwrap_or_default();
            let title =
                declaration.split(".title(\"").nth(1).and_then(|t| t.split('"').next()).unwrap_or_default().to_string();
            let read_only = declaration.contains("read_only: true") || declaration.contains("Annotations::READ_ONLY");
            out.push(Registered { name, title, read_only });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_read_from_the_kernel_sources_has_every_tool_group() {
        let registry = registry().unwrap();
        for name in [
            "system_info",
            "power_off",
            "llm_generate",
            "fs_write",
            "net_status",
            "gpio_write",
            "i2c_write",
            "spi_transfer",
            "pwm_set",
        ] {
            assert!(registry.iter().any(|t| t.name == name), "{name} missing from {}", registry.len());
        }
        let power_off = registry.iter().find(|t| t.name == "power_off").unwrap();
        assert!(
            !power_off.read_only && power_off.title == "Power off",
            "{:?}",
            (power_off.read_only, &power_off.title)
        );
    }

    #[test]
    fn slot_references_count_the_literal_numbers_before_them() {
        let mut rng = Rng::new(1);
        let (request, answer, target) = fill("write 1 to pin {pin}", r#"gpio_write {"pin":{pin}}"#, &mut rng);
        let pin = request.rsplit(' ').next().unwrap_or_default();
        assert_eq!(answer, format!(r#"gpio_write {{"pin":{pin}}}"#));
        assert_eq!(target, r#"gpio_write {"pin":#2}"#);
        let (_, _, target) = fill(
            "read {length} bytes from address {address}",
            r#"i2c_read {"address":{address},"length":{length}}"#,
            &mut rng,
        );
        assert_eq!(target, r#"i2c_read {"address":#2,"length":#1}"#);
    }

    #[test]
    fn synonyms_replace_whole_words_within_their_context() {
        let mut rng = Rng::new(5);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            seen.insert(synonym("turn on pin 17", &mut rng));
            let other = synonym("turn on the radio", &mut rng);
            assert!(!other.contains("activate"), "the pin group needs 'pin': {other}");
        }
        assert!(seen.contains("activate pin 17") && seen.contains("turn on gpio 17"), "{seen:?}");
        assert!(seen.iter().all(|s| s.ends_with("17")), "{seen:?}");
        assert_eq!(synonym("spinach", &mut rng), "spinach", "only whole words");
    }

    #[test]
    fn noise_keeps_numbers_and_changes_little() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let noisy = noise("please turn on the led on pin 17", &mut rng);
            assert!(noisy.contains("17"), "{noisy}");
            let words = noisy.split(' ').count();
            assert!((7..=9).contains(&words), "{noisy}");
        }
    }

    #[test]
    fn the_dataset_parses_and_every_intent_has_held_out_phrasings() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/intents.txt")).expect("dataset");
        let intents = parse(&text).expect("parses");
        assert!(intents.len() >= 20);
        for intent in &intents {
            assert!(!intent.held_out.is_empty(), "{} has no held-out phrasings", intent.call);
            for phrase in &intent.held_out {
                assert!(!intent.train.contains(phrase), "'{phrase}' is both trained on and held out");
            }
        }
    }

    /// Tools `ask` never proposes: the intent tools themselves (a request to parse a
    /// request), the console-only token tool (never offered to a model), and the tools
    /// that manage installed WebAssembly tools (`tool_install` takes a module, which no one
    /// says in words; `tool_remove` and `tool_list_installed` are not taught yet: that
    /// needs the intent model retrained, and installed tools reach `ask` through their own
    /// manifests' examples instead, `kernel/logic/src/phrasing.rs`).
    const NOT_PROPOSED: [&str; 6] =
        ["intent_parse", "intent_run", "net_token", "tool_install", "tool_remove", "tool_list_installed"];

    #[test]
    fn every_tool_in_the_registry_has_phrasings() {
        let registry: Vec<String> = registry().expect("kernel/src/tools").into_iter().map(|t| t.name).collect();
        assert!(registry.len() >= 25, "the registry was not found: {registry:?}");
        let tools = super::registry().expect("kernel/src/tools");
        let read_only = |name: &str| tools.iter().find(|t| t.name == name).map(|t| t.read_only);
        assert_eq!(read_only("memory_stats"), Some(true));
        assert_eq!(read_only("fs_read"), Some(true));
        assert_eq!(read_only("power_off"), Some(false));
        assert_eq!(read_only("gpio_write"), Some(false));
        assert!(tools.iter().all(|t| !t.title.is_empty()), "{tools:?}");
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/intents.txt")).expect("dataset");
        let intents = parse(&text).expect("parses");
        let taught: Vec<&str> = intents.iter().map(|i| i.call.split(' ').next().unwrap_or_default()).collect();
        for tool in &registry {
            if NOT_PROPOSED.contains(&tool.as_str()) {
                continue;
            }
            assert!(taught.contains(&tool.as_str()), "tool {tool} has no phrasings in intents.txt");
        }
        for tool in taught.iter().filter(|t| **t != inference::intent::NONE) {
            assert!(registry.iter().any(|r| r == tool), "intents.txt teaches {tool}, which is not a tool");
        }
    }

    #[test]
    fn confirmed_decisions_become_examples_and_held_out_ones_do_not() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/intents.txt")).expect("dataset");
        let intents = parse(&text).expect("parses");
        let never = vec![Example {
            request: "pin 9 high now".into(),
            answer: r#"gpio_write {"pin":9,"value":true}"#.into(),
            target: String::new(),
        }];
        let log = [
            r#"{"id":1,"request":"Switch pin 17 on, please","proposal":"gpio_write {\"pin\":17,\"value\":true}","raw":"","confidence":0.9,"outcome":"ran","status":"ready"}"#,
            r#"{"id":2,"request":"reboot","proposal":"power_reboot {}","raw":"power_reboot {}","outcome":"declined","status":"ready"}"#,
            r#"{"id":3,"request":"pin 4 high now","proposal":"gpio_write {\"pin\":4,\"value\":true}","raw":"gpio_write {\"pin\":#1,\"value\":true}","outcome":"ran","status":"ready"}"#,
            r#"{"id":4,"request":"save \"Hi there\" as notes.txt","proposal":"fs_write {\"path\":\"notes.txt\",\"content\":\"Hi there\"}","raw":"","outcome":"ran"}"#,
            "not json",
            r#"{"id":5,"request":"make tea","proposal":"kettle_on {}","outcome":"ran"}"#,
        ]
        .join("\n");
        let (examples, report) = confirmed_decisions(&log, &intents, &never);
        assert_eq!(examples.len(), 2, "{report}: {examples:?}");
        assert_eq!(examples[0].request, "switch pin 17 on please");
        assert_eq!(examples[0].target, r#"gpio_write {"pin":#1,"value":true}"#);
        assert_eq!(examples[1].target, r#"fs_write {"path":"@2","content":"$1"}"#);
        assert!(report.contains("1 left out") && report.contains("2 unusable"), "{report}");
    }
}
