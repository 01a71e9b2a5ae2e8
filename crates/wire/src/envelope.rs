//! The JSON envelope every FATE Flow answer is wrapped in (`api.md` §3.1).
//!
//! `code` and `message` are always present; `data` and `job_id` only when set; further
//! top-level keys are spread verbatim (submission results). Keys are written sorted, as
//! Flask does, although clients only look at keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::code::RetCode;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelope {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
    pub job_id: Option<String>,
    /// Other top-level keys a handler spreads into the answer.
    pub extra: Map<String, Value>,
}

impl Envelope {
    pub fn ok() -> Self {
        Self::with_code(RetCode::Success, "success")
    }

    pub fn ok_data(data: impl Into<Value>) -> Self {
        Self {
            data: Some(data.into()),
            ..Self::ok()
        }
    }

    /// A success whose message is not `success` (e.g. provider `create success`).
    pub fn ok_message(message: impl Into<String>) -> Self {
        Self::with_code(RetCode::Success, message)
    }

    pub fn with_code(code: RetCode, message: impl Into<String>) -> Self {
        Self::raw(code.code(), message)
    }

    pub fn raw(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            ..Default::default()
        }
    }

    /// A typed error: the code's base message followed by `k[v]` details.
    pub fn error(code: RetCode, details: &[(&str, &str)]) -> Self {
        Self::with_code(code, code.message(details))
    }

    /// The reply a caller substitutes for a party it could not reach (`federation.md` §3).
    pub fn federated_error(detail: impl std::fmt::Display) -> Self {
        Self::with_code(
            RetCode::FederatedError,
            format!("Federated schedule error, {detail}"),
        )
    }

    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    pub fn with_job_id(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    pub fn is_ok(&self) -> bool {
        self.code == 0
    }

    pub fn ret_code(&self) -> Option<RetCode> {
        RetCode::from_code(self.code)
    }

    /// The envelope as a JSON object with sorted keys; `data: null` is omitted.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// The answer as JSON, its data moved rather than copied (answers can be large).
    pub fn into_value(self) -> Value {
        let mut sorted: BTreeMap<String, Value> = self.extra.into_iter().collect();
        sorted.insert("code".into(), Value::from(self.code));
        sorted.insert("message".into(), Value::from(self.message));
        match self.data {
            Some(Value::Null) | None => {
                sorted.remove("data");
            }
            Some(d) => {
                sorted.insert("data".into(), d);
            }
        }
        if let Some(j) = self.job_id {
            sorted.insert("job_id".into(), Value::from(j));
        }
        Value::Object(sorted.into_iter().collect())
    }

    /// Reads a reply from another site. Anything that is not an object with an integer `code`
    /// is a protocol error, reported as FATE's 6002 would be.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err(format!("not a JSON object: {value}"));
        };
        let code = match map.remove("code") {
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or_default(),
            Some(other) => return Err(format!("code is not an integer: {other}")),
            None => return Err("no code in reply".into()),
        };
        // FATE's BFIA adapter spells it `msg`; accept both.
        let message = match map.remove("message").or_else(|| map.remove("msg")) {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let data = map.remove("data").filter(|d| !d.is_null());
        let job_id = match map.remove("job_id") {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        Ok(Self {
            code,
            message,
            data,
            job_id,
            extra: map,
        })
    }
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Envelope::from_value(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_data_and_job_id_are_omitted() {
        assert_eq!(
            Envelope::ok().to_value(),
            json!({"code": 0, "message": "success"})
        );
        let e = Envelope::ok().with_data(Value::Null);
        assert_eq!(e.to_value(), json!({"code": 0, "message": "success"}));
    }

    #[test]
    fn empty_data_is_kept() {
        let e = Envelope::ok_data(json!([]));
        assert_eq!(
            e.to_value(),
            json!({"code": 0, "message": "success", "data": []})
        );
        let e = Envelope::ok_data(json!(false));
        assert_eq!(e.to_value()["data"], json!(false));
    }

    #[test]
    fn keys_are_sorted() {
        let e = Envelope::ok_data(json!({"model_id": "1"})).with_job_id("1");
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"code":0,"data":{"model_id":"1"},"job_id":"1","message":"success"}"#
        );
    }

    #[test]
    fn reply_round_trips() {
        let v = json!({"code": 1004, "message": "x", "data": {"a": 1}, "extra": true});
        let e = Envelope::from_value(v.clone()).unwrap();
        assert_eq!(e.code, 1004);
        assert_eq!(e.to_value(), v);
    }

    #[test]
    fn federated_error_text() {
        let e = Envelope::federated_error("connection refused");
        assert_eq!(e.code, 104);
        assert_eq!(e.message, "Federated schedule error, connection refused");
    }
}
