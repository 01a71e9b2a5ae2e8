//! Request parameters as FATE Flow reads them (`api.md` §2): each parameter comes from one
//! location (JSON body, query string, form, headers), is coerced the way marshmallow 3 does,
//! and the first invalid one is reported as `5001 Invalid request.` with a
//! `{location: {field: [messages]}}` map.
//!
//! Handlers declare their fields in order, so "first failing parameter" falls out of `?`.

use serde_json::{Map, Value, json};

use crate::code::RetCode;
use crate::envelope::Envelope;

pub const MISSING: &str = "Missing data for required field.";
pub const NULL: &str = "Field may not be null.";
pub const NOT_STRING: &str = "Not a valid string.";
pub const NOT_INTEGER: &str = "Not a valid integer.";
pub const NOT_NUMBER: &str = "Not a valid number.";
pub const NOT_BOOLEAN: &str = "Not a valid boolean.";
pub const NOT_MAPPING: &str = "Not a valid mapping type.";
pub const NOT_LIST: &str = "Not a valid list.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Json,
    Query,
    Form,
    Headers,
    Files,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Json => "json",
            Location::Query => "querystring",
            Location::Form => "form",
            Location::Headers => "headers",
            Location::Files => "files",
        }
    }
}

/// One invalid parameter: where, which, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub location: Location,
    pub field: String,
    pub messages: Vec<String>,
}

impl Invalid {
    pub fn new(location: Location, field: &str, message: &str) -> Self {
        Self {
            location,
            field: field.to_string(),
            messages: vec![message.to_string()],
        }
    }

    pub fn to_envelope(&self) -> Envelope {
        Envelope::with_code(RetCode::InvalidParameter, "Invalid request.")
            .with_data(json!({ self.location.as_str(): { &self.field: self.messages } }))
    }
}

impl std::error::Error for Invalid {}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}: {}",
            self.location.as_str(),
            self.field,
            self.messages.join(" ")
        )
    }
}

/// Everything a request carries, already split by location. The JSON body is only present
/// when the request had a JSON content type (FATE ignores it otherwise).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub json: Map<String, Value>,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    /// Header names lower-cased, `_` written as `-` (Werkzeug matches them alike).
    pub headers: Vec<(String, String)>,
    /// Names of multipart file parts.
    pub files: Vec<String>,
}

impl Params {
    pub fn from_json(json: Value) -> Self {
        let json = match json {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Self {
            json,
            ..Default::default()
        }
    }

    pub fn from_query(query: &[(&str, &str)]) -> Self {
        Self {
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    pub fn json(&self) -> Fields<'_> {
        Fields {
            loc: Location::Json,
            params: self,
        }
    }

    pub fn query(&self) -> Fields<'_> {
        Fields {
            loc: Location::Query,
            params: self,
        }
    }

    pub fn form(&self) -> Fields<'_> {
        Fields {
            loc: Location::Form,
            params: self,
        }
    }

    /// A header by name, matched case-insensitively with `-` and `_` alike.
    pub fn header(&self, name: &str) -> Option<&str> {
        let want = normalize_header(name);
        self.headers
            .iter()
            .find(|(k, _)| *k == want)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_file(&self, name: &str) -> bool {
        self.files.iter().any(|f| f == name)
    }
}

pub fn normalize_header(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The fields of one location.
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    loc: Location,
    params: &'a Params,
}

/// A raw value before coercion: JSON values keep their type, query and form values are text.
enum Raw<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl<'a> Fields<'a> {
    fn raw(&self, name: &str) -> Option<Raw<'a>> {
        match self.loc {
            Location::Json => self.params.json.get(name).map(Raw::Json),
            Location::Query => last(&self.params.query, name).map(Raw::Text),
            Location::Form => last(&self.params.form, name).map(Raw::Text),
            Location::Headers => self.params.header(name).map(Raw::Text),
            Location::Files => None,
        }
    }

    fn invalid(&self, name: &str, msg: &str) -> Invalid {
        Invalid::new(self.loc, name, msg)
    }

