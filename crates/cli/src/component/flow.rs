//! The built-in `fate_flow` provider's components, which the data APIs run as local jobs
//! (`execution.md` §6): `upload` (a delimited text file → a native table), `download` (a
//! table → `<path>/data/0.csv` + `0.meta`) and `dataframe_transformer` (a table copied under a
//! new namespace/name).
//!
//! A native table is a CSV file `<data_dir>/<namespace>/<name>.csv`: header first, the id
//! column first, `,` between cells — what the demo components read. Files are streamed line by
//! line (memory does not grow with the file), written aside and renamed into place only when
//! every line was good, so a failed upload leaves nothing behind.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use ferroflow_core::upload::{self, Layout, Problem};
use ferroflow_wire::worker::{DataTrackingQuery, DataTrackingSave, MetricItem};

use super::Error;
use super::task::{Task, uri_path};

pub const UPLOAD: &str = "upload";
pub const DOWNLOAD: &str = "download";
pub const TRANSFORMER: &str = "dataframe_transformer";

/// The components of the `fate_flow` provider.
pub const COMPONENTS: &[&str] = &[UPLOAD, DOWNLOAD, TRANSFORMER];

/// Rows kept in a table's meta as its sample (FATE's `part_of_data`).
const SAMPLES: usize = 100;

