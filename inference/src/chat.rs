//! Chat prompt formats, detected from GGUF's `tokenizer.chat_template` by distinctive
//! markers (a Jinja engine is not needed for the templates models ship):
//!
//! | format | marker | a turn | generation prompt | ends a turn |
//! |---|---|---|---|---|
//! | ChatML (SmolLM2, Qwen) | `<\|im_start\|>` | `<\|im_start\|>role\n…<\|im_end\|>\n` | `<\|im_start\|>assistant\n` | `<\|im_end\|>` |
//! | Zephyr (TinyLlama-Chat) | `<\|assistant\|>` | `<\|role\|>\n…</s>\n` | `<\|assistant\|>\n` | `</s>` |
//! | Llama 3 | `<\|start_header_id\|>` | `<\|start_header_id\|>role<\|end_header_id\|>\n\n…<\|eot_id\|>` | the assistant header | `<\|eot_id\|>` |
//! | Llama 2 | `[INST]` | `[INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST] … </s><s>` | after `[/INST]` | `</s>` |
//!
//! The markers are control tokens, which the tokenizer turns into their ids when they are
//! written in the text. BOS is the tokenizer's business (`add_bos_token`), not the
//! format's. A template that names a default system message for conversations that have
//! none (SmolLM2's "You are a helpful AI assistant named SmolLM…") gets it here too. An
//! unrecognised template falls back to plain completion, and says so ([`Template::recognised`]).

use alloc::{string::String, vec::Vec};

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

impl Role {
    /// The role's name in the templates.
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// How a prompt is laid out for the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The messages' texts joined by newlines, nothing added: the model continues the text.
    #[default]
    Plain,
    /// ChatML.
    ChatMl,
    /// TinyLlama-Chat / Zephyr.
    Zephyr,
    /// Llama 3.
    Llama3,
    /// Llama 2 `[INST]`.
    Llama2,
}

/// A model's chat template, as far as prompts need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    /// The layout.
    pub format: Format,
    /// The system message the template adds when a conversation has none.
    pub default_system: Option<String>,
    /// Whether the template was recognised (false: plain completion as a fallback; no
    /// template at all counts as recognised plain completion).
    pub recognised: bool,
}

impl Template {
    /// The template GGUF's `tokenizer.chat_template` describes.
    pub fn from_gguf_template(template: Option<&str>) -> Template {
        let Some(text) = template else { return Template { recognised: true, ..Template::default() } };
        let format = Format::from_template(Some(text));
        Template { format, default_system: default_system(text), recognised: format != Format::Plain }
    }

    /// The prompt text for `messages`, ending with the generation prompt.
    pub fn render(&self, messages: &[(Role, &str)]) -> String {
        match (&self.default_system, messages.first()) {
            (Some(system), Some((role, _))) if *role != Role::System && self.format != Format::Plain => {
                let mut all: Vec<(Role, &str)> = Vec::with_capacity(messages.len() + 1);
                all.push((Role::System, system.as_str()));
                all.extend_from_slice(messages);
                self.format.render(&all)
            }
            _ => self.format.render(messages),
        }
    }
}

/// The literal system message a template inserts when the first message is not a system
/// one (`{% if … != 'system' %}{{ '<|im_start|>system\nYou are …<|im_end|>\n' }}`): only
/// recognised where the template tests for a missing system message.
fn default_system(template: &str) -> Option<String> {
    if !template.contains("!= 'system'") && !template.contains("!= \"system\"") {
        return None;
    }
    let start = template.find("<|im_start|>system")? + "<|im_start|>system".len();
    let rest = &template[start..];
    let end = rest.find("<|im_end|>")?;
    let text = rest[..end].replace("\\n", "\n");
    let text = text.strip_prefix('\n').unwrap_or(&text);
    // A literal message only: a template that builds it from variables is not copied.
    (!text.is_empty() && !text.contains("{{") && !text.contains('\'')).then(|| String::from(text))
}

impl Format {
    /// The format a GGUF `tokenizer.chat_template` asks for, by its markers; plain when
    /// there is none or it is not recognised.
    pub fn from_template(template: Option<&str>) -> Format {
        match template {
            Some(t) if t.contains("<|im_start|>") => Format::ChatMl,
            Some(t) if t.contains("<|start_header_id|>") => Format::Llama3,
            Some(t) if t.contains("<|assistant|>") => Format::Zephyr,
            Some(t) if t.contains("[INST]") => Format::Llama2,
            _ => Format::Plain,
        }
    }