    /// Present and not null; `None` for absent (and, being lenient, for explicit null).
    fn present(&self, name: &str) -> Option<Raw<'a>> {
        match self.raw(name) {
            Some(Raw::Json(Value::Null)) | None => None,
            r => r,
        }
    }

    fn required(&self, name: &str) -> Result<Raw<'a>, Invalid> {
        match self.raw(name) {
            None => Err(self.invalid(name, MISSING)),
            Some(Raw::Json(Value::Null)) => Err(self.invalid(name, NULL)),
            Some(r) => Ok(r),
        }
    }

    pub fn str(&self, name: &str) -> Result<String, Invalid> {
        let raw = self.required(name)?;
        self.coerce_str(name, raw)
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<String>, Invalid> {
        self.present(name)
            .map(|r| self.coerce_str(name, r))
            .transpose()
    }

    fn coerce_str(&self, name: &str, raw: Raw<'_>) -> Result<String, Invalid> {
        match raw {
            Raw::Text(s) => Ok(s.to_string()),
            Raw::Json(Value::String(s)) => Ok(s.clone()),
            Raw::Json(_) => Err(self.invalid(name, NOT_STRING)),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64, Invalid> {
        let raw = self.required(name)?;
        self.coerce_int(name, raw)
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, Invalid> {
        self.present(name)
            .map(|r| self.coerce_int(name, r))
            .transpose()
    }

    fn coerce_int(&self, name: &str, raw: Raw<'_>) -> Result<i64, Invalid> {
        let bad = || self.invalid(name, NOT_INTEGER);
        match raw {
            Raw::Text(s) => s.trim().parse::<i64>().map_err(|_| bad()),
            Raw::Json(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                })
                .ok_or_else(bad),
            Raw::Json(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| bad()),
            Raw::Json(_) => Err(bad()),
        }
    }

    pub fn float(&self, name: &str) -> Result<f64, Invalid> {
        let raw = self.required(name)?;
        self.coerce_float(name, raw)
    }

    pub fn opt_float(&self, name: &str) -> Result<Option<f64>, Invalid> {
        self.present(name)
            .map(|r| self.coerce_float(name, r))
            .transpose()
    }

    fn coerce_float(&self, name: &str, raw: Raw<'_>) -> Result<f64, Invalid> {
        let bad = || self.invalid(name, NOT_NUMBER);
        match raw {
            Raw::Text(s) => s.trim().parse::<f64>().map_err(|_| bad()),
            Raw::Json(Value::Number(n)) => n.as_f64().ok_or_else(bad),
            Raw::Json(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad()),
            Raw::Json(_) => Err(bad()),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, Invalid> {
        let raw = self.required(name)?;
        self.coerce_bool(name, raw)
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, Invalid> {
        self.present(name)
            .map(|r| self.coerce_bool(name, r))
            .transpose()
    }

    fn coerce_bool(&self, name: &str, raw: Raw<'_>) -> Result<bool, Invalid> {
        let bad = || self.invalid(name, NOT_BOOLEAN);
        match raw {
            Raw::Text(s) => parse_bool(s).ok_or_else(bad),
            Raw::Json(Value::Bool(b)) => Ok(*b),
            Raw::Json(Value::String(s)) => parse_bool(s).ok_or_else(bad),
            Raw::Json(Value::Number(n)) => match n.as_i64() {
                Some(1) => Ok(true),
                Some(0) => Ok(false),
                _ => Err(bad()),
            },
            Raw::Json(_) => Err(bad()),
        }
    }

    /// A JSON object. Query and form values are text and can never be one (FATE quirk).
    pub fn object(&self, name: &str) -> Result<Map<String, Value>, Invalid> {
        let raw = self.required(name)?;
        self.coerce_object(name, raw)
    }

    pub fn opt_object(&self, name: &str) -> Result<Option<Map<String, Value>>, Invalid> {
        self.present(name)
            .map(|r| self.coerce_object(name, r))
            .transpose()
    }

    fn coerce_object(&self, name: &str, raw: Raw<'_>) -> Result<Map<String, Value>, Invalid> {
        match raw {
            Raw::Json(Value::Object(m)) => Ok(m.clone()),
            _ => Err(self.invalid(name, NOT_MAPPING)),
        }
    }

    /// Any JSON value, unchecked.
    pub fn opt_value(&self, name: &str) -> Option<Value> {
        match self.present(name)? {
            Raw::Json(v) => Some(v.clone()),
            Raw::Text(s) => Some(Value::String(s.to_string())),
        }
    }

    /// A list of strings: a JSON array, or every occurrence of a repeated query/form key.
    pub fn opt_str_list(&self, name: &str) -> Result<Option<Vec<String>>, Invalid> {
        match self.loc {
            Location::Query | Location::Form => {
                let src = if self.loc == Location::Query {
                    &self.params.query
                } else {
                    &self.params.form
                };
                let all: Vec<String> = src
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect();
                Ok(if all.is_empty() { None } else { Some(all) })
            }
            _ => match self.present(name) {
                None => Ok(None),
                Some(Raw::Json(Value::Array(items))) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(self.invalid(name, NOT_STRING)),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(self.invalid(name, NOT_LIST)),
            },
        }
    }

    /// A JSON array of objects.
    pub fn opt_object_list(&self, name: &str) -> Result<Option<Vec<Map<String, Value>>>, Invalid> {
        match self.present(name) {
            None => Ok(None),
            Some(Raw::Json(Value::Array(items))) => items
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(self.invalid(name, NOT_MAPPING)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.invalid(name, NOT_LIST)),
        }
    }
}

fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// marshmallow's truthy/falsy spellings.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "t" | "T" | "true" | "True" | "TRUE" | "on" | "On" | "ON" | "y" | "Y" | "yes" | "Yes"
        | "YES" | "1" => Some(true),
        "f" | "F" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" | "n" | "N" | "no"
        | "No" | "NO" | "0" => Some(false),
        _ => None,
    }
}

/// A request type read from [`Params`].
pub trait FromParams: Sized {
    fn from_params(p: &Params) -> Result<Self, Invalid>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_missing_field_is_reported_as_5001() {
        let p = Params::from_json(json!({}));
        let err = p.json().str("job_id").unwrap_err();
        let env = err.to_envelope().to_value();
        assert_eq!(
            env,
            json!({"code": 5001, "message": "Invalid request.",
                   "data": {"json": {"job_id": ["Missing data for required field."]}}})
        );
    }

    #[test]
    fn strings_reject_numbers_and_null() {
        let p = Params::from_json(json!({"party_id": 9999, "role": null}));
        assert_eq!(p.json().str("party_id").unwrap_err().messages, [NOT_STRING]);
        assert_eq!(p.json().str("role").unwrap_err().messages, [NULL]);
        assert_eq!(p.json().opt_str("role").unwrap(), None);
    }

    #[test]
    fn integers_accept_numeric_strings_and_truncate() {
        let p = Params::from_json(json!({"a": "3", "b": 3.7, "c": true, "d": "x"}));
        assert_eq!(p.json().int("a").unwrap(), 3);
        assert_eq!(p.json().int("b").unwrap(), 3);
        assert_eq!(p.json().int("c").unwrap_err().messages, [NOT_INTEGER]);
        assert_eq!(p.json().int("d").unwrap_err().messages, [NOT_INTEGER]);
        let q = Params::from_query(&[("limit", "10")]);
        assert_eq!(q.query().opt_int("limit").unwrap(), Some(10));
    }

    #[test]
    fn booleans_follow_marshmallow() {
        let p = Params {
            form: vec![("head".into(), "True".into())],
            ..Default::default()
        };
        assert!(p.form().bool("head").unwrap());
        let p = Params::from_json(json!({"a": "no", "b": 1, "c": "maybe"}));
        assert!(!p.json().bool("a").unwrap());
        assert!(p.json().bool("b").unwrap());
        assert!(p.json().bool("c").is_err());
    }

    #[test]
    fn query_objects_never_validate() {
        let q = Params::from_query(&[("filters", "{}")]);
        assert_eq!(
            q.query().opt_object("filters").unwrap_err().messages,
            [NOT_MAPPING]
        );
    }

    #[test]
    fn repeated_query_keys_make_lists() {
        let q = Params::from_query(&[("role", "guest"), ("role", "host")]);
        assert_eq!(
            q.query().opt_str_list("role").unwrap().unwrap(),
            ["guest", "host"]
        );
    }

    #[test]
    fn headers_match_dash_and_underscore() {
        let p = Params {
            headers: vec![("user-name".into(), "alice".into())],
            ..Default::default()
        };
        assert_eq!(p.header("User_Name"), Some("alice"));
    }
}
