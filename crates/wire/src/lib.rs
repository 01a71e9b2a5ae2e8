//! FATE Flow 2.2's wire shapes, and nothing else: serde types with FATE's spellings.
//!
//! # Layout
//! - [`envelope`], [`code`]: the `{code, message, data}` envelope and the return-code table.
//! - [`params`]: how request parameters are located, coerced and reported invalid (5001).
//! - [`dag`], [`task_config`]: the job DAG schema and the CONFIG document tasks receive.
//! - [`client`] (api-1), [`partner`] (api-2), [`worker`] (api-3), [`scheduler`] (api-4):
//!   request bodies per interface group, and the paths they are sent to.
//! - [`records`]: job, task and provider records as queries return them.
//! - [`service_conf`]: `service_conf.yaml` as written.
//! - [`lenient`]: pydantic-v1-like coercions so every document FATE accepts is accepted.

pub mod client;
pub mod code;
pub mod command;
pub mod dag;
pub mod envelope;
pub mod lenient;
pub mod params;
pub mod partner;
pub mod records;
pub mod scheduler;
pub mod service_conf;
pub mod task_config;
pub mod worker;

pub use code::RetCode;
pub use command::Route;
pub use envelope::Envelope;
pub use params::{FromParams, Invalid, Params};

/// The API version prefix of every route.
pub const API_VERSION: &str = "v2";

#[cfg(test)]
mod tests {
    /// Models, metrics and tables pass through the site as JSON: a number must come back as the
    /// component wrote it (`float_roundtrip`), or a downloaded model and the one
    /// `/v2/output/model/query` shows differ in their last digits.
    #[test]
    fn floats_survive_a_json_round_trip() {
        for text in [
            "1.8144025065414782",
            "0.1044251251710136",
            "2.0124415188826412",
            "5e-324",
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), text);
            assert_eq!(v.as_f64().unwrap(), text.parse::<f64>().unwrap());
        }
    }
}
