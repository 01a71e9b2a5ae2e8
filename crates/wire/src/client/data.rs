//! `/v2/data/*` and `/v2/table/*` parameters (`api.md` §10.2, §10.11).

use serde_json::{Map, Value};

use crate::params::{FromParams, Invalid, Location, Params};

/// `POST /v2/data/component/upload`: a file already on the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub file: String,
    pub head: bool,
    pub partitions: i64,
    pub meta: Map<String, Value>,
    pub extend_sid: bool,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl FromParams for Upload {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            file: j.str("file")?,
            head: j.bool("head")?,
            partitions: j.int("partitions")?,
            meta: j.object("meta")?,
            extend_sid: j.opt_bool("extend_sid")?.unwrap_or(false),
            namespace: j.opt_str("namespace")?,
            name: j.opt_str("name")?,
        })
    }
}

/// `POST /v2/data/component/upload/file`: multipart form fields (the file is the `file` part).
/// `meta` is JSON text; it is parsed by the handler (FATE answers 6000 when it is not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct UploadFile {
    pub head: bool,
    pub partitions: i64,
    pub meta: String,
    pub extend_sid: bool,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl FromParams for UploadFile {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let f = p.form();
        Ok(Self {
            head: f.bool("head")?,
            partitions: f.int("partitions")?,
            meta: f.str("meta")?,
            extend_sid: f.opt_bool("extend_sid")?.unwrap_or(false),
            namespace: f.opt_str("namespace")?,
            name: f.opt_str("name")?,
        })
    }
}

impl UploadFile {
    /// The `meta` text as an object: `Err` names what is wrong with it.
    pub fn meta_object(&self) -> Result<Map<String, Value>, Invalid> {
        match serde_json::from_str::<Value>(&self.meta) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(Invalid::new(
                Location::Form,
                "meta",
                "Not a valid mapping type.",
            )),
            Err(e) => Err(Invalid::new(
                Location::Form,
                "meta",
                &format!("Not valid JSON: {e}"),
            )),
        }
    }
}

/// `POST /v2/data/component/download`. `path` is declared optional upstream but the handler
/// needs it; the controller refuses its absence.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentDownload {
    pub name: String,
    pub namespace: String,
    pub path: Option<String>,
}

impl FromParams for ComponentDownload {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            name: j.str("name")?,
            namespace: j.str("namespace")?,
            path: j.opt_str("path")?,
        })
    }
}

/// `POST /v2/data/component/dataframe/transformer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformer {
    pub data_warehouse: Map<String, Value>,
    pub namespace: String,
    pub name: String,
    pub site_name: Option<String>,
    pub drop: bool,
}

impl FromParams for Transformer {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            data_warehouse: j.object("data_warehouse")?,
            namespace: j.str("namespace")?,
            name: j.str("name")?,
            site_name: j.opt_str("site_name")?,
            drop: j.opt_bool("drop")?.unwrap_or(true),
        })
    }
}

/// `GET /v2/data/download`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataDownload {
    pub name: String,
    pub namespace: String,
    pub header: Option<String>,
}

impl FromParams for DataDownload {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            name: q.str("name")?,
            namespace: q.str("namespace")?,
            header: q.opt_str("header")?,
        })
    }
}

/// `GET /v2/table/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableQuery {
    pub namespace: String,
    pub name: String,
    pub display: bool,
}

impl FromParams for TableQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            namespace: q.str("namespace")?,
            name: q.str("name")?,
            display: q.opt_bool("display")?.unwrap_or(false),
        })
    }
}

/// `POST /v2/table/delete`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDelete {
    pub namespace: String,
    pub name: String,
}

impl FromParams for TableDelete {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            namespace: j.str("namespace")?,
            name: j.str("name")?,
        })
    }
}

/// `POST /v2/table/bind/path`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableBindPath {
    pub namespace: String,
    pub name: String,
    pub path: String,
}

impl FromParams for TableBindPath {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            namespace: j.str("namespace")?,
            name: j.str("name")?,
            path: j.str("path")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upload_as_fate_client_sends_it() {
        // upload.jsonl
        let p = Params::from_json(json!({"file": "/d/g.csv", "head": true, "partitions": 16,
            "meta": {"delimiter": ",", "label_name": "y", "match_id_name": "id"},
            "namespace": "experiment", "name": "g", "extend_sid": true}));
        let u = Upload::from_params(&p).unwrap();
        assert!(u.head && u.extend_sid);
        assert_eq!(u.partitions, 16);
        assert_eq!(u.meta["label_name"], "y");
        let missing = Upload::from_params(&Params::from_json(json!({"file": "x"}))).unwrap_err();
        assert_eq!(missing.field, "head");
    }

    #[test]
    fn upload_file_meta_is_json_text() {
        let p = Params {
            form: vec![
                ("head".into(), "True".into()),
                ("partitions".into(), "4".into()),
                ("meta".into(), "{\"delimiter\": \",\"}".into()),
            ],
            ..Default::default()
        };
        let u = UploadFile::from_params(&p).unwrap();
        assert_eq!(u.meta_object().unwrap()["delimiter"], ",");
        let bad = UploadFile {
            meta: "{".into(),
            ..u
        };
        assert_eq!(bad.meta_object().unwrap_err().field, "meta");
    }

    #[test]
    fn transformer_drop_defaults_to_true() {
        let p = Params::from_json(
            json!({"data_warehouse": {"namespace": "a", "name": "b"}, "namespace": "c", "name": "d"}),
        );
        assert!(Transformer::from_params(&p).unwrap().drop);
    }
}
