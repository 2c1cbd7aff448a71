//! TCP front end: accepts connections and runs each one's request loop.
//!
//! Like Kafka's socket server, a connection is served one request at a time (responses stay
//! in request order); a malformed or oversized frame closes that connection only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Encodable, decode_request_header_from_buffer};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::dispatch::{self, RequestContext};
use crate::handlers::api_versions;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("frame of {0} bytes exceeds socket.request.max.bytes")]
    FrameTooLarge(i64),
    #[error("unknown api key {0}")]
    UnknownApi(i16),
    #[error("unsupported version {1} of {0:?}")]
    UnsupportedVersion(ApiKey, i16),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Whether an I/O error only says the client closed or dropped its side.
fn client_left(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
    )
}

/// Accepts connections until `stop` flips to true.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    let broker = broker.clone();
                    let stop = stop.clone();
                    conns.spawn(async move {
                        metrics::gauge!("broker_connections").increment(1.0);
                        if let Err(e) = connection(&broker, sock, peer, stop).await {
                            match e {
                                // The client went away (closed, reset, killed): ordinary, as in
                                // Kafka, where only the broker's own reasons are worth a WARN.
                                ConnError::Io(ref io) if client_left(io) => {
                                    tracing::debug!(%peer, error = %e, "client disconnected");
                                }
                                e => tracing::warn!(%peer, error = %e, "closing connection"),
                            }
                        }
                        metrics::gauge!("broker_connections").decrement(1.0);
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

async fn connection(
    broker: &Broker,
    sock: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let (rd, wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    let mut wr = BufWriter::new(wr);
    let max = broker.config.max_frame_bytes;
    loop {
        let len = tokio::select! {
            _ = stop.changed() => return Ok(()),
            len = rd.read_i32() => len?,
        };
        if len < 4 || len as usize > max {
            return Err(ConnError::FrameTooLarge(i64::from(len)));
        }
        let mut buf = BytesMut::zeroed(len as usize);
        rd.read_exact(&mut buf).await?;
        let started = Instant::now();
        let Some(out) = respond(broker, buf.freeze(), peer).await? else {
            continue;
        };
        wr.write_i32(out.len() as i32).await?;
        wr.write_all(&out).await?;
        wr.flush().await?;
        metrics::histogram!("broker_request_seconds").record(started.elapsed().as_secs_f64());
    }
}

/// Decodes, handles and encodes one request; `None` when no response is due (acks=0).
async fn respond(
    broker: &Broker,
    mut body: Bytes,
    peer: SocketAddr,
) -> Result<Option<BytesMut>, ConnError> {
    if body.len() < 8 {
        return Err(ConnError::Malformed(
            "frame shorter than a request header".into(),
        ));
    }
    let raw_key = i16::from_be_bytes([body[0], body[1]]);
    let raw_version = i16::from_be_bytes([body[2], body[3]]);
    let key = ApiKey::try_from(raw_key).map_err(|()| ConnError::UnknownApi(raw_key))?;
    let header = decode_request_header_from_buffer(&mut body)
        .map_err(|e| ConnError::Malformed(e.to_string()))?;
    let Some((min, max)) = dispatch::version_range(key) else {
        return Err(ConnError::UnknownApi(raw_key));
    };
    metrics::counter!("broker_requests_total", "api" => format!("{key:?}")).increment(1);
    if raw_version < min || raw_version > max {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with the ranges so the client can pick a version.
            let resp = api_versions::handle(Some(ResponseError::UnsupportedVersion));
            return encode(&header, ResponseKind::ApiVersions(resp), 0).map(Some);
        }
        return Err(ConnError::UnsupportedVersion(key, raw_version));
    }
    let req = dispatch::decode(key, &mut body, raw_version)
        .map_err(|e| ConnError::Malformed(format!("{key:?} v{raw_version}: {e}")))?;
    let no_response = matches!(&req, RequestKind::Produce(p) if p.acks == 0);
    let ctx = RequestContext {
        version: raw_version,
        client_id: header
            .client_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        client_host: format!("/{}", peer.ip()),
    };
    let resp = dispatch::handle(broker, req, &ctx).await;
    if no_response {
        return Ok(None);
    }
    encode(&header, resp, raw_version).map(Some)
}

fn encode(header: &RequestHeader, resp: ResponseKind, version: i16) -> Result<BytesMut, ConnError> {
    let key = ApiKey::try_from(header.request_api_key)
        .map_err(|()| ConnError::UnknownApi(header.request_api_key))?;
    let header_version = key.response_header_version(version);
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut out, header_version)
        .map_err(|e| ConnError::Malformed(e.to_string()))?;
    resp.encode(&mut out, version)
        .map_err(|e| ConnError::Malformed(format!("encoding {key:?} v{version} response: {e}")))?;
    Ok(out)
}