fn data_err(reason: impl std::fmt::Display) -> Error {
    Error::Data {
        reason: reason.to_string(),
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The table file of `namespace`/`name` in the data directory.
fn table_path(task: &Task, namespace: &str, name: &str) -> Result<PathBuf, Error> {
    for (field, v) in [("namespace", namespace), ("name", name)] {
        if v.is_empty() || v == "." || v == ".." || v.contains(['/', '\\']) {
            return Err(Error::Param {
                name: field.into(),
                reason: format!("{v:?} is not a plain name"),
            });
        }
    }
    Ok(task.data_dir()?.join(namespace).join(format!("{name}.csv")))
}

/// What an upload produced.
#[derive(Debug)]
struct Written {
    header: Vec<String>,
    count: u64,
    samples: Vec<Vec<String>>,
}

struct UploadSpec {
    file: PathBuf,
    head: bool,
    delimiter: String,
    extend_sid: bool,
    meta: Map<String, Value>,
    target: PathBuf,
}

/// Converts the file line by line into `partial`; the caller renames it into place.
fn convert(spec: &UploadSpec, partial: &Path) -> Result<Written, Error> {
    let f = std::fs::File::open(&spec.file).map_err(io_err("open", &spec.file))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let out = std::fs::File::create(partial).map_err(io_err("create", partial))?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut line_no: u64 = 0;
    let problem = |p: Problem| data_err(format!("{}: {p}", spec.file.display()));
    let mut read = |buf: &mut Vec<u8>, line_no: &mut u64| -> Result<bool, Error> {
        buf.clear();
        let n = r
            .read_until(b'\n', buf)
            .map_err(io_err("read", &spec.file))?;
        *line_no += 1;
        Ok(n > 0)
    };
    if !read(&mut buf, &mut line_no)? {
        return Err(problem(Problem::Empty));
    }
    let sample_id = spec.meta.get("sample_id_name").and_then(Value::as_str);
    let match_id = spec.meta.get("match_id_name").and_then(Value::as_str);
    let first = std::str::from_utf8(&buf).map_err(|_| problem(Problem::NotUtf8 { line: 1 }))?;
    let (columns, first_is_data) = if spec.head {
        (
            upload::header(first, &spec.delimiter).map_err(problem)?,
            false,
        )
    } else {
        let n = upload::split(upload::trim_line_end(first), &spec.delimiter).len();
        let given = spec.meta.get("header").and_then(|h| match h {
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>(),
            ),
            Value::String(s) if !s.is_empty() => Some(
                s.split(spec.delimiter.as_str())
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        });
        (
            given.unwrap_or_else(|| upload::generated_columns(n, spec.extend_sid)),
            true,
        )
    };
    let layout = Layout::new(columns, spec.extend_sid, sample_id, match_id).map_err(problem)?;
    let header = layout.table_header();
    let mut text = String::with_capacity(4096);
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        upload::push_cell(&mut text, h);
    }
    text.push('\n');
    w.write_all(text.as_bytes())
        .map_err(io_err("write", partial))?;
    let identity = layout.is_identity(&spec.delimiter);
    let sid_prefix = uuid::Uuid::new_v4().simple().to_string();
    let mut count: u64 = 0;
    let mut samples = Vec::new();
    let mut pending_first = first_is_data;
    loop {
        if pending_first {
            pending_first = false;
        } else if !read(&mut buf, &mut line_no)? {
            break;
        }
        let line =
            std::str::from_utf8(&buf).map_err(|_| problem(Problem::NotUtf8 { line: line_no }))?;
        let line = upload::trim_line_end(line);
        if line.is_empty() {
            continue;
        }
        text.clear();
        let sid = spec.extend_sid.then(|| format!("{sid_prefix}{count}"));
        if identity {
            let got = line.matches(',').count() + 1;
            if got != layout.columns.len() {
                return Err(problem(Problem::Ragged {
                    line: line_no,
                    got,
                    want: layout.columns.len(),
                }));
            }
            text.push_str(line);
            text.push('\n');
        } else {
            layout
                .write_row(line, line_no, &spec.delimiter, sid.as_deref(), &mut text)
                .map_err(problem)?;
        }
        w.write_all(text.as_bytes())
            .map_err(io_err("write", partial))?;
        if samples.len() < SAMPLES {
            samples.push(
                upload::trim_line_end(&text)
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            );
        }
        count += 1;
    }
    w.flush().map_err(io_err("write", partial))?;
    w.into_inner()
        .map_err(|e| Error::Io {
            action: "write",
            path: partial.to_path_buf(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io_err("sync", partial))?;
    Ok(Written {
        header,
        count,
        samples,
    })
}

/// A file beside `target` that becomes it by rename.
fn partial_of(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()))
}

/// Runs `convert` aside and renames the result into place; nothing stays on failure.
fn write_table(spec: &UploadSpec) -> Result<Written, Error> {
    let dir = spec.target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let partial = partial_of(&spec.target);
    match convert(spec, &partial) {
        Ok(w) => {
            std::fs::rename(&partial, &spec.target).map_err(io_err("rename", &spec.target))?;
            Ok(w)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// A native table to record with the site.
struct Table<'a> {
    namespace: &'a str,
    name: &'a str,
    path: &'a Path,
    meta: Map<String, Value>,
    count: u64,
    samples: Vec<Vec<String>>,
}

/// Records a native table with the site (which registers its meta).
async fn record_table(task: &Task, output_key: &str, t: Table<'_>) -> Result<(), Error> {
    let save = DataTrackingSave {
        execution_id: task.execution_id().to_string(),
        meta_data: t.meta,
        uri: format!("file://{}", t.path.display()),
        output_key: output_key.to_string(),
        namespace: t.namespace.to_string(),
        name: t.name.to_string(),
        overview: json!({"count": t.count, "samples": t.samples})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        partitions: Some(1),
        source: task.source(output_key),
        data_type: "dataframe".into(),
        index: 0,
    };
    task.client.save_tracking(&save).await?;
    Ok(())
}

/// `upload`: parameters `file`, `head`, `meta` (`delimiter`, `sample_id_name`,
/// `match_id_name`, `header`, …), `extend_sid`, `is_temp_file`, `namespace`, `name`.
pub async fn upload_run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let file = p.string("file")?.ok_or_else(|| Error::Param {
        name: "file".into(),
        reason: "required".into(),
    })?;
    let file = task.file_param("file", &file)?.display().to_string();
    let head = p.bool("head", true)?;
    let extend_sid = p.bool("extend_sid", false)?;
    let is_temp = p.bool("is_temp_file", false)?;
    let meta = p.object("meta")?;
    let namespace = p.string("namespace")?.unwrap_or_else(|| "upload".into());
    let name = p
        .string("name")?
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let storage = p.string("storage_engine")?;
    if let Some(format) = match storage.as_deref() {
        Some(STANDALONE) => Some(Format::Standalone),
        Some(LOCALFS) => Some(Format::Localfs),
        _ => None,
    } {
        let partitions = p.u64("partitions", 16)?.max(1);
        return upload_standalone(
            task,
            StandaloneUpload {
                file: &file,
                head,
                extend_sid,
                meta: &meta,
                namespace: &namespace,
                name: &name,
                partitions,
                format,
            },
        )
        .await
        .map(|()| {
            if is_temp && let Err(e) = std::fs::remove_file(&file) {
                tracing::warn!(file = %file, error = %e, "cannot delete the uploaded temporary file");
            }
        });
    }
    let delimiter = meta
        .get("delimiter")
        .and_then(Value::as_str)
        .unwrap_or(",")
        .to_string();
    let target = table_path(task, &namespace, &name)?;
    let spec = UploadSpec {
        file: PathBuf::from(&file),
        head,
        delimiter,
        extend_sid,
        meta: meta.clone(),
        target: target.clone(),
    };
    tracing::info!(file = %file, namespace = %namespace, name = %name, "upload start");
    let start = std::time::Instant::now();
    let written = tokio::task::spawn_blocking(move || write_table(&spec))
        .await
        .map_err(|e| data_err(format!("upload worker: {e}")))??;
    let bytes = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    let secs = start.elapsed().as_secs_f64();
    tracing::info!(
        rows = written.count,
        bytes,
        seconds = secs,
        mb_per_s = bytes as f64 / 1e6 / secs.max(1e-9),
        peak_rss_kb = peak_rss_kb().unwrap_or(0),
        "upload written"
    );
    let mut table_meta = meta;
    table_meta.insert("header".into(), json!(written.header));
    table_meta.insert("id_column".into(), json!(written.header[0]));
    table_meta.insert("sample_id_name".into(), json!(written.header[0]));
    table_meta.insert("delimiter".into(), json!(","));
    record_table(
        task,
        "table",
        Table {
            namespace: &namespace,
            name: &name,
            path: &target,
            meta: table_meta,
            count: written.count,
            samples: written.samples,
        },
    )
    .await?;
    task.post_metric(&MetricItem {
        name: "upload".into(),
        kind: None,
        groups: Vec::new(),
        step_axis: None,
        data: json!({"name": name, "namespace": namespace, "count": written.count}),
    })
    .await?;
    if is_temp && let Err(e) = std::fs::remove_file(&file) {
        tracing::warn!(file = %file, error = %e, "cannot delete the uploaded temporary file");
    }
    Ok(())
}

/// FATE's storage engine name for its standalone tables.
pub const STANDALONE: &str = "standalone";
/// FATE's storage engine name for its `file` tables (what Spark reads), as `upload` takes it.
pub const LOCALFS: &str = "localfs";

use ferroflow_server::fate_storage::Format;

/// The Python with pyfate's libraries (the site passes the `fate` provider's as `EXECUTOR_ENV`).
fn fate_python() -> Result<PathBuf, Error> {
    ["EXECUTOR_ENV", "FATE_PYTHON"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .ok_or_else(|| {
            data_err(
                "no Python for FATE's standalone storage: register a local `fate` provider \
                 with metadata.venv (a Python with pyfate 2.2)",
            )
        })
}

struct StandaloneUpload<'a> {
    file: &'a str,
    head: bool,
    extend_sid: bool,
    meta: &'a Map<String, Value>,
    namespace: &'a str,
    name: &'a str,
    partitions: u64,
    format: Format,
}

/// `upload` into FATE's standalone storage: a key/value `table` (`execution.md` §6.1) written
/// by the storage helper with the `fate` provider's Python, recorded with what FATE Flow's
/// upload stores in its table meta (the upload's meta with `header` and `sample_id_name`, the
/// count, the first rows, `data_type: table`).
async fn upload_standalone(task: &Task, u: StandaloneUpload<'_>) -> Result<(), Error> {
    use ferroflow_server::fate_storage;
    let python = fate_python()?;
    let (data_dir, format) = match u.format {
        Format::Standalone => (task.data_dir()?, "standalone"),
        Format::Localfs => (task.localfs_dir()?, "localfs"),
    };
    let mut args = vec![
        "--format".to_string(),
        format.into(),
        "--data-dir".to_string(),
        data_dir.display().to_string(),
        "--namespace".into(),
        u.namespace.into(),
        "--name".into(),
        u.name.into(),
        "--file".into(),
        u.file.into(),
        "--partitions".into(),
        u.partitions.to_string(),
        "--meta".into(),
        Value::Object(u.meta.clone()).to_string(),
    ];
    if u.head {
        args.push("--head".into());
    }
    if u.extend_sid {
        args.push("--extend-sid".into());
    }
    tracing::info!(file = %u.file, namespace = %u.namespace, name = %u.name, python = %python.display(), storage = format, "upload into FATE storage");
    let start = std::time::Instant::now();
    let r = fate_storage::run(&python, "upload", &args)
        .await
        .map_err(|e| data_err(super::error_chain(&e)))?;
    let count = r.get("count").and_then(Value::as_u64).unwrap_or(0);
    tracing::info!(
        rows = count,
        seconds = start.elapsed().as_secs_f64(),
        "upload written"
    );
    let samples = r.get("part_of_data").cloned().unwrap_or_else(|| json!([]));
    let save = DataTrackingSave {
        execution_id: task.execution_id().to_string(),
        meta_data: r
            .get("data_meta")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        // FATE's address of an uploaded standalone table: the data home's absolute path after
        // `standalone:///`; of a `file` table, its directory.
        uri: match u.format {
            Format::Standalone => format!(
                "standalone:///{}/{}/{}",
                data_dir.display(),
                u.namespace,
                u.name
            ),
            Format::Localfs => {
                format!("file://{}/{}/{}", data_dir.display(), u.namespace, u.name)
            }
        },
        output_key: "table".into(),
        namespace: u.namespace.into(),
        name: u.name.into(),
        overview: json!({"count": count, "samples": samples})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        partitions: Some(u.partitions as i64),
        source: json!({"task_id": "", "party_task_id": "", "task_name": "upload",
                       "component": "upload", "output_artifact_key": "data", "output_index": null})
        .as_object()
        .cloned()
        .unwrap_or_default(),
        data_type: "table".into(),
        index: 0,
    };
    task.client.save_tracking(&save).await?;
    task.client
        .save_metrics(
            task.execution_id(),
            &[
                json!({"name": "upload", "type": null, "groups": [], "step_axis": null,
                     "data": {"name": u.name, "namespace": u.namespace, "count": count}}),
            ],
        )
        .await?;
    Ok(())
}

/// This process's peak resident memory (`VmHWM`), in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Copies a file aside and renames it into place.
fn copy_into(src: &Path, target: &Path) -> Result<(), Error> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let partial = partial_of(target);
    if let Err(e) = std::fs::copy(src, &partial) {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Io {
            action: "copy",
            path: src.to_path_buf(),
            source: e,
        });
    }
    std::fs::rename(&partial, target).map_err(io_err("rename", target))
}

