//! The admin listener: `/metrics`, `/healthz`, `/status`, `/sd` and `/cache/purge`. It is
//! a separate Pingora service on its own address, so nothing on the public port can reach
//! it.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode, header};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Serialize;

use crate::cache::Cache;
use crate::metrics::Metrics;
use crate::routing::SharedLive;
use crate::upstreams::BackendStatus;

/// Serves the admin endpoints from the live state and the metrics registry.
pub struct Admin {
    live: SharedLive,
    metrics: Arc<Metrics>,
    cache: Option<Arc<Cache>>,
    purge_token: Option<String>,
}

impl Admin {
    /// An admin app over `live` and `metrics`, and the cache with its purge token.
    pub fn new(
        live: SharedLive,
        metrics: Arc<Metrics>,
        cache: Option<Arc<Cache>>,
        purge_token: Option<String>,
    ) -> Self {
        Self {
            live,
            metrics,
            cache,
            purge_token,
        }
    }

    /// `POST /cache/purge?url=URL` drops one URL (all its variants);
    /// `?prefix=URL` drops every URL starting with it. Keys look like
    /// `http://host/path?query`. Answers `{"purged": N}`.
    async fn purge(&self, session: &ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        if req.method != http::Method::POST && req.method != http::Method::DELETE {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                b"use POST\n".to_vec(),
            );
        }
        if let Some(token) = &self.purge_token {
            let given = req
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|given| same_token(given, token)) {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    "text/plain",
                    b"bearer token required\n".to_vec(),
                );
            }
        }
        let Some(cache) = &self.cache else {
            return reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                b"the cache is off\n".to_vec(),
            );
        };
        let query = req.uri.query().unwrap_or("");
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let purged = match (param("url"), param("prefix")) {
            (Some(url), None) => cache.store.invalidate(&url),
            (None, Some(prefix)) => cache.store.purge_prefix(&prefix),
            _ => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    b"give exactly one of ?url= or ?prefix=\n".to_vec(),
                );
            }
        };
        json(&serde_json::json!({ "purged": purged }))
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
                if let Some(cache) = &self.cache {
                    self.metrics.observe_cache(&cache.state());
                }
                let (content_type, body) = shared::metrics::encode(self.metrics.registry());
                reply(StatusCode::OK, content_type, body)
            }
            "/healthz" => reply(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                b"ok\n".to_vec(),
            ),
            "/status" => {
                let cache = match &self.cache {
                    Some(cache) => serde_json::to_value(cache.state()).unwrap_or_default(),
                    None => serde_json::json!({ "enabled": false }),
                };
                json(&serde_json::json!({ "upstreams": self.status(), "cache": cache }))
            }
            "/cache/purge" => self.purge(session).await,
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

/// Compares a presented purge token with the configured one in time that does not depend
/// on where they differ, so the token cannot be guessed byte by byte from response times.
/// (Only its length can show.)
fn same_token(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(same_token("s3cret-token", "s3cret-token"));
        assert!(!same_token("s3cret-tokem", "s3cret-token"));
        assert!(!same_token("s3cret", "s3cret-token"));
        assert!(!same_token("", "s3cret-token"));
    }
}
