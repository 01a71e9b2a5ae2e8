//! FATE's gRPC transport: eggroll's `DataTransferService/unaryCall`, which FATE Flow sends its
//! commands through when its proxy is OSX or rollsite, and which every FATE Flow site serves on
//! its `grpc_port` (`federation.md` §4–§5).
//!
//! A packet carries one HTTP command: the path in `body.key` and `command.name`, the JSON body
//! in `body.value`, the headers as JSON text in `task.model.dataKey`, the destination in
//! `dst.partyId`. The reply carries the destination's JSON reply in `body.value`; HTTP status
//! codes do not travel, so every failure is a `code` in that JSON.
//!
//! The messages are written out here with their field numbers (`proxy.proto`,
//! `basic-meta.proto`); only the fields FATE fills are kept (protobuf skips the others).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tonic::transport::{Channel, Endpoint};

use ferroflow_core::id::PartyId;

use super::{Command, Failure, Federation, OwnAddress};

/// The service's name and its one method FATE uses.
pub const SERVICE: &str = "com.webank.ai.eggroll.api.networking.proxy.DataTransferService";
pub const UNARY_CALL: &str =
    "/com.webank.ai.eggroll.api.networking.proxy.DataTransferService/unaryCall";

#[derive(Clone, PartialEq, prost::Message)]
pub struct Packet {
    #[prost(message, optional, tag = "1")]
    pub header: Option<Metadata>,
    #[prost(message, optional, tag = "2")]
    pub body: Option<Data>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(message, optional, tag = "1")]
    pub task: Option<Task>,
    #[prost(message, optional, tag = "2")]
    pub src: Option<Topic>,
    #[prost(message, optional, tag = "3")]
    pub dst: Option<Topic>,
    #[prost(message, optional, tag = "4")]
    pub command: Option<CommandName>,
    #[prost(string, tag = "5")]
    pub operator: String,
    #[prost(int64, tag = "6")]
    pub seq: i64,
    #[prost(int64, tag = "7")]
    pub ack: i64,
    #[prost(message, optional, tag = "8")]
    pub conf: Option<Conf>,
    #[prost(bytes = "vec", tag = "9")]
    pub ext: Vec<u8>,
    #[prost(string, tag = "100")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Topic {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub party_id: String,
    #[prost(string, tag = "3")]
    pub role: String,
    #[prost(message, optional, tag = "4")]
    pub callback: Option<EndpointMsg>,
}