/// The header and first rows of a table file.
fn head_of(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), Error> {
    let f = std::fs::File::open(path).map_err(io_err("open", path))?;
    let mut lines = BufReader::new(f).lines();
    let header = match lines.next() {
        Some(l) => l
            .map_err(io_err("read", path))?
            .trim_end_matches('\r')
            .split(',')
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let mut samples = Vec::new();
    for l in lines.take(SAMPLES) {
        let l = l.map_err(io_err("read", path))?;
        samples.push(
            l.trim_end_matches('\r')
                .split(',')
                .map(str::to_string)
                .collect(),
        );
    }
    Ok((header, samples))
}

/// `download`: parameters `namespace`, `name`, `path` (a directory the site confined).
pub async fn download_run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let need = |v: Option<String>, n: &str| {
        v.ok_or_else(|| Error::Param {
            name: n.into(),
            reason: "required".into(),
        })
    };
    let namespace = need(p.string("namespace")?, "namespace")?;
    let name = need(p.string("name")?, "name")?;
    let dir = task.file_param("path", &need(p.string("path")?, "path")?)?;
    let found = task
        .client
        .query_tracking(&DataTrackingQuery {
            namespace: Some(namespace.clone()),
            name: Some(name.clone()),
            ..Default::default()
        })
        .await?;
    let info = found
        .first()
        .ok_or_else(|| data_err(format!("the site knows no table {namespace}.{name}")))?;
    let csv = dir.join("data").join("0.csv");
    let header = match ferroflow_server::fate_storage::Location::from_uri(&info.path) {
        Some(at) => {
            let delimiter = info
                .meta
                .get("delimiter")
                .and_then(Value::as_str)
                .unwrap_or(",")
                .to_string();
            let header = ferroflow_server::fate_storage::header(&info.meta, &delimiter);
            ferroflow_server::fate_storage::export(
                &fate_python()?,
                &at,
                &csv,
                &delimiter,
                Some(&header.join(&delimiter)),
            )
            .await
            .map_err(|e| data_err(super::error_chain(&e)))?;
            header
        }
        None => {
            let src = uri_path(&info.path)?;
            copy_into(&src, &csv)?;
            head_of(&src)?.0
        }
    };
    let meta = dir.join("data").join("0.meta");
    std::fs::write(&meta, json!({ "header": header }).to_string())
        .map_err(io_err("write", &meta))?;
    task.client
        .save_tracking(&DataTrackingSave {
            execution_id: task.execution_id().to_string(),
            meta_data: Map::new(),
            uri: String::new(),
            output_key: "output_data".into(),
            namespace: namespace.clone(),
            name: name.clone(),
            overview: Map::new(),
            partitions: Some(1),
            source: task.source("output_data"),
            data_type: "dataframe".into(),
            index: 0,
        })
        .await?;
    tracing::info!(namespace = %namespace, name = %name, path = %csv.display(), "table downloaded");
    Ok(())
}

