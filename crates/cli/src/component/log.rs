//! Task logging: every line goes to stderr (which the launcher captures) and is appended to the
//! files that the CONFIG's Python logging document (`conf.logger.config`, `dag.md` §8.5) attaches
//! to the root logger — `<task>/root/INFO`, `<task>/root/ERROR`, the party-level files — because
//! that is where the site's log API (`/v2/log/query`, `task_info`, `task_error`) reads them.
//!
//! Lines use FATE's layout, `[LEVEL][time][pid][module][line:N]: message`, so one log reader
//! handles both. Writes are synchronous, like the writes to stderr: lines are few and short.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// One file of the logging document: where, and from which level on.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTarget {
    pub path: PathBuf,
    pub level: Level,
}

/// The files the root logger writes to: the handlers listed under `root.handlers` that have a
/// `filename`; without a `root` section, the handlers named like FATE's root ones (`root_*`,
/// `global_error`). A handler level below the root logger's level is raised to it, as Python's
/// logger level filters before its handlers do.
pub fn file_targets(config: &Value) -> Vec<FileTarget> {
    let Some(handlers) = config.get("handlers").and_then(Value::as_object) else {
        return Vec::new();
    };
    let root_level = config
        .pointer("/root/level")
        .and_then(parse_level)
        .unwrap_or(Level::INFO);
    let names: Vec<String> = match config.pointer("/root/handlers").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => handlers
            .keys()
            .filter(|k| k.starts_with("root_") || k.starts_with("global_"))
            .cloned()
            .collect(),
    };
    names
        .iter()
        .filter_map(|name| {
            let h = handlers.get(name)?;
            let path = PathBuf::from(h.get("filename")?.as_str()?);
            let level = h.get("level").and_then(parse_level).unwrap_or(Level::TRACE);
            // `min` in severity terms: the less verbose of the two.
            Some(FileTarget {
                path,
                level: level.min(root_level),
            })
        })
        .collect()
}

/// Python level names and numbers.
fn parse_level(v: &Value) -> Option<Level> {
    let n = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => match s.to_ascii_uppercase().as_str() {
            "DEBUG" => 10,
            "INFO" => 20,
            "WARNING" | "WARN" => 30,
            "ERROR" => 40,
            "CRITICAL" | "FATAL" => 50,
            "NOTSET" => 0,
            _ => return None,
        },
        _ => return None,
    };
    Some(match n {
        ..=9 => Level::TRACE,
        10..=19 => Level::DEBUG,
        20..=29 => Level::INFO,
        30..=39 => Level::WARN,
        _ => Level::ERROR,
    })
}

/// The tracing layer that writes task log lines.
pub struct TaskLog {
    stderr: Option<Level>,
    files: Vec<Sink>,
}

struct Sink {
    target: FileTarget,
    /// Opened on the first line, as Python's `delay: true` handlers do, so that a task
    /// without errors leaves no empty ERROR file.
    file: Mutex<SinkState>,
}

enum SinkState {
    Closed,
    Open(File),
    Failed,
}

impl TaskLog {
    /// `stderr`: the least severe level echoed to stderr, or `None` for none.
    pub fn new(stderr: Option<Level>, targets: Vec<FileTarget>) -> Self {
        let files = targets
            .into_iter()
            .map(|target| Sink {
                target,
                file: Mutex::new(SinkState::Closed),
            })
            .collect();
        Self { stderr, files }
    }
}