/// `com.webank.ai.eggroll.api.core.Endpoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EndpointMsg {
    #[prost(string, tag = "1")]
    pub ip: String,
    #[prost(int32, tag = "2")]
    pub port: i32,
    #[prost(string, tag = "3")]
    pub hostname: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Task {
    #[prost(string, tag = "1")]
    pub task_id: String,
    #[prost(message, optional, tag = "2")]
    pub model: Option<Model>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Model {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub data_key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CommandName {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Conf {
    #[prost(int64, tag = "1")]
    pub overall_timeout: i64,
    #[prost(int64, tag = "2")]
    pub completion_wait_timeout: i64,
    #[prost(int64, tag = "3")]
    pub packet_interval_timeout: i64,
    #[prost(int32, tag = "4")]
    pub max_retries: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Data {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// The job id a command is about (`""` for scheduler-bound commands without one).
fn job_id_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("job_id").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

fn topic(name: &str, party: &str, callback: Option<EndpointMsg>) -> Topic {
    Topic {
        name: name.to_string(),
        party_id: party.to_string(),
        role: "fateflow".into(),
        callback,
    }
}

/// The packet FATE's sender builds for a command (§4.2). `src.partyId` is left empty as FATE
/// leaves it: receivers route by `dst.partyId` only.
pub fn request_packet(cmd: &Command, own: &OwnAddress, timeout: Duration) -> Packet {
    let job_id = job_id_of(&cmd.body);
    let headers: Map<String, Value> = cmd
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    packet(Parts {
        job_id,
        headers: Value::Object(headers).to_string(),
        src_party: "",
        callback: (own.host.clone(), own.http_port),
        dst_party: cmd.dest.as_str(),
        path: cmd.path.clone(),
        operator: cmd.method.clone(),
        // FATE puts its timeout in seconds here although the proto says milliseconds.
        overall_timeout: timeout.as_secs() as i64,
        body: cmd.body.to_vec(),
    })
}

/// The command a received packet carries (§5 step 1). The destination is `dst.partyId`, else
/// the `dest-party-id` header, else this site's own party.
pub fn command_of(packet: &Packet, own_party: &PartyId) -> Result<Command, String> {
    let header = packet.header.clone().unwrap_or_default();
    let body = packet.body.clone().unwrap_or_default();
    let path = if body.key.is_empty() {
        header.command.map(|c| c.name).unwrap_or_default()
    } else {
        body.key
    };
    if !path.starts_with('/') {
        return Err(format!("packet without a command path ({path:?})"));
    }
    let data_key = header
        .task
        .and_then(|t| t.model)
        .map(|m| m.data_key)
        .unwrap_or_default();
    let mut headers = Vec::new();
    if !data_key.is_empty() {
        match serde_json::from_str::<Value>(&data_key) {
            Ok(Value::Object(m)) => {
                for (k, v) in m {
                    let v = match v {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    headers.push((k.to_ascii_lowercase(), v));
                }
            }
            Ok(Value::Null) => {}
            _ => {
                return Err(format!(
                    "headers in dataKey are not a JSON object: {data_key}"
                ));
            }
        }
    }
    let dst = header.dst.map(|d| d.party_id).unwrap_or_default();
    let dest = if !dst.is_empty() {
        dst
    } else {
        headers
            .iter()
            .find(|(k, _)| k == "dest-party-id")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| own_party.to_string())
    };
    if !headers.iter().any(|(k, _)| k == "dest-party-id") {
        headers.push(("dest-party-id".into(), dest.clone()));
    }
    let method = if header.operator.is_empty() {
        "POST".to_string()
    } else {
        header.operator.to_ascii_uppercase()
    };
    Ok(Command {
        dest: PartyId::new(dest),
        method,
        path,
        headers,
        body: Bytes::from(body.value),
    })
}

/// The reply packet a FATE Flow site answers with (§5 step 4).
pub fn reply_packet(request: &Packet, reply: &Value, own: &OwnAddress) -> Packet {
    let header = request.header.clone().unwrap_or_default();
    let job_id = header
        .task
        .as_ref()
        .map(|t| t.task_id.clone())
        .unwrap_or_default();
    let src_party = header.src.map(|s| s.party_id).unwrap_or_default();
    let dst_party = header.dst.map(|d| d.party_id).unwrap_or_default();
    let path = request
        .body
        .as_ref()
        .map(|b| b.key.clone())
        .filter(|k| !k.is_empty())
        .or_else(|| header.command.as_ref().map(|c| c.name.clone()))
        .unwrap_or_default();
    packet(Parts {
        job_id,
        headers: "null".into(),
        src_party: &dst_party,
        callback: (own.host.clone(), own.grpc_port),
        dst_party: &src_party,
        path,
        operator: header.operator,
        overall_timeout: 30_000,
        body: reply.to_string().into_bytes(),
    })
}

/// What differs between the packets FATE's sites exchange; the rest of the shape is fixed.
struct Parts<'a> {
    job_id: String,
    /// `task.model.dataKey`: the command's HTTP headers as a JSON object (`null` in replies).
    headers: String,
    src_party: &'a str,
    /// Where the sender answers: its host and port.
    callback: (String, u16),
    dst_party: &'a str,
    path: String,
    operator: String,
    overall_timeout: i64,
    body: Vec<u8>,
}

fn packet(p: Parts) -> Packet {
    let callback = EndpointMsg {
        ip: p.callback.0,
        port: i32::from(p.callback.1),
        hostname: String::new(),
    };
    Packet {
        header: Some(Metadata {
            task: Some(Task {
                task_id: p.job_id.clone(),
                model: Some(Model {
                    name: "headers".into(),
                    data_key: p.headers,
                }),
            }),
            src: Some(topic(&p.job_id, p.src_party, Some(callback))),
            dst: Some(topic(&p.job_id, p.dst_party, None)),
            command: Some(CommandName {
                name: p.path.clone(),
            }),
            operator: p.operator,
            conf: Some(Conf {
                overall_timeout: p.overall_timeout,
                ..Default::default()
            }),
            ..Default::default()
        }),
        body: Some(Data {
            key: p.path,
            value: p.body,
        }),
    }
}

/// The call metadata FATE puts on every packet; the roles are hard-coded `guest`/`host` there.
fn fate_metadata(md: &mut tonic::metadata::MetadataMap, src_party: &str, dest_party: &str) {
    let text = |s: &str| {
        s.parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
            .unwrap_or_else(|_| tonic::metadata::MetadataValue::from_static(""))
    };
    md.insert("service", text("fateflow"));
    md.insert("src-party-id", text(src_party));
    md.insert("src-role", text("guest"));
    md.insert("dest-party-id", text(dest_party));
    md.insert("dest-role", text("host"));
}

/// gRPC channels by address (and transport), reused across commands.
#[derive(Debug, Clone, Default)]
pub struct Client {
    channels: Arc<Mutex<HashMap<(String, bool), Channel>>>,
    security: Option<Arc<crate::tls::Security>>,
}

/// Where one call goes and how.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call<'a> {
    pub addr: &'a str,
    /// Mutual TLS (`grpcs://`).
    pub tls: bool,
    pub own: &'a OwnAddress,
    pub timeout: Duration,
}

impl Client {
    pub fn new(security: Option<Arc<crate::tls::Security>>) -> Self {
        Self {
            channels: Arc::default(),
            security,
        }
    }

    fn channel(&self, addr: &str, tls: bool, timeout: Duration) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let key = (addr.to_string(), tls);
        if let Some(c) = channels.get(&key) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("address {addr:?}: {e}"))?
            .connect_timeout(timeout)
            .tcp_nodelay(true);
        let channel = if tls {
            let Some(sec) = self.security.clone() else {
                return Err(format!(
                    "grpcs://{addr} needs this site's credentials (security.tls)"
                ));
            };
            let addr = addr.to_string();
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_: axum::http::Uri| {
                let (sec, addr) = (sec.clone(), addr.clone());
                async move { sec.connect_grpc(&addr).await }
            }))
        } else {
            endpoint.connect_lazy()
        };
        channels.insert(key, channel.clone());
        Ok(channel)
    }

    /// One `unaryCall` carrying `cmd`; the destination's JSON reply from `body.value`.
    pub(super) async fn call(&self, call: Call<'_>, cmd: &Command) -> Result<Value, Failure> {
        let Call {
            addr,
            tls,
            own,
            timeout,
        } = call;
        let channel = self.channel(addr, tls, timeout).map_err(Failure::Final)?;
        let mut client = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        client
            .ready()
            .await
            .map_err(|e| Failure::Retry(format!("cannot connect ({e})")))?;
        let mut req = tonic::Request::new(request_packet(cmd, own, timeout));
        req.set_timeout(timeout);
        fate_metadata(req.metadata_mut(), "", cmd.dest.as_str());
        let path = axum::http::uri::PathAndQuery::from_static(UNARY_CALL);
        let reply = client
            .unary(
                req,
                path,
                tonic_prost::ProstCodec::<Packet, Packet>::default(),
            )
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable => {
                    Failure::Retry(format!("cannot connect ({})", s.message()))
                }
                tonic::Code::DeadlineExceeded => {
                    Failure::Final(format!("no answer within {timeout:?}"))
                }
                _ => Failure::Final(format!("gRPC {:?}: {}", s.code(), s.message())),
            })?
            .into_inner();
        let value = reply.body.map(|b| b.value).unwrap_or_default();
        serde_json::from_slice(&value).map_err(|_| {
            Failure::Final(format!(
                "reply is not JSON: {}",
                String::from_utf8_lossy(&value[..value.len().min(200)])
            ))
        })
    }
}