/// `dataframe_transformer` (native): input `table`; parameters `namespace`, `name`
/// (`site_name` is accepted and unused). Output `dataframe_output`.
pub async fn transformer_run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let tables = task.data_input("table", false).await?.unwrap_or_default();
    let info = tables
        .first()
        .ok_or_else(|| data_err("input `table`: no table"))?;
    let src = uri_path(&info.path)?;
    let namespace = p
        .string("namespace")?
        .unwrap_or_else(|| task.config.task_id.clone());
    let name = p
        .string("name")?
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let target = table_path(task, &namespace, &name)?;
    if src != target {
        copy_into(&src, &target)?;
    }
    let (header, samples) = head_of(&target)?;
    let mut meta = info.meta.as_object().cloned().unwrap_or_default();
    meta.insert("header".into(), json!(header));
    meta.insert("delimiter".into(), json!(","));
    let count = info.count.unwrap_or(0).max(0) as u64;
    record_table(
        task,
        "dataframe_output",
        Table {
            namespace: &namespace,
            name: &name,
            path: &target,
            meta,
            count,
            samples,
        },
    )
    .await?;
    tracing::info!(namespace = %namespace, name = %name, "table transformed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        dir: &Path,
        text: &str,
        head: bool,
        delimiter: &str,
        extend_sid: bool,
        meta: Value,
    ) -> UploadSpec {
        let file = dir.join("in.csv");
        std::fs::write(&file, text).unwrap();
        UploadSpec {
            file,
            head,
            delimiter: delimiter.into(),
            extend_sid,
            meta: meta.as_object().cloned().unwrap_or_default(),
            target: dir.join("ns").join("t.csv"),
        }
    }

    #[test]
    fn converts_and_moves_the_id_first() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(
            d.path(),
            "y;id;x\r\n1;a;0.5\n\n0;b;1\n",
            true,
            ";",
            false,
            json!({"match_id_name": "id"}),
        );
        let w = write_table(&s).unwrap();
        assert_eq!(w.header, ["id", "y", "x"]);
        assert_eq!(w.count, 2);
        assert_eq!(
            std::fs::read_to_string(&s.target).unwrap(),
            "id,y,x\na,1,0.5\nb,0,1\n"
        );
        assert_eq!(w.samples[1], ["b", "0", "1"]);
    }

    #[test]
    fn identity_copy_and_generated_ids() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(d.path(), "id,x\n1,2\n", true, ",", false, json!({}));
        write_table(&s).unwrap();
        assert_eq!(std::fs::read_to_string(&s.target).unwrap(), "id,x\n1,2\n");
        let s = spec(d.path(), "1,2\n3,4", false, ",", true, json!({}));
        let w = write_table(&s).unwrap();
        assert_eq!(w.header, ["extend_sid", "x0", "x1"]);
        assert_eq!(w.count, 2);
        assert!(w.samples[1][0].ends_with('1'));
    }

    #[test]
    fn bad_files_leave_nothing_behind() {
        let d = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("", "the file is empty"),
            ("id,x\n1,2\n3\n", "line 3 has 1 fields, the header has 2"),
            ("id;x\n1;2\n", "seems to use"),
            ("\n1,2\n", "no header"),
        ] {
            let s = spec(d.path(), text, true, ",", false, json!({}));
            let e = super::super::error_chain(&write_table(&s).unwrap_err());
            assert!(e.contains(want), "{text:?}: {e}");
            let left: Vec<_> = std::fs::read_dir(d.path().join("ns"))
                .map(|r| r.collect::<Vec<_>>())
                .unwrap_or_default();
            assert!(left.is_empty(), "{text:?} left {left:?}");
        }
    }
}
