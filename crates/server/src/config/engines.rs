//! The engines a site offers: `default_engines` (computing, federation, storage), Spark's
//! section `computing.spark` and where FATE's `file` storage keeps its tables.

use std::path::{Path, PathBuf};

use ferroflow_wire::service_conf::RawServiceConf;

use super::{Error, absolute};

/// The computing engines a site may name in `default_engines.computing`.
pub const COMPUTING: [&str; 3] = ["standalone", "eggroll", "spark"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engines {
    pub computing: String,
    pub federation: String,
    /// `standalone`, `eggroll`, or `file` (FATE's local file system storage, which a Spark
    /// site reads; `localfs` is read as `file`).
    pub storage: String,
}

/// `computing.spark`: how a Spark site's tasks are submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkConfig {
    /// `home`: a Spark installation (`bin/spark-submit`); `None`: the installed `pyspark`
    /// package of the task's Python, as FATE Flow does.
    pub home: Option<String>,
    /// `master` (ferroflow's key): `local[N]`, `spark://host:port`, `yarn`, `k8s://…`;
    /// default `local[*]`.
    pub master: String,
    /// `conf` (ferroflow's key): Spark settings every submit gets (`--conf k=v`) unless the
    /// job's `engine_run.conf` sets them, e.g. `spark.cores.max` and `spark.executor.memory`
    /// to share a standalone cluster between the parties' drivers.
    pub conf: serde_json::Map<String, serde_json::Value>,
}

/// Reads `default_engines` and `computing.spark`, refusing combinations no task could run
/// with (a Spark site needs a storage its executors read: `file`).
pub(super) fn from_raw(raw: &RawServiceConf) -> Result<(Engines, Option<SparkConfig>), Error> {
    let de = raw.default_engines.clone().unwrap_or_default();
    let lower = |v: Option<String>| v.unwrap_or_else(|| "standalone".into()).to_lowercase();
    let mut engines = Engines {
        computing: lower(de.computing),
        federation: lower(de.federation),
        storage: lower(de.storage),
    };
    if engines.storage == "localfs" {
        engines.storage = "file".into();
    }
    if !COMPUTING.contains(&engines.computing.as_str()) {
        return Err(Error::Invalid(format!(
            "default_engines.computing {:?} is not supported ({})",
            engines.computing,
            COMPUTING.join(", ")
        )));
    }
    if engines.computing != "spark" {
        return Ok((engines, None));
    }
    if engines.storage == "standalone" && de_storage_unset(raw) {
        // FATE's default storage is the standalone one, which Spark cannot read.
        engines.storage = "file".into();
    }
    if engines.storage != "file" {
        return Err(Error::Invalid(format!(
            "default_engines.storage {:?} cannot be read by the spark computing engine \
             (supported: file)",
            engines.storage
        )));
    }
    let section = raw.computing.as_ref().and_then(|c| c.get("spark"));
    let text = |key: &str| -> Result<Option<String>, Error> {
        match section.and_then(|s| s.get(key)) {
            None | Some(serde_yaml::Value::Null) => Ok(None),
            Some(serde_yaml::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(v) => Err(Error::Invalid(format!(
                "computing.spark.{key} must be a string, got {v:?}"
            ))),
        }
    };
    let master = text("master")?.unwrap_or_else(|| "local[*]".into());
    check_master(&master)?;
    let conf = match section.and_then(|s| s.get("conf")) {
        None | Some(serde_yaml::Value::Null) => serde_json::Map::new(),
        Some(v @ serde_yaml::Value::Mapping(_)) => serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .filter(|m| m.values().all(|v| !v.is_object() && !v.is_array()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "computing.spark.conf must map Spark settings to values, got {v:?}"
                ))
            })?,
        Some(v) => {
            return Err(Error::Invalid(format!(
                "computing.spark.conf must be a map, got {v:?}"
            )));
        }
    };
    Ok((
        engines,
        Some(SparkConfig {
            home: text("home")?,
            master,
            conf,
        }),
    ))
}

fn de_storage_unset(raw: &RawServiceConf) -> bool {
    raw.default_engines
        .as_ref()
        .is_none_or(|d| d.storage.is_none())
}

