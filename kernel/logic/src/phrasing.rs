//! How a plain-language request reaches a tool installed at run time: through the example
//! phrasings in its manifest. The intent model knows only the tools it was trained on, so
//! an installed tool is proposed when the request says what one of its examples says:
//! after normalising, the content words (filler such as "the", "please", "can you" left
//! out) shared by the two are at least [`MATCH`] of the longer one's. Two tools matching
//! equally well is no match: the request is ambiguous, and the ordinary pipeline decides.

use alloc::vec::Vec;

/// The share of content words a request must have in common with an example.
pub const MATCH: f32 = 0.75;

/// Words that carry no meaning for choosing a tool.
const FILLER: &[&str] = &[
    "a", "an", "the", "please", "pls", "can", "could", "would", "you", "me", "my", "i", "is", "it", "its", "of", "to",
    "for", "on", "in", "at", "and", "now", "just", "do", "some", "this", "that", "what", "whats", "tell",
];

/// The content words of `text`: lower case, split at anything not a letter or digit.
fn words(text: &str) -> Vec<alloc::string::String> {
    let mut out: Vec<alloc::string::String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if !FILLER.contains(&word.as_str()) && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// How much of `request` and `example` is the same (0..1): shared content words over the
/// larger word count.
pub fn similarity(request: &str, example: &str) -> f32 {
    let (a, b) = (words(request), words(example));
    let larger = a.len().max(b.len());
    if larger == 0 {
        return 0.0;
    }
    let shared = a.iter().filter(|w| b.contains(w)).count();
    shared as f32 / larger as f32
}

/// The tool whose examples `request` matches best, with the score, if one matches at
/// least [`MATCH`] and no other matches as well.
pub fn best<'a>(
    request: &str,
    tools: impl IntoIterator<Item = (&'a str, &'a [alloc::string::String])>,
) -> Option<(&'a str, f32)> {
    let mut best: Option<(&'a str, f32)> = None;
    let mut tied = false;
    for (name, examples) in tools {
        let score = examples.iter().map(|e| similarity(request, e)).fold(0.0f32, f32::max);
        if score < MATCH {
            continue;
        }
        match best {
            Some((other, top)) if other != name && (score - top).abs() < f32::EPSILON => tied = true,
            Some((_, top)) if score <= top => {}
            _ => {
                best = Some((name, score));
                tied = false;
            }
        }
    }
    best.filter(|_| !tied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{string::String, vec};

    fn tools() -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("blink", vec!["blink the led".into(), "flash the light".into()]),
            ("lm75_temperature", vec!["how warm is it in fahrenheit".into(), "read the lm75 temperature".into()]),
        ]
    }

    fn pick(request: &str) -> Option<&'static str> {
        let tools = tools();
        let found = best(request, tools.iter().map(|(n, e)| (*n, e.as_slice())));
        found.map(|(name, _)| if name == "blink" { "blink" } else { "lm75_temperature" })
    }

    #[test]
    fn requests_that_say_what_an_example_says_match() {
        assert_eq!(pick("blink the led"), Some("blink"));
        assert_eq!(pick("please blink the LED!"), Some("blink"));
        assert_eq!(pick("can you flash the light"), Some("blink"));
        assert_eq!(pick("read the LM75 temperature please"), Some("lm75_temperature"));
        assert_eq!(pick("how warm is it in fahrenheit"), Some("lm75_temperature"));
    }

    #[test]
    fn other_requests_do_not() {
        for request in [
            "how warm is it in celsius",
            "blink",
            "turn off the led",
            "what is the capital of france",
            "reboot the machine",
            "",
            "the the the",
            "flash the firmware",
            "read the temperature",
        ] {
            assert_eq!(pick(request), None, "{request}");
        }
    }

    #[test]
    fn equal_matches_are_ambiguous() {
        let tools = [("a", vec![String::from("water the plants")]), ("b", vec![String::from("water the plants")])];
        assert_eq!(best("water the plants", tools.iter().map(|(n, e)| (*n, e.as_slice()))), None);
        assert!((similarity("Blink, the LED.", "blink led") - 1.0).abs() < f32::EPSILON);
    }
}
