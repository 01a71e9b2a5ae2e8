//! `/v2/app/*`, `/v2/permission/*` and `/v2/server/*` parameters (`api.md` §10.1, §10.7,
//! §10.9).

use serde_json::{Map, Value};

use crate::params::{FromParams, Invalid, Params};

/// `POST /v2/app/client/create`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCreate {
    pub app_name: String,
}

impl FromParams for ClientCreate {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            app_name: p.json().str("app_name")?,
        })
    }
}

/// `POST /v2/app/client/delete`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppIdBody {
    pub app_id: String,
}

impl FromParams for AppIdBody {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            app_id: p.json().str("app_id")?,
        })
    }
}

/// `GET /v2/app/client/query`: no filter finds nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientQuery {
    pub app_id: Option<String>,
    pub app_name: Option<String>,
}

impl FromParams for ClientQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            app_id: q.opt_str("app_id")?,
            app_name: q.opt_str("app_name")?,
        })
    }
}

/// A JSON body with only `party_id` (`app/site/create|delete`, `app/partner/delete`).
#[derive(Debug, Clone, PartialEq)]
pub struct PartyIdBody {
    pub party_id: String,
}

impl FromParams for PartyIdBody {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            party_id: p.json().str("party_id")?,
        })
    }
}

/// `GET /v2/app/site/query` (required) and `GET /v2/app/partner/query` (optional).
#[derive(Debug, Clone, PartialEq)]
pub struct PartyIdQuery {
    pub party_id: Option<String>,
}

impl PartyIdQuery {
    pub fn required(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            party_id: Some(p.query().str("party_id")?),
        })
    }

    pub fn optional(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            party_id: p.query().opt_str("party_id")?,
        })
    }
}

/// `POST /v2/app/partner/create`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerCreate {
    pub party_id: String,
    pub app_id: String,
    pub app_token: String,
}

impl FromParams for PartnerCreate {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            party_id: j.str("party_id")?,
            app_id: j.str("app_id")?,
            app_token: j.str("app_token")?,
        })
    }
}

/// `POST /v2/permission/grant|delete`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleGrant {
    pub app_id: String,
    pub role: String,
}

impl FromParams for RoleGrant {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            app_id: j.str("app_id")?,
            role: j.str("role")?,
        })
    }
}

/// `GET /v2/permission/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppIdQuery {
    pub app_id: String,
}

impl FromParams for AppIdQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            app_id: p.query().str("app_id")?,
        })
    }
}

/// `POST /v2/permission/resource/grant|delete`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceGrant {
    pub party_id: String,
    /// Comma-separated component names, or `*`.
    pub component: Option<String>,
    /// `[{namespace, name}]` (`"*"` is accepted by delete only).
    pub dataset: Option<Value>,
}

impl FromParams for ResourceGrant {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            party_id: j.str("party_id")?,
            component: j.opt_str("component")?,
            dataset: j.opt_value("dataset"),
        })
    }
}

/// `GET /v2/permission/resource/query`. `component` and `dataset` are declared upstream but
/// unused; `dataset` is a mapping declared in the query string, so any value is invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceQuery {
    pub party_id: String,
    pub component: Option<String>,
}

impl FromParams for ResourceQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        let party_id = q.str("party_id")?;
        let component = q.opt_str("component")?;
        q.opt_object("dataset")?;
        Ok(Self {
            party_id,
            component,
        })
    }
}

/// `GET /v2/server/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerName {
    pub server_name: String,
}

impl ServerName {
    pub fn from_query(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            server_name: p.query().str("server_name")?,
        })
    }

    pub fn from_json(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            server_name: p.json().str("server_name")?,
        })
    }
}

/// `POST /v2/server/registry`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRegistry {
    pub server_name: String,
    pub host: String,
    pub port: i64,
    pub protocol: String,
}

impl FromParams for ServerRegistry {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            server_name: j.str("server_name")?,
            host: j.str("host")?,
            port: j.int("port")?,
            protocol: j.opt_str("protocol")?.unwrap_or_else(|| "http".into()),
        })
    }
}

/// `GET /v2/server/service/query`, `POST /v2/server/service/delete`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceName {
    pub server_name: String,
    pub service_name: String,
}

impl ServiceName {
    pub fn from_query(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            server_name: q.str("server_name")?,
            service_name: q.str("service_name")?,
        })
    }

    pub fn from_json(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            server_name: j.str("server_name")?,
            service_name: j.str("service_name")?,
        })
    }
}

/// `POST /v2/server/service/registry`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRegistry {
    pub server_name: String,
    pub service_name: String,
    pub uri: String,
    pub method: String,
    pub params: Map<String, Value>,
    pub data: Map<String, Value>,
    pub headers: Map<String, Value>,
    pub protocol: String,
}

impl FromParams for ServiceRegistry {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            server_name: j.str("server_name")?,
            service_name: j.str("service_name")?,
            uri: j.str("uri")?,
            method: j.opt_str("method")?.unwrap_or_else(|| "POST".into()),
            params: j.opt_object("params")?.unwrap_or_default(),
            data: j.opt_object("data")?.unwrap_or_default(),
            headers: j.opt_object("headers")?.unwrap_or_default(),
            protocol: j.opt_str("protocol")?.unwrap_or_else(|| "http".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dataset_in_a_query_never_validates() {
        let p = Params::from_query(&[("party_id", "1"), ("dataset", "{}")]);
        assert_eq!(ResourceQuery::from_params(&p).unwrap_err().field, "dataset");
        let p = Params::from_query(&[("party_id", "1")]);
        assert!(ResourceQuery::from_params(&p).is_ok());
    }

    #[test]
    fn server_registry_defaults_protocol() {
        let p = Params::from_json(json!({"server_name": "s", "host": "h", "port": "80"}));
        let r = ServerRegistry::from_params(&p).unwrap();
        assert_eq!((r.port, r.protocol.as_str()), (80, "http"));
    }
}