/// A master spark-submit accepts: `local`, `local[N]`, `local[*]`, `spark://host:port[,…]`,
/// `yarn`, `k8s://…`, `mesos://…`.
fn check_master(master: &str) -> Result<(), Error> {
    let local = master == "local"
        || master
            .strip_prefix("local[")
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|n| {
                n == "*"
                    || n.split(',')
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            });
    let remote = ["spark://", "k8s://", "mesos://"]
        .iter()
        .any(|p| master.strip_prefix(p).is_some_and(|r| !r.is_empty()))
        || master == "yarn";
    let clean = !master.chars().any(|c| c.is_whitespace() || c.is_control());
    if (local || remote) && clean {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "computing.spark.master {master:?} is not a Spark master (local[N], spark://host:port, \
             yarn, k8s://…)"
        )))
    }
}

/// Where FATE's `file` storage keeps its tables (FATE's `LOCALFS_DATA_HOME`):
/// `storage.file.path`, else `<data_dir>/localfs`. A Spark cluster's driver and executors must
/// all see it at this path (one machine, or a shared file system).
pub(super) fn localfs_dir(raw: &RawServiceConf, data_dir: &Path) -> PathBuf {
    raw.storage
        .as_ref()
        .and_then(|s| s.get("file"))
        .and_then(|f| f.get("path"))
        .and_then(serde_yaml::Value::as_str)
        .filter(|p| !p.is_empty())
        .map(|p| absolute(Path::new(p)))
        .unwrap_or_else(|| data_dir.join("localfs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<(Engines, Option<SparkConfig>), Error> {
        from_raw(&RawServiceConf::from_yaml(yaml).unwrap())
    }

    #[test]
    fn a_spark_site_reads_fates_keys_and_its_master() {
        let (e, s) = parse(
            "default_engines: {computing: spark, federation: rabbitmq, storage: localfs}\n\
             computing: {spark: {home: /opt/spark, cores: 8, master: 'spark://127.0.0.1:7077'}}\n",
        )
        .unwrap();
        assert_eq!(e.computing, "spark");
        assert_eq!(e.storage, "file", "localfs is FATE's other name of file");
        let s = s.unwrap();
        assert_eq!(s.home.as_deref(), Some("/opt/spark"));
        assert_eq!(s.master, "spark://127.0.0.1:7077");
        let (e, s) = parse("default_engines: {computing: spark}\n").unwrap();
        assert_eq!(
            e.storage, "file",
            "the storage Spark reads, when none is named"
        );
        assert_eq!(
            s.unwrap(),
            SparkConfig {
                home: None,
                master: "local[*]".into(),
                conf: Default::default(),
            }
        );
    }

    #[test]
    fn engines_no_task_could_run_with_are_refused_naming_the_key() {
        for (yaml, key) in [
            (
                "default_engines: {computing: spark, storage: standalone}\n",
                "default_engines.storage",
            ),
            (
                "default_engines: {computing: spark, storage: hdfs}\n",
                "default_engines.storage",
            ),
            ("default_engines: {computing: flink}\n", "computing"),
            (
                "default_engines: {computing: spark}\ncomputing: {spark: {master: 'local[x]'}}\n",
                "computing.spark.master",
            ),
            (
                "default_engines: {computing: spark}\ncomputing: {spark: {master: 'spark://h:1 --x'}}\n",
                "computing.spark.master",
            ),
            (
                "default_engines: {computing: spark}\ncomputing: {spark: {home: [1]}}\n",
                "computing.spark.home",
            ),
            (
                "default_engines: {computing: spark}\ncomputing: {spark: {conf: {a: {b: 1}}}}\n",
                "computing.spark.conf",
            ),
        ] {
            let e = parse(yaml).unwrap_err().to_string();
            assert!(e.contains(key), "{yaml}: {e}");
        }
        for ok in [
            "local",
            "local[2]",
            "local[*]",
            "yarn",
            "k8s://https://k:6443",
        ] {
            check_master(ok).unwrap();
        }
    }
}
