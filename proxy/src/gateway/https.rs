//! The listener's part of a request: a plain listener with `redirect_to_https` answers
//! `308` to the same URL over HTTPS, and a TLS listener with `hsts_max_age_secs` stamps
//! `Strict-Transport-Security` on every response it sends.
//!
//! What each listener does is decided once, when the server is built ([`Listeners`]);
//! a request only finds its listener by the local address it arrived on. Listeners are
//! not reloaded (a SIGHUP keeps the listeners the process started with), so neither
//! is this.
//!
//! Two kinds of request on a redirecting listener are served over HTTP as before:
//! ACME HTTP-01 challenges (under
//! [`CHALLENGE_PATH_PREFIX`](super::acme_challenge::CHALLENGE_PATH_PREFIX)), which a
//! certificate authority only asks over HTTP on port 80, and the proxy's own
//! `[public] health_path`,
//! which a load balancer in front checks over HTTP (the gateway answers it before this
//! module is asked).

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;
use pingora::Result;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

use super::ctx::RequestCtx;
use super::inspect;
use super::respond::{self, Refusal};
use crate::config::ListenerConfig;

/// The route label of redirected requests in metrics and the access log.
pub(super) const REDIRECT_ROUTE: &str = "https_redirect";

/// What one public listener adds to the requests that arrive on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerPolicy {
    /// `redirect_to_https`: the `:port` that follows the host in the `Location` (empty
    /// for 443), taken from the first TLS listener.
    redirect: Option<String>,
    /// `hsts_max_age_secs`: the `Strict-Transport-Security` value every response gets.
    hsts: Option<HeaderValue>,
}

impl ListenerPolicy {
    /// The `Strict-Transport-Security` value for responses over this listener, if any.
    pub(super) fn hsts(&self) -> Option<&HeaderValue> {
        self.hsts.as_ref()
    }
}

/// Every public listener's [`ListenerPolicy`], by the address it binds.
#[derive(Debug, Default)]
pub struct Listeners {
    /// In config order; `addr` may be unspecified (`0.0.0.0:80`), matching any local IP.
    entries: Vec<(SocketAddr, Arc<ListenerPolicy>)>,
}

impl Listeners {
    /// The policies of `[[listeners]]`, as validated (a redirect implies a TLS listener).
    pub fn from_config(listeners: &[ListenerConfig]) -> Self {
        let https_port = listeners
            .iter()
            .find(|l| l.tls.is_some())
            .map(|l| l.addr.port());
        let entries = listeners
            .iter()
            .map(|listener| {
                let redirect = https_port
                    .filter(|_| listener.redirect_to_https)
                    .map(|port| match port {
                        443 => String::new(),
                        port => format!(":{port}"),
                    });
                let hsts = listener
                    .hsts_max_age_secs
                    .filter(|_| listener.tls.is_some())
                    .map(|secs| hsts_value(secs, listener.hsts_include_subdomains));
                let policy = ListenerPolicy { redirect, hsts };
                (listener.addr, Arc::new(policy))
            })
            .collect();
        Self { entries }
    }

    /// The policy of the listener a connection to `local` was accepted on: the listener
    /// bound to exactly that address, else one bound to the unspecified address on its
    /// port. `None` for an address no listener binds.
    pub fn policy_for(&self, local: Option<SocketAddr>) -> Option<Arc<ListenerPolicy>> {
        let local = local?;
        let exact = self.entries.iter().find(|(addr, _)| *addr == local);
        let wildcard = || {
            self.entries
                .iter()
                .find(|(addr, _)| addr.port() == local.port() && addr.ip().is_unspecified())
        };
        exact.or_else(wildcard).map(|(_, policy)| policy.clone())
    }

    /// Whether no listener redirects or sends HSTS, so requests need not look theirs up.
    pub fn is_inert(&self) -> bool {
        self.entries
            .iter()
            .all(|(_, policy)| **policy == ListenerPolicy::default())
    }
}

fn hsts_value(max_age_secs: u64, include_subdomains: bool) -> HeaderValue {
    let text = match include_subdomains {
        true => format!("max-age={max_age_secs}; includeSubDomains"),
        false => format!("max-age={max_age_secs}"),
    };
    // Digits, letters, `=`, `;` and a space: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("max-age=0"))
}

/// `request_filter`'s part: on a `redirect_to_https` listener, answers the request with
/// `308 Permanent Redirect` to the same path and query over HTTPS (the method and body
/// are kept by the client, unlike with 301), or `400` when its `Host` is missing or not
/// a valid authority, so the redirect never points anywhere the request did not name.
/// True when it answered.
pub(super) async fn redirect(session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let Some(port) = ctx.listener.as_ref().and_then(|l| l.redirect.as_deref()) else {
        return Ok(false);
    };
    let req = session.req_header();
    if super::acme_challenge::is_challenge_path(req.uri.path()) {
        return Ok(false);
    }
    let answer = location(req, port);
    ctx.route = Arc::from(REDIRECT_ROUTE);
    match answer {
        Ok(location) => {
            let mut header = ResponseHeader::build(308, Some(3))?;
            header.insert_header(http::header::LOCATION, location)?;
            header.insert_header(http::header::CONTENT_LENGTH, "0")?;
            if ctx.has_body {
                // The body was not read; it must not be taken for the next request.
                session.set_keepalive(None);
            }
            respond::send(session, ctx, header, None).await?;
        }
        Err(refusal) => respond::refuse(session, ctx, refusal).await?,
    }
    Ok(true)
}

/// `https://` + the request's host without its port + `port` + its path and query.
fn location(req: &RequestHeader, port: &str) -> Result<String, Refusal> {
    let authority = inspect::authority(req)
        .map_err(|()| Refusal {
            status: 400,
            message: "the Host is not a valid authority",
        })?
        .ok_or(Refusal {
            status: 400,
            message: "a Host is needed to redirect to HTTPS",
        })?;
    let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
    if !target.starts_with('/') {
        return Err(Refusal {
            status: 400,
            message: "only a path can be redirected to HTTPS",
        });
    }
    Ok(format!("https://{}{port}{target}", authority.host()))
}

#[cfg(test)]
mod tests;
