//! Task files for `drover submit`: YAML or JSON text in the proto3 JSON mapping of
//! `drover.v1.TaskSpec` (snake_case or camelCase fields, enum names such as `CHAT_ROLE_USER`,
//! durations such as `"30s"`), one task per document, or a list of tasks. YAML files may hold
//! several documents separated by `---`.
//!
//! The text is read into a generic value, each task is deserialized by `prost-reflect` against
//! `drover_api::FILE_DESCRIPTOR_SET` (so the mapping is protobuf's own, not a hand-written
//! copy), and the dynamic message is re-encoded into the generated `pb::TaskSpec`. Errors name
//! the file, the task's place in it and the path of the field that does not fit, e.g.
//! `tasks.yaml[1]: steps[0].navigate.urll: unknown field`. The scheduler still validates
//! everything on submission; this only checks the shape.

use std::{path::Path, sync::OnceLock};

use drover_api::pb;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde::Deserialize;

/// One task read from a file, with where it came from (`file` or `file[i]`).
#[derive(Debug, Clone)]
pub struct LoadedTask {
    /// `path` for a file of one task, `path[i]` for the i-th task of a list or document stream.
    pub source: String,
    /// The task as the scheduler receives it.
    pub spec: pb::TaskSpec,
}

/// Why a task file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TaskFileError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The text is not valid YAML or JSON.
    #[error("{path}: not valid {format}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// "YAML" or "JSON".
        format: &'static str,
        /// The parser's message, with its line and column.
        message: String,
    },
    /// A task does not fit `drover.v1.TaskSpec`.
    #[error("{task}: {field}: {message}")]
    Field {
        /// `file` or `file[i]`.
        task: String,
        /// The path of the offending field inside the task, or `(task)` for the whole of it.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file holds no task.
    #[error("{path}: no task in the file")]
    Empty {
        /// The file.
        path: String,
    },
}

/// The descriptor of `drover.v1.TaskSpec`, decoded once.
fn task_spec_descriptor() -> &'static MessageDescriptor {
    static DESCRIPTOR: OnceLock<MessageDescriptor> = OnceLock::new();
    DESCRIPTOR.get_or_init(|| {
        DescriptorPool::decode(drover_api::FILE_DESCRIPTOR_SET)
            .expect("drover-api's descriptor set decodes")
            .get_message_by_name("drover.v1.TaskSpec")
            .expect("drover.v1.TaskSpec is in drover-api's descriptor set")
    })
}

/// Reads every task in the file at `path`.
pub fn load(path: &Path) -> Result<Vec<LoadedTask>, TaskFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| TaskFileError::Read {
        path: name.clone(),
        error,
    })?;
    let json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    parse(&name, &text, json)
}

/// Reads every task in `text` (JSON if `json`, else YAML, which also accepts most JSON).
/// `name` is the file's name for messages.
pub fn parse(name: &str, text: &str, json: bool) -> Result<Vec<LoadedTask>, TaskFileError> {
    let syntax = |format: &'static str, message: String| TaskFileError::Syntax {
        path: name.to_owned(),
        format,
        message,
    };
    let documents: Vec<serde_json::Value> = if json {
        vec![serde_json::from_str(text).map_err(|e| syntax("JSON", e.to_string()))?]
    } else {
        let mut documents = Vec::new();
        for document in serde_norway::Deserializer::from_str(text) {
            let value = serde_json::Value::deserialize(document)
                .map_err(|e| syntax("YAML", e.to_string()))?;
            if !value.is_null() {
                documents.push(value);
            }
        }
        documents
    };
    let mut values = Vec::new();
    for document in documents {
        match document {
            serde_json::Value::Array(items) => values.extend(items),
            other => values.push(other),
        }
    }
    if values.is_empty() {
        return Err(TaskFileError::Empty {
            path: name.to_owned(),
        });
    }
    let numbered = values.len() > 1 || text.trim_start().starts_with(['[', '-']);
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let source = if numbered {
                format!("{name}[{i}]")
            } else {
                name.to_owned()
            };
            let spec = task_from_value(value).map_err(|(field, message)| TaskFileError::Field {
                task: source.clone(),
                field,
                message,
            })?;
            Ok(LoadedTask { source, spec })
        })
        .collect()
}