impl Sink {
    fn write(&self, line: &str) {
        let mut state = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let SinkState::Closed = *state {
            *state = match open_append(&self.target.path) {
                Ok(f) => SinkState::Open(f),
                Err(e) => {
                    // Not through tracing: this is the logger itself.
                    eprintln!("cannot open log file {}: {e}", self.target.path.display());
                    SinkState::Failed
                }
            };
        }
        if let SinkState::Open(f) = &mut *state {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

impl<S: Subscriber> Layer<S> for TaskLog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = *meta.level();
        let to_stderr = self.stderr.is_some_and(|l| level <= l);
        let files: Vec<&Sink> = self
            .files
            .iter()
            .filter(|s| level <= s.target.level)
            .collect();
        if !to_stderr && files.is_empty() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = format!(
            "[{}][{}][{}][{}][line:{}]: {}\n",
            python_level(level),
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f"),
            std::process::id(),
            meta.target(),
            meta.line().unwrap_or(0),
            fields.text
        );
        if to_stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        for sink in files {
            sink.write(&line);
        }
    }
}

fn python_level(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// The message, then the structured fields as `key=value`.
#[derive(Default)]
struct Fields {
    text: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            self.push(field, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.text.insert_str(0, &v);
        } else {
            self.push(field, &v);
        }
    }
}

impl Fields {
    fn push(&mut self, field: &Field, value: &str) {
        self.text.push(' ');
        self.text.push_str(field.name());
        self.text.push('=');
        self.text.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tracing_subscriber::layer::SubscriberExt;

    /// The shape FATE's `FlowLogger.create` builds, cut to its root part.
    fn fate_logger_config(task_dir: &Path, party_dir: &Path) -> Value {
        let h = |file: PathBuf, level: &str| json!({"class": "logging.FileHandler", "delay": true, "filename": file, "formatter": "root", "level": level});
        json!({
            "version": 1,
            "handlers": {
                "root_info": h(task_dir.join("root/INFO"), "INFO"),
                "root_error": h(task_dir.join("root/ERROR"), "ERROR"),
                "root_party_info": h(party_dir.join("INFO"), "INFO"),
                "global_error": h(party_dir.join("ERROR"), "ERROR"),
                "component_info": h(task_dir.join("component/INFO"), "INFO"),
                "console": {"class": "logging.StreamHandler", "level": "DEBUG"}
            },
            "loggers": {"fate": {"handlers": ["component_info"], "level": "INFO"}},
            "root": {"handlers": ["root_info", "root_error", "root_party_info", "global_error", "console"], "level": "INFO"}
        })
    }

    #[test]
    fn targets_are_the_root_handlers_with_files() {
        let c = fate_logger_config(Path::new("/l/j/guest/9/t"), Path::new("/l/j/guest/9"));
        let t = file_targets(&c);
        assert_eq!(
            t,
            vec![
                FileTarget {
                    path: "/l/j/guest/9/t/root/INFO".into(),
                    level: Level::INFO
                },
                FileTarget {
                    path: "/l/j/guest/9/t/root/ERROR".into(),
                    level: Level::ERROR
                },
                FileTarget {
                    path: "/l/j/guest/9/INFO".into(),
                    level: Level::INFO
                },
                FileTarget {
                    path: "/l/j/guest/9/ERROR".into(),
                    level: Level::ERROR
                },
            ]
        );
        assert!(file_targets(&json!({})).is_empty());
        assert!(file_targets(&Value::Null).is_empty());
    }

    #[test]
    fn without_root_section_fate_names_are_used_and_levels_parse() {
        let c = json!({"handlers": {
            "root_debug": {"filename": "/a", "level": 10},
            "global_error": {"filename": "/b", "level": "CRITICAL"},
            "component_info": {"filename": "/c", "level": "INFO"}
        }});
        let mut t = file_targets(&c);
        t.sort_by(|a, b| a.path.cmp(&b.path));
        // the root logger's default level (INFO) caps the DEBUG handler
        assert_eq!(
            t,
            vec![
                FileTarget {
                    path: "/a".into(),
                    level: Level::INFO
                },
                FileTarget {
                    path: "/b".into(),
                    level: Level::ERROR
                },
            ]
        );
    }

    #[test]
    fn lines_reach_the_files_by_level() {
        let dir = tempfile::tempdir().unwrap();
        let task = dir.path().join("job/guest/9999/task_0");
        let party = dir.path().join("job/guest/9999");
        let layer = TaskLog::new(None, file_targets(&fate_logger_config(&task, &party)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("not written");
            tracing::info!(rows = 3, "read table");
            tracing::error!("it broke");
        });
        let info = std::fs::read_to_string(task.join("root/INFO")).unwrap();
        let error = std::fs::read_to_string(task.join("root/ERROR")).unwrap();
        let lines: Vec<&str> = info.lines().collect();
        assert_eq!(lines.len(), 2, "{info}");
        assert!(lines[0].starts_with("[INFO]["), "{info}");
        assert!(lines[0].ends_with("]: read table rows=3"), "{info}");
        assert!(
            lines[0].contains(&format!("][{}][", std::process::id())),
            "{info}"
        );
        assert!(
            lines[1].starts_with("[ERROR]") && lines[1].ends_with("]: it broke"),
            "{info}"
        );
        assert_eq!(error.lines().count(), 1);
        assert_eq!(std::fs::read_to_string(party.join("INFO")).unwrap(), info);
        assert!(!task.join("component/INFO").exists());
    }

    #[test]
    fn error_files_are_created_only_when_written() {
        let dir = tempfile::tempdir().unwrap();
        let task = dir.path().join("t");
        let layer = TaskLog::new(None, file_targets(&fate_logger_config(&task, dir.path())));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!("fine");
        });
        assert!(task.join("root/INFO").exists());
        assert!(!task.join("root/ERROR").exists());
    }
}
