//! Prompt formats: TinyLlama-Chat (Zephyr style) and plain completion.
//!
//! The Zephyr format ends every message with the literal `</s>`, which the tokenizer turns
//! into the EOS id (a control token written in the text), as TinyLlama-Chat was trained.

use alloc::string::String;

/// A chat message role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// How a prompt is laid out for the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The messages' texts joined by newlines, nothing added: the model continues the text.
    #[default]
    Plain,
    /// TinyLlama-Chat / Zephyr: `<|role|>\n…</s>\n` per message, then `<|assistant|>\n`.
    Zephyr,
}

impl Format {
    /// The format a GGUF `tokenizer.chat_template` asks for: Zephyr when the template uses
    /// the `<|assistant|>` marker, plain otherwise (or without a template).
    pub fn from_template(template: Option<&str>) -> Format {
        match template {
            Some(t) if t.contains("<|assistant|>") => Format::Zephyr,
            _ => Format::Plain,
        }
    }

    /// The prompt text for `messages`.
    pub fn render(self, messages: &[(Role, &str)]) -> String {
        match self {
            Format::Plain => plain(messages),
            Format::Zephyr => zephyr(messages),
        }
    }
}

/// Plain completion: the texts joined by newlines.
pub fn plain(messages: &[(Role, &str)]) -> String {
    let mut prompt = String::new();
    for (i, (_, text)) in messages.iter().enumerate() {
        if i > 0 {
            prompt.push('\n');
        }
        prompt.push_str(text);
    }
    prompt
}

/// Formats messages as `<|system|>\n...</s>\n<|user|>\n...</s>\n<|assistant|>\n`.
pub fn zephyr(messages: &[(Role, &str)]) -> String {
    let mut prompt = String::new();
    for (role, text) in messages {
        prompt.push_str(match role {
            Role::System => "<|system|>\n",
            Role::User => "<|user|>\n",
            Role::Assistant => "<|assistant|>\n",
        });
        prompt.push_str(text);
        prompt.push_str("</s>\n");
    }
    prompt.push_str("<|assistant|>\n");
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zephyr_format() {
        assert_eq!(
            zephyr(&[(Role::System, "Be brief."), (Role::User, "Hi")]),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n"
        );
        assert_eq!(
            Format::Zephyr.render(&[(Role::User, "Hi"), (Role::Assistant, "Hello!"), (Role::User, "Bye")]),
            "<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nBye</s>\n<|assistant|>\n"
        );
    }

    #[test]
    fn plain_format_and_template_detection() {
        assert_eq!(Format::Plain.render(&[(Role::User, "Once upon a time")]), "Once upon a time");
        assert_eq!(plain(&[(Role::System, "a"), (Role::User, "b")]), "a\nb");
        let tinyllama = "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}";
        assert_eq!(Format::from_template(Some(tinyllama)), Format::Zephyr);
        assert_eq!(Format::from_template(None), Format::Plain);
    }
}
