//! Prompt formats: TinyLlama-Chat (Zephyr style) and plain completion.

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

/// Formats messages as `<|system|>\n...</s>\n<|user|>\n...</s>\n<|assistant|>\n` (the
/// tokenizer turns the literal `</s>` into EOS).
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
    }
}
