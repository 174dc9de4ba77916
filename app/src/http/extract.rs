//! Typed extractors: who is asking (`AuthUser`, `MaybeAuthUser`), from where (`ClientIp`),
//! and JSON and query input whose rejections become [`Error`]s with JSON bodies.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use http::header;
use http::request::Parts;

use super::Error;
use crate::state::AppState;

/// A JSON body; a bad one is a 415, 400 or 422 in the house error format.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters; unparseable ones are a 422 in the house error format.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// The caller, proven by a valid bearer token. Missing or bad credentials answer 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The token's subject.
    pub id: String,
}

/// The caller when a token is given, or anonymous. A token that is given but invalid is
/// still a 401: a client with a stale token should learn it rather than see less.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl MaybeAuthUser {
    /// The caller's id, if any.
    pub fn id(&self) -> Option<&str> {
        self.0.as_ref().map(|user| user.id.as_str())
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        MaybeAuthUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(Error::Unauthorized)
    }
}

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|text| {
                text.strip_prefix("Bearer ")
                    .or_else(|| text.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(Error::InvalidToken)?;
        let claims = state
            .tokens
            .verify(token)
            .map_err(|_| Error::InvalidToken)?;
        Ok(Self(Some(AuthUser { id: claims.sub })))
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when the peer
/// is on loopback or a private network, where the balancer runs (next to the instances, or
/// on the same Compose or cluster network). A public peer is never believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| anyhow::anyhow!("no peer address: serve with connect info"))?;
        if !is_trusted_peer(peer) {
            return Ok(Self(peer));
        }
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|list| list.split(',').next())
            .and_then(|first| first.trim().parse::<IpAddr>().ok());
        Ok(Self(forwarded.unwrap_or(peer)))
    }
}

/// Loopback, RFC 1918 and IPv6 unique-local peers: where a balancer in front of us lives.
fn is_trusted_peer(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_loopback() || v4.is_private(),
            None => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::is_trusted_peer;

    #[test]
    fn only_local_and_private_peers_may_forward_the_client_address() {
        for trusted in [
            "127.0.0.1",
            "10.1.2.3",
            "172.17.0.2",
            "192.168.1.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_trusted_peer(trusted.parse().expect("ip")), "{trusted}");
        }
        for untrusted in ["8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(
                !is_trusted_peer(untrusted.parse().expect("ip")),
                "{untrusted}"
            );
        }
    }
}
