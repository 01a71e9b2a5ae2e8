//! The route table from `routes` and FATE's proxy settings.

use super::*;

/// `routes` (keys as strings or numbers; `default` apart), and the default route: that key,
/// else in multi-party mode FATE's proxy (`fateflow.proxy_name` + `federation.<proxy>`).
pub(super) fn routes(
    raw: &RawServiceConf,
    engines: &Engines,
) -> Result<(BTreeMap<PartyId, Route>, Option<Route>), Error> {
    let mut routes = BTreeMap::new();
    let mut default = None;
    for (k, v) in raw.routes.iter().flatten() {
        let key = match k {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            other => return Err(Error::Invalid(format!("routes: key {other:?}"))),
        };
        let value = v
            .as_str()
            .ok_or_else(|| Error::Invalid(format!("routes.{key}: expected a string")))?;
        let route =
            Route::parse(value).map_err(|e| Error::Invalid(format!("routes.{key}: {e}")))?;
        if key == "default" {
            default = Some(route);
        } else {
            routes.insert(PartyId::new(key), route);
        }
    }
    if default.is_none() && engines.federation != "standalone" {
        default = fate_proxy(raw)?;
    }
    Ok((routes, default))
}

/// FATE's proxy: `nginx` is HTTP to `federation.nginx.{host,http_port}`; `osx` and
/// `rollsite` are gRPC to `federation.<name>.{host,port}`.
fn fate_proxy(raw: &RawServiceConf) -> Result<Option<Route>, Error> {
    let Some(name) = raw.fateflow.as_ref().and_then(|f| f.proxy_name.as_deref()) else {
        return Ok(None);
    };
    let Some(section) = raw.federation.as_ref().and_then(|f| f.get(name)) else {
        return Ok(None);
    };
    let host = section
        .get("host")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("127.0.0.1");
    let port_key = if name == "nginx" { "http_port" } else { "port" };
    let Some(port) = section.get(port_key).and_then(serde_yaml::Value::as_u64) else {
        return Ok(None);
    };
    match name {
        "nginx" => {
            let protocol = section
                .get("protocol")
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or("http");
            if protocol != "http" {
                return Err(Error::Invalid(format!(
                    "federation.nginx.protocol {protocol:?}: only http is supported (as in FATE)"
                )));
            }
            Ok(Some(Route::Http(format!("http://{host}:{port}"))))
        }
        "osx" | "rollsite" => Ok(Some(Route::Grpc(format!("{host}:{port}")))),
        _ => Ok(None),
    }
}