/// The `unaryCall` service this site serves on its `grpc_port`, both as a FATE Flow site (the
/// command is for one of its parties) and as a rollsite/OSX-like proxy (it is not: relayed by
/// the route table).
#[derive(Clone)]
pub struct Service {
    fed: Federation,
    own_party: PartyId,
}

impl Service {
    pub fn new(fed: Federation, own_party: PartyId) -> Self {
        Self { fed, own_party }
    }

    /// `peer`: the certificate's owner when the packet came over mutual TLS; such a packet
    /// must carry a signed site command ([`crate::tls::admit`]). The signature is verified by
    /// the HTTP edge of the site that handles the command, this one's included.
    async fn handle(&self, packet: Packet, peer: Option<crate::tls::TlsPeer>) -> Packet {
        let admitted = |cmd: &Command| match &peer {
            Some(peer) => {
                let signed = cmd.header(super::sign::SIGNATURE).is_some();
                crate::tls::admit(peer, &cmd.path, signed)
            }
            None => Ok(()),
        };
        let reply = match command_of(&packet, &self.own_party).map(|c| (admitted(&c), c)) {
            Ok((Err(refusal), _)) => refusal.envelope().to_value(),
            Ok((Ok(()), cmd)) => {
                let path = cmd.path.clone();
                match self.fed.relay(cmd).await {
                    Ok(v) => v,
                    Err(u) => {
                        tracing::debug!(%u, path, "relayed command not delivered");
                        u.envelope().to_value()
                    }
                }
            }
            Err(e) => {
                ferroflow_wire::Envelope::with_code(ferroflow_wire::RetCode::InvalidParameter, e)
                    .to_value()
            }
        };
        reply_packet(&packet, &reply, self.fed.own_address())
    }
}

