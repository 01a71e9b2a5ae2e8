//! `/v2/server/*`: this instance, and the registry of other servers and their services
//! (`api.md` §10.9). Server names are stored upper-cased and looked up case-insensitively.

use serde_json::{Value, json};

use ferroflow_wire::client::admin::{ServerRegistry, ServiceRegistry};

use super::{Error, Input, Missing, Result};
use crate::app::App;
use crate::store::{ServerRow, ServiceRow};

fn not_found(details: &[(&'static str, &str)]) -> Error {
    Error::refuse(Missing::Server, details)
}

/// `/v2/server/fateflow`: `{instance_id: {instance_id, timestamp, version, host, grpc_port,
/// http_port}}` for every instance of this site that beats (FATE lists its instances from
/// ZooKeeper the same way); `timestamp` is the instance's last heartbeat. This instance is
/// always listed, even before its first beat is stored.
pub async fn fateflow(app: &App) -> Result<Value> {
    let c = &app.config;
    let alive_since = app.now() - app.instance.lease_ms;
    let mut out = serde_json::Map::new();
    for i in app.store.instances(alive_since).await? {
        out.insert(
            i.instance_id.clone(),
            json!({
                "instance_id": i.instance_id, "timestamp": i.heartbeat, "version": i.version,
                "host": i.host, "grpc_port": i.grpc_port, "http_port": i.http_port,
            }),
        );
    }
    let id = app.instance.id.clone();
    out.entry(id.clone()).or_insert_with(|| {
        json!({
            "instance_id": id, "timestamp": app.now(), "version": env!("CARGO_PKG_VERSION"),
            "host": c.host, "grpc_port": c.grpc_port, "http_port": c.http_port,
        })
    });
    Ok(Value::Object(out))
}

/// `/v2/server/query/all`: every mapping section of `service_conf.yaml` under its upper-cased
/// name, as configured but with every secret masked (upstream answers the database and
/// federation passwords), then every registered server.
pub async fn query_all(app: &App) -> Result<Value> {
    let mut raw = serde_json::to_value(&app.config.raw).unwrap_or(Value::Null);
    mask_secrets(&mut raw);
    let mut out = serde_json::Map::new();
    if let Value::Object(m) = raw {
        for (k, v) in m {
            if v.is_object() {
                out.insert(k.to_uppercase(), v);
            }
        }
    }
    for s in app.store.servers(None).await? {
        out.insert(
            s.server_name.clone(),
            json!({"host": s.host, "port": s.port, "protocol": s.protocol}),
        );
    }
    Ok(Value::Object(out))
}

/// Replaces the value of every key that names a secret (a password, token or secret key),
/// at any depth, by `******`.
fn mask_secrets(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                let k = k.to_lowercase();
                let secret = (k.contains("passw") && !k.ends_with("_file"))
                    || k.contains("secret")
                    || k.contains("token");
                if secret && !v.is_null() {
                    *v = Value::String("******".into());
                } else {
                    mask_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

/// `/v2/server/query`.
pub async fn query(app: &App, name: &str) -> Result<Value> {
    let upper = name.to_uppercase();
    let s = app
        .store
        .servers(Some(&upper))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found(&[("server_name", name)]))?;
    Ok(json!({
        "server_name": s.server_name, "host": s.host, "port": s.port, "protocol": s.protocol,
        "create_time": s.create_time, "update_time": s.update_time,
    }))
}

/// `/v2/server/registry`.
pub async fn registry(app: &App, r: &ServerRegistry) -> Result<Value> {
    if !(1..=65535).contains(&r.port) {
        return Err(Error::refuse_with(
            Input::Parameter,
            format!("Invalid parameter: port[{}]: not a TCP port", r.port),
        ));
    }
    let now = app.now();
    let row = ServerRow {
        server_name: r.server_name.to_uppercase(),
        host: r.host.clone(),
        port: r.port,
        protocol: r.protocol.clone(),
        create_time: now,
        update_time: now,
    };
    app.store.upsert_server(&row).await?;
    Ok(
        json!({"host": row.host, "port": row.port, "protocol": row.protocol, "server_name": row.server_name}),
    )
}

/// `/v2/server/delete`: `success` or `failed` in the message, as upstream.
pub async fn delete(app: &App, name: &str) -> Result<bool> {
    Ok(app.store.delete_server(&name.to_uppercase()).await?)
}

/// `/v2/server/service/query`.
pub async fn query_service(app: &App, server: &str, service: &str) -> Result<Value> {
    let s = app
        .store
        .service(&server.to_uppercase(), service)
        .await?
        .ok_or_else(|| not_found(&[("server_name", server), ("service_name", service)]))?;
    Ok(json!({
        "server_name": s.server_name, "service_name": s.service_name, "url": s.url,
        "method": s.method, "params": s.params, "data": s.data, "headers": s.headers,
        "create_time": s.create_time, "update_time": s.update_time,
    }))
}

/// `/v2/server/service/registry`: the URL is the server's `protocol://host:port` and `uri`.
pub async fn register_service(app: &App, r: &ServiceRegistry) -> Result<()> {
    let upper = r.server_name.to_uppercase();
    let server = app
        .store
        .servers(Some(&upper))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found(&[("server_name", &r.server_name)]))?;
    let uri = if r.uri.starts_with('/') {
        r.uri.clone()
    } else {
        format!("/{}", r.uri)
    };
    let now = app.now();
    app.store
        .upsert_service(&ServiceRow {
            server_name: upper,
            service_name: r.service_name.clone(),
            url: format!("{}://{}:{}{uri}", server.protocol, server.host, server.port),
            method: r.method.clone(),
            params: Value::Object(r.params.clone()),
            data: Value::Object(r.data.clone()),
            headers: Value::Object(r.headers.clone()),
            create_time: now,
            update_time: now,
        })
        .await?;
    Ok(())
}

pub async fn delete_service(app: &App, server: &str, service: &str) -> Result<bool> {
    Ok(app
        .store
        .delete_service(&server.to_uppercase(), service)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let mut v = json!({
            "database": {"engine": "mysql", "mysql": {"user": "u", "passwd": "hunter2",
                "passwd_file": "/etc/ff/pw", "host": "h"}},
            "federation": {"rabbitmq": {"password": 5, "user": "r"}},
            "apps": [{"app_token": "t0k"}],
            "s3": {"secret_key": "sk", "none": null},
        });
        mask_secrets(&mut v);
        let text = v.to_string();
        for secret in ["hunter2", "t0k", "\"sk\"", ":5"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(v["database"]["mysql"]["passwd"], "******");
        assert_eq!(v["database"]["mysql"]["passwd_file"], "/etc/ff/pw");
        assert_eq!(v["database"]["mysql"]["user"], "u");
    }
}