    /// The prompt text for `messages`.
    pub fn render(self, messages: &[(Role, &str)]) -> String {
        match self {
            Format::Plain => plain(messages),
            Format::ChatMl => chatml(messages),
            Format::Zephyr => zephyr(messages),
            Format::Llama3 => llama3(messages),
            Format::Llama2 => llama2(messages),
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

/// `<|im_start|>role\n...<|im_end|>\n` per message, then `<|im_start|>assistant\n`.
pub fn chatml(messages: &[(Role, &str)]) -> String {
    let mut prompt = String::new();
    for (role, text) in messages {
        prompt.push_str("<|im_start|>");
        prompt.push_str(role.name());
        prompt.push('\n');
        prompt.push_str(text);
        prompt.push_str("<|im_end|>\n");
    }
    prompt.push_str("<|im_start|>assistant\n");
    prompt
}

/// Formats messages as `<|system|>\n...</s>\n<|user|>\n...</s>\n<|assistant|>\n`.
pub fn zephyr(messages: &[(Role, &str)]) -> String {
    let mut prompt = String::new();
    for (role, text) in messages {
        prompt.push_str("<|");
        prompt.push_str(role.name());
        prompt.push_str("|>\n");
        prompt.push_str(text);
        prompt.push_str("</s>\n");
    }
    prompt.push_str("<|assistant|>\n");
    prompt
}

/// Llama 3: a header per message, content trimmed (as its template does), `<|eot_id|>`.
pub fn llama3(messages: &[(Role, &str)]) -> String {
    let mut prompt = String::new();
    for (role, text) in messages {
        prompt.push_str("<|start_header_id|>");
        prompt.push_str(role.name());
        prompt.push_str("<|end_header_id|>\n\n");
        prompt.push_str(text.trim());
        prompt.push_str("<|eot_id|>");
    }
    prompt.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
    prompt
}

/// Llama 2: `[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]`, each answer followed by
/// ` </s><s>` before the next instruction (BOS of the first comes from the tokenizer).
pub fn llama2(messages: &[(Role, &str)]) -> String {
    let mut prompt = String::new();
    let mut system: Option<&str> = None;
    for (role, text) in messages {
        match role {
            Role::System => system = Some(text),
            Role::User => {
                prompt.push_str("[INST] ");
                if let Some(system) = system.take() {
                    prompt.push_str("<<SYS>>\n");
                    prompt.push_str(system);
                    prompt.push_str("\n<</SYS>>\n\n");
                }
                prompt.push_str(text.trim());
                prompt.push_str(" [/INST]");
            }
            Role::Assistant => {
                prompt.push(' ');
                prompt.push_str(text.trim());
                prompt.push_str(" </s><s>");
            }
        }
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    #[test]
    fn chatml_with_the_templates_default_system_message() {
        let t = Template::from_gguf_template(Some(SMOLLM2));
        assert_eq!(t.format, Format::ChatMl);
        assert!(t.recognised);
        assert_eq!(
            t.render(&[(Role::User, "Hi")]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        // A conversation with its own system message keeps it.
        assert_eq!(
            t.render(&[(Role::System, "Be brief."), (Role::User, "Hi")]),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

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
    fn llama3_and_llama2_formats() {
        assert_eq!(
            llama3(&[(Role::System, "Be brief. "), (Role::User, "Hi")]),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            llama2(&[
                (Role::System, "Be brief."),
                (Role::User, "Hi"),
                (Role::Assistant, "Hello!"),
                (Role::User, "Bye")
            ]),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]"
        );
    }

    #[test]
    fn detection_and_fallback() {
        let tinyllama = "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}";
        assert_eq!(Format::from_template(Some(tinyllama)), Format::Zephyr);
        assert_eq!(Format::from_template(Some("{{ '<|start_header_id|>' }}")), Format::Llama3);
        assert_eq!(Format::from_template(Some("{{ bos_token + '[INST] ' }}")), Format::Llama2);
        assert_eq!(Format::from_template(None), Format::Plain);
        let unknown = Template::from_gguf_template(Some("{{ '<start_of_turn>' }}"));
        assert_eq!((unknown.format, unknown.recognised), (Format::Plain, false));
        assert!(Template::from_gguf_template(None).recognised);
        assert_eq!(Format::Plain.render(&[(Role::User, "Once upon a time")]), "Once upon a time");
        assert_eq!(plain(&[(Role::System, "a"), (Role::User, "b")]), "a\nb");
        assert_eq!(Template::from_gguf_template(Some(tinyllama)).default_system, None);
    }
}
