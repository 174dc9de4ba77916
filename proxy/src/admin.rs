//! The admin listener: the dashboard (`/`, its script and style, and its live `/events`
//! stream), `/metrics`, `/healthz`, `/status`, `/sd`, and the operator's actions
//! (`/backends/{upstream}/{addr}/drain` and `/undrain`, `/cache/purge`). It is a separate
//! Pingora service on its own address, so nothing on the public port can reach it.
//!
//! Reads need no token. Actions need `Authorization: Bearer <admin.token>` when a token is
//! set; with none set they are allowed only on a loopback admin address, where only the
//! host's own users can reach them.

mod actions;
mod events;
mod history;
mod page;

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode, header};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use serde::Serialize;

pub use self::history::{History, Sampler};
use crate::cache::Cache;
use crate::metrics::Metrics;
use crate::routing::SharedLive;
use crate::upstreams::BackendStatus;

/// Serves the admin endpoints from the live state, the metrics registry and the history.
pub struct Admin {
    live: SharedLive,
    metrics: Arc<Metrics>,
    cache: Option<Arc<Cache>>,
    history: Arc<History>,
    guard: actions::Guard,
    streams: events::Streams,
}

/// What [`Admin::new`] needs beyond the shared state.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The bearer token actions require, if set.
    pub token: Option<String>,
    /// Whether the admin address is a loopback one (actions without a token allowed).
    pub loopback: bool,
    /// How many `/events` streams may be open at once.
    pub max_event_streams: usize,
}

impl Admin {
    /// An admin app over `live`, `metrics`, the cache and the history the sampler feeds.
    pub fn new(
        live: SharedLive,
        metrics: Arc<Metrics>,
        cache: Option<Arc<Cache>>,
        history: Arc<History>,
        settings: AdminSettings,
    ) -> Self {
        Self {
            live,
            metrics,
            cache,
            history,
            guard: actions::Guard::new(settings.token, settings.loopback),
            streams: events::Streams::new(settings.max_event_streams),
        }
    }

    /// Every answer but `/events`'s stream.
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        if let Some(rest) = path.strip_prefix("/backends/") {
            return actions::backend(self, session, rest).await;
        }
        match path.as_str() {
            "/" | "/index.html" => page::index(),
            "/dashboard.js" => page::script(),
            "/dashboard.css" => page::style(),
            "/metrics" => {
                if let Some(cache) = &self.cache {
                    self.metrics.observe_cache(&cache.state());
                }
                self.metrics.observe_log(shared::telemetry::dropped_lines());
                let (content_type, body) = shared::metrics::encode(self.metrics.registry());
                reply(StatusCode::OK, content_type, body)
            }
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/status" => {
                let cache = match &self.cache {
                    Some(cache) => serde_json::to_value(cache.state()).unwrap_or_default(),
                    None => serde_json::json!({ "enabled": false }),
                };
                json(&serde_json::json!({ "upstreams": self.status(), "cache": cache }))
            }
            "/cache/purge" => actions::purge(self, session).await,
            "/sd" => json(&self.service_discovery()),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
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
impl HttpServerApp for Admin {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match session.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(error) => {
                tracing::debug!(%error, "admin: unreadable request");
                return None;
            }
        }
        session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
        if session.req_header().uri.path() == "/events" {
            events::serve(self, session, shutdown.clone()).await;
            return None;
        }
        let response = self.response(&mut session).await;
        let (parts, body) = response.into_parts();
        let head: ResponseHeader = parts.into();
        if let Err(error) = session.write_response_header(Box::new(head)).await {
            tracing::debug!(%error, "admin: client went away");
            return None;
        }
        if !body.is_empty() {
            if let Err(error) = session.write_response_body(body.into(), true).await {
                tracing::debug!(%error, "admin: client went away");
                return None;
            }
        }
        let settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(reusable) => reusable.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(error) => {
                tracing::debug!(%error, "admin: could not finish the response");
                None
            }
        }
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

fn json(value: &impl Serialize) -> Response<Vec<u8>> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => reply(StatusCode::OK, "application/json", body),
        Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", Vec::new()),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    reply(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    let length = response.body().len();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}