impl tonic::server::NamedService for Service {
    const NAME: &'static str = SERVICE;
}

struct UnaryCall(Service);

impl tonic::server::UnaryService<Packet> for UnaryCall {
    type Response = Packet;
    type Future = BoxFuture<'static, Result<tonic::Response<Packet>, tonic::Status>>;

    fn call(&mut self, req: tonic::Request<Packet>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            let peer = req.extensions().get::<crate::tls::TlsPeer>().cloned();
            let packet = req.into_inner();
            let header = packet.header.clone().unwrap_or_default();
            let reply = svc.handle(packet, peer).await;
            let mut resp = tonic::Response::new(reply);
            // FATE sets these as trailing metadata; nobody reads them, headers carry the same.
            fate_metadata(
                resp.metadata_mut(),
                &header.src.map(|t| t.party_id).unwrap_or_default(),
                &header.dst.map(|t| t.party_id).unwrap_or_default(),
            );
            Ok(resp)
        })
    }
}

impl tower::Service<axum::http::Request<tonic::body::Body>> for Service {
    type Response = axum::http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<tonic::body::Body>) -> Self::Future {
        let svc = self.clone();
        Box::pin(async move {
            if req.uri().path() != UNARY_CALL {
                // FATE's commands use unaryCall only; push, pull and polling are not served.
                return Ok(tonic::Status::unimplemented(format!(
                    "{} is not served (only unaryCall)",
                    req.uri().path()
                ))
                .into_http());
            }
            let mut grpc =
                tonic::server::Grpc::new(tonic_prost::ProstCodec::<Packet, Packet>::default())
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
            Ok(grpc.unary(UnaryCall(svc), req).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn own() -> OwnAddress {
        OwnAddress {
            host: "127.0.0.1".into(),
            http_port: 9380,
            grpc_port: 9360,
        }
    }

    fn cmd() -> Command {
        Command {
            dest: PartyId::new("10000"),
            method: "POST".into(),
            path: "/v2/partner/task/start".into(),
            headers: vec![
                ("dest-party-id".into(), "10000".into()),
                ("service".into(), "fateflow".into()),
                ("initiator-party-id".into(), "".into()),
            ],
            body: Bytes::from_static(br#"{"job_id":"202601010000000000000","role":"host"}"#),
        }
    }

    #[test]
    fn request_packet_is_filled_as_fate_fills_it() {
        let p = request_packet(&cmd(), &own(), Duration::from_secs(10));
        let h = p.header.clone().unwrap();
        assert_eq!(h.operator, "POST");
        assert_eq!(h.command.unwrap().name, "/v2/partner/task/start");
        assert_eq!(h.conf.unwrap().overall_timeout, 10);
        let dst = h.dst.unwrap();
        assert_eq!(
            (dst.party_id.as_str(), dst.role.as_str()),
            ("10000", "fateflow")
        );
        assert_eq!(dst.name, "202601010000000000000");
        let src = h.src.unwrap();
        assert_eq!(src.party_id, "");
        assert_eq!(
            src.callback.unwrap().port,
            9380,
            "the HTTP port, as FATE sends"
        );
        let model = h.task.unwrap().model.unwrap();
        assert_eq!(model.name, "headers");
        let headers: Value = serde_json::from_str(&model.data_key).unwrap();
        assert_eq!(headers["dest-party-id"], "10000");
        assert_eq!(headers["initiator-party-id"], "");
        let body = p.body.unwrap();
        assert_eq!(body.key, "/v2/partner/task/start");
        assert_eq!(body.value, cmd().body.to_vec());
    }

    #[test]
    fn a_packet_round_trips_to_the_same_command() {
        let p = request_packet(&cmd(), &own(), Duration::from_secs(10));
        let bytes = p.encode_to_vec();
        let back = command_of(
            &Packet::decode(bytes.as_slice()).unwrap(),
            &PartyId::new("9999"),
        )
        .unwrap();
        assert_eq!(back.dest.as_str(), "10000");
        assert_eq!(back.path, "/v2/partner/task/start");
        assert_eq!(back.method, "POST");
        assert_eq!(back.header("initiator-party-id"), Some(""));
        assert_eq!(back.body, cmd().body);
    }

    #[test]
    fn fate_spellings_of_a_received_packet() {
        // Upper-case header names, null dataKey, path only in command.name, no dst.
        let mut p = request_packet(&cmd(), &own(), Duration::from_secs(10));
        let h = p.header.as_mut().unwrap();
        h.task.as_mut().unwrap().model.as_mut().unwrap().data_key =
            r#"{"DEST-PARTY-ID":"10000","SERVICE":"fateflow"}"#.into();
        h.dst = None;
        p.body.as_mut().unwrap().key.clear();
        let c = command_of(&p, &PartyId::new("9999")).unwrap();
        assert_eq!(
            c.dest.as_str(),
            "10000",
            "from the header when dst is absent"
        );
        assert_eq!(c.path, "/v2/partner/task/start");
        assert_eq!(c.header("dest-party-id"), Some("10000"));

        p.header
            .as_mut()
            .unwrap()
            .task
            .as_mut()
            .unwrap()
            .model
            .as_mut()
            .unwrap()
            .data_key = "null".into();
        let c = command_of(&p, &PartyId::new("9999")).unwrap();
        assert_eq!(
            c.dest.as_str(),
            "9999",
            "nothing names a party: this site's own"
        );
        assert_eq!(c.header("dest-party-id"), Some("9999"));

        p.header.as_mut().unwrap().command = None;
        assert!(command_of(&p, &PartyId::new("9999")).is_err());
    }

    #[test]
    fn reply_packet_mirrors_the_request() {
        let mut req = request_packet(&cmd(), &own(), Duration::from_secs(10));
        req.header.as_mut().unwrap().src.as_mut().unwrap().party_id = "9999".into();
        let r = reply_packet(&req, &serde_json::json!({"code": 0}), &own());
        let h = r.header.unwrap();
        assert_eq!(h.src.as_ref().unwrap().party_id, "10000");
        assert_eq!(h.src.unwrap().callback.unwrap().port, 9360, "the gRPC port");
        assert_eq!(h.dst.unwrap().party_id, "9999");
        assert_eq!(h.conf.unwrap().overall_timeout, 30_000);
        assert_eq!(h.task.unwrap().model.unwrap().data_key, "null");
        assert_eq!(r.body.unwrap().value, br#"{"code":0}"#.to_vec());
    }
}
