//! `/v2/model/*` and `/v2/log/*` parameters (`api.md` §10.4, §10.5).

use crate::params::{FromParams, Invalid, Params};

/// `POST /v2/model/export`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelExport {
    pub model_id: String,
    pub model_version: String,
    pub party_id: String,
    pub role: String,
    pub path: String,
}

impl FromParams for ModelExport {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            model_id: j.str("model_id")?,
            model_version: j.str("model_version")?,
            party_id: j.str("party_id")?,
            role: j.str("role")?,
            path: j.str("path")?,
        })
    }
}

/// `POST /v2/model/import`: form fields; the zip is the `file` part.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelImport {
    pub model_id: String,
    pub model_version: String,
}

impl FromParams for ModelImport {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let f = p.form();
        Ok(Self {
            model_id: f.str("model_id")?,
            model_version: f.str("model_version")?,
        })
    }
}

/// `POST /v2/model/delete`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDelete {
    pub model_id: String,
    pub model_version: String,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub task_name: Option<String>,
    pub output_key: Option<String>,
}

impl FromParams for ModelDelete {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            model_id: j.str("model_id")?,
            model_version: j.str("model_version")?,
            role: j.opt_str("role")?,
            party_id: j.opt_str("party_id")?,
            task_name: j.opt_str("task_name")?,
            output_key: j.opt_str("output_key")?,
        })
    }
}

/// `GET /v2/log/count`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogCount {
    pub log_type: String,
    pub job_id: String,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub task_name: Option<String>,
    pub instance_id: Option<String>,
}

impl FromParams for LogCount {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            log_type: q.str("log_type")?,
            job_id: q.str("job_id")?,
            role: q.opt_str("role")?,
            party_id: q.opt_str("party_id")?,
            task_name: q.opt_str("task_name")?,
            instance_id: q.opt_str("instance_id")?,
        })
    }
}

/// `GET /v2/log/query`: lines `begin..=end`, 1-based.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    pub log_type: String,
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_name: Option<String>,
    pub begin: Option<i64>,
    pub end: Option<i64>,
    pub instance_id: Option<String>,
}

impl FromParams for LogQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            log_type: q.str("log_type")?,
            job_id: q.str("job_id")?,
            role: q.str("role")?,
            party_id: q.str("party_id")?,
            task_name: q.opt_str("task_name")?,
            begin: q.opt_int("begin")?,
            end: q.opt_int("end")?,
            instance_id: q.opt_str("instance_id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_query_from_the_trace() {
        // logs.jsonl
        let p = Params::from_query(&[
            ("log_type", "task_info"),
            ("job_id", "1"),
            ("role", "guest"),
            ("party_id", "9999"),
            ("task_name", "lr_0"),
        ]);
        let q = LogQuery::from_params(&p).unwrap();
        assert_eq!(q.task_name.as_deref(), Some("lr_0"));
        assert_eq!(q.begin, None);
        let p = Params::from_query(&[("log_type", "schedule_info"), ("job_id", "1")]);
        assert_eq!(LogQuery::from_params(&p).unwrap_err().field, "role");
        assert!(LogCount::from_params(&p).is_ok());
    }
}
