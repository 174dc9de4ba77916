//! The admin listener: `/metrics`, `/healthz`, `/status` and `/sd`. It is a separate
//! Pingora service on its own address, so nothing on the public port can reach it.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode, header};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::routing::SharedLive;
use crate::upstreams::BackendStatus;

/// Serves the admin endpoints from the live state and the metrics registry.
pub struct Admin {
    live: SharedLive,
    metrics: Arc<Metrics>,
}

impl Admin {
    /// An admin app over `live` and `metrics`.
    pub fn new(live: SharedLive, metrics: Arc<Metrics>) -> Self {
        Self { live, metrics }
    }

    fn status(&self) -> Vec<UpstreamStatus> {
        self.live
            .load()
            .upstreams()
            .iter()
            .map(|(name, group)| UpstreamStatus {
                name: name.clone(),
                eligible: group.eligible_count(),
                backends: group.snapshot(),
            })
            .collect()
    }

    fn service_discovery(&self) -> Vec<SdGroup> {
        self.live
            .load()
            .upstreams()
            .iter()
            .map(|(name, group)| SdGroup {
                targets: group
                    .snapshot()
                    .iter()
                    .map(|b| b.addr.to_string())
                    .collect(),
                labels: SdLabels {
                    upstream: name.clone(),
                },
            })
            .collect()
    }
}

/// One group in `/status`.
#[derive(Debug, Serialize)]
struct UpstreamStatus {
    name: String,
    eligible: usize,
    backends: Vec<BackendStatus>,
}

/// One target group in Prometheus HTTP service-discovery format.
#[derive(Debug, Serialize)]
struct SdGroup {
    targets: Vec<String>,
    labels: SdLabels,
}

#[derive(Debug, Serialize)]
struct SdLabels {
    upstream: String,
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        match path.as_str() {
            "/metrics" => {
                let (content_type, body) = shared::metrics::encode(self.metrics.registry());
                reply(StatusCode::OK, content_type, body)
            }
            "/healthz" => reply(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                b"ok\n".to_vec(),
            ),
            "/status" => json(&serde_json::json!({ "upstreams": self.status() })),
            "/sd" => json(&self.service_discovery()),
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                b"not found\n".to_vec(),
            ),
        }
    }
}

fn json(value: &impl Serialize) -> Response<Vec<u8>> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => reply(StatusCode::OK, "application/json", body),
        Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", Vec::new()),
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    let length = response.body().len();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    response
}