/// One task from its generic value: `(field path, message)` when it does not fit.
fn task_from_value(value: serde_json::Value) -> Result<pb::TaskSpec, (String, String)> {
    if !value.is_object() {
        return Err((
            "(task)".to_owned(),
            format!(
                "expected a task (a mapping of fields), found {}",
                kind(&value)
            ),
        ));
    }
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
    let message = DynamicMessage::deserialize(task_spec_descriptor().clone(), deserializer)
        .map_err(|e| (field_path(&track.path()), e.to_string()))?;
    pb::TaskSpec::decode(message.encode_to_vec().as_slice())
        .map_err(|e| ("(task)".to_owned(), format!("cannot be encoded: {e}")))
}

/// `steps[0].navigate.url` from serde_path_to_error's `steps.0.navigate.url`.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out.is_empty() {
        "(task)".to_owned()
    } else {
        out
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_EXAMPLE: &str = r#"
tenant: acme
steps:
  - name: open
    navigate: { url: "https://shop.example/products" }
    timeout: 30s
  - name: table
    extract: { selector: "table.products" }
  - name: summary
    chat:
      model_group: default
      messages:
        - { role: CHAT_ROLE_USER, content: "Summarise: ${steps.table.text}" }
"#;

    #[test]
    fn the_readme_example_reads_as_a_task_spec() {
        let tasks = parse("t.yaml", README_EXAMPLE, false).expect("valid");
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].source, "t.yaml");
        let spec = &tasks[0].spec;
        assert_eq!(spec.tenant, "acme");
        assert_eq!(spec.steps.len(), 3);
        assert_eq!(spec.steps[0].timeout.unwrap().seconds, 30);
        let Some(pb::step::Kind::Chat(chat)) = &spec.steps[2].kind else {
            panic!("chat step: {:?}", spec.steps[2]);
        };
        assert_eq!(chat.messages[0].role, pb::ChatRole::User as i32);
    }

    #[test]
    fn lists_documents_and_json_give_several_tasks() {
        let tasks = parse("l.yaml", "- tenant: a\n- tenant: b\n", false).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[1].source, "l.yaml[1]");
        let tasks = parse("d.yaml", "tenant: a\n---\ntenant: b\n", false).unwrap();
        assert_eq!(tasks[1].spec.tenant, "b");
        let tasks = parse(
            "t.json",
            r#"[{"tenant": "a", "priority": "PRIORITY_HIGH", "queueTimeout": "1.5s"}]"#,
            true,
        )
        .unwrap();
        assert_eq!(tasks[0].source, "t.json[0]");
        assert_eq!(tasks[0].spec.priority, pb::Priority::High as i32);
        assert_eq!(tasks[0].spec.queue_timeout.unwrap().nanos, 500_000_000);
    }

    #[test]
    fn errors_name_the_file_the_task_and_the_field() {
        let err = parse(
            "bad.yaml",
            "- tenant: a\n- steps:\n    - navigate: { urll: x }\n",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("bad.yaml[1]: steps[0].navigate"), "{err}");
        assert!(err.contains("urll"), "{err}");
        let err = parse(
            "bad.yaml",
            "steps:\n  - chat: { messages: [{ role: CHAT_ROLE_BOSS }] }\n",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("bad.yaml: steps[0].chat.messages[0].role"),
            "{err}"
        );
        let err = parse("bad.yaml", "timeout: soon\n", false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.yaml: timeout"), "{err}");
        let err = parse("bad.json", "{\"tenant\": ", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        let err = parse("bad.yaml", "just words\n", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a task"), "{err}");
        assert!(matches!(
            parse("e.yaml", "\n", false),
            Err(TaskFileError::Empty { .. })
        ));
    }
}
