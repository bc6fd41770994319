//! Resources (fixed URIs) and resource templates (URIs with `{variables}`).

use alloc::{boxed::Box, string::String, vec::Vec};
use serde_json::{json, Map, Value};

/// Reads a resource: gets the URI and the template variables (empty for fixed resources),
/// returns its text.
pub type Reader = Box<dyn Fn(&str, &Map<String, Value>) -> Result<String, String> + Send + Sync>;

/// A resource with a fixed URI, or a template whose URI has `{name}` placeholders.
pub struct Resource {
    pub(crate) uri: String,
    pub(crate) template: bool,
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) mime_type: String,
    pub(crate) reader: Reader,
    /// Only sessions with the control role may read it.
    pub(crate) control_only: bool,
}

impl Resource {
    /// A resource at a fixed URI.
    pub fn new(
        uri: &str,
        name: &str,
        reader: impl Fn(&str, &Map<String, Value>) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        Resource {
            uri: uri.into(),
            template: false,
            name: name.into(),
            title: String::new(),
            description: String::new(),
            mime_type: "text/plain".into(),
            reader: Box::new(reader),
            control_only: false,
        }
    }

    /// A resource template such as `kernel://log/{lines}`; each `{name}` matches one
    /// non-empty path segment (no `/`).
    pub fn template(
        uri_template: &str,
        name: &str,
        reader: impl Fn(&str, &Map<String, Value>) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        let mut resource = Self::new(uri_template, name, reader);
        resource.template = true;
        resource
    }

    /// Title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.into();
        self
    }

    /// Description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// Only sessions with the control role may read it (e.g. the audit trail).
    pub fn control_only(mut self) -> Self {
        self.control_only = true;
        self
    }

    /// MIME type of the text (default `text/plain`).
    pub fn mime_type(mut self, mime: &str) -> Self {
        self.mime_type = mime.into();
        self
    }

    /// The URI or URI template.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether this is a template.
    pub fn is_template(&self) -> bool {
        self.template
    }

    /// Its `resources/list` or `resources/templates/list` entry.
    pub fn to_json(&self) -> Value {
        let key = if self.template { "uriTemplate" } else { "uri" };
        json!({
            key: self.uri,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "mimeType": self.mime_type,
        })
    }

    /// Matches `uri` against this resource; returns the template variables on a match.
    pub fn matches(&self, uri: &str) -> Option<Map<String, Value>> {
        if !self.template {
            return (self.uri == uri).then(Map::new);
        }
        let mut variables = Map::new();
        let mut rest = uri;
        let mut pattern = self.uri.as_str();
        while let Some(open) = pattern.find('{') {
            let literal = &pattern[..open];
            rest = rest.strip_prefix(literal)?;
            let close = pattern[open..].find('}')? + open;
            let name = &pattern[open + 1..close];
            pattern = &pattern[close + 1..];
            let next_literal = pattern.split('{').next().unwrap_or("");
            let end = if next_literal.is_empty() { rest.len() } else { rest.find(next_literal)? };
            let value = &rest[..end];
            if value.is_empty() || value.contains('/') {
                return None;
            }
            variables.insert(name.into(), Value::from(value));
            rest = &rest[end..];
        }
        (rest == pattern).then_some(variables)
    }

    /// Reads it.
    pub fn read(&self, uri: &str, variables: &Map<String, Value>) -> Result<Value, String> {
        let text = (self.reader)(uri, variables)?;
        Ok(json!({"contents": [{"uri": uri, "mimeType": self.mime_type, "text": text}]}))
    }
}

/// One argument of a prompt.
#[derive(Clone, Debug)]
pub struct PromptArgument {
    /// Name.
    pub name: String,
    /// What to pass.
    pub description: String,
    /// Whether it must be given.
    pub required: bool,
}

/// Renders a prompt from its arguments into `(role, text)` messages.
pub type Renderer = Box<dyn Fn(&Map<String, Value>) -> Result<Vec<(String, String)>, String> + Send + Sync>;

/// A prompt template.
pub struct Prompt {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) arguments: Vec<PromptArgument>,
    pub(crate) render: Renderer,
}

impl Prompt {
    /// A prompt without arguments.
    pub fn new(
        name: &str,
        render: impl Fn(&Map<String, Value>) -> Result<Vec<(String, String)>, String> + Send + Sync + 'static,
    ) -> Self {
        Prompt {
            name: name.into(),
            title: String::new(),
            description: String::new(),
            arguments: Vec::new(),
            render: Box::new(render),
        }
    }

    /// Title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.into();
        self
    }

    /// Description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// Adds an argument.
    pub fn argument(mut self, name: &str, description: &str, required: bool) -> Self {
        self.arguments.push(PromptArgument { name: name.into(), description: description.into(), required });
        self
    }

    /// Its `prompts/list` entry.
    pub fn to_json(&self) -> Value {
        let arguments: Vec<Value> = self
            .arguments
            .iter()
            .map(|a| json!({"name": a.name, "description": a.description, "required": a.required}))
            .collect();
        json!({"name": self.name, "title": self.title, "description": self.description, "arguments": arguments})
    }

    /// `prompts/get`: checks required arguments (all values must be strings) and renders.
    pub fn get(&self, arguments: &Map<String, Value>) -> Result<Value, String> {
        for argument in &self.arguments {
            match arguments.get(&argument.name) {
                None if argument.required => return Err(alloc::format!("argument '{}' is required", argument.name)),
                Some(value) if !value.is_string() => {
                    return Err(alloc::format!("argument '{}' must be a string", argument.name))
                }
                _ => {}
            }
        }
        if let Some(unknown) = arguments.keys().find(|k| !self.arguments.iter().any(|a| &&a.name == k)) {
            return Err(alloc::format!("'{unknown}' is not an argument of this prompt"));
        }
        let messages: Vec<Value> = (self.render)(arguments)?
            .into_iter()
            .map(|(role, text)| json!({"role": role, "content": {"type": "text", "text": text}}))
            .collect();
        Ok(json!({"description": self.description, "messages": messages}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segments() {
        let t = Resource::template("kernel://log/{lines}", "log", |_, _| Ok(String::new()));
        assert_eq!(t.matches("kernel://log/20").unwrap()["lines"], "20");
        assert!(t.matches("kernel://log/").is_none());
        assert!(t.matches("kernel://log/1/2").is_none());
        assert!(t.matches("kernel://other/1").is_none());
        let two = Resource::template("a://{x}/b/{y}", "two", |_, _| Ok(String::new()));
        let vars = two.matches("a://1/b/2").unwrap();
        assert_eq!((vars["x"].as_str(), vars["y"].as_str()), (Some("1"), Some("2")));
        let fixed = Resource::new("kernel://log", "log", |_, _| Ok(String::new()));
        assert!(fixed.matches("kernel://log").is_some());
        assert!(fixed.matches("kernel://log/1").is_none());
    }
}
