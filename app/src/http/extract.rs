//! Typed extractors: who is asking (`AuthUser`, `MaybeAuthUser`), from where (`ClientIp`),
//! and JSON and query input whose rejections become [`Error`]s with JSON bodies.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use http::header;
use http::request::Parts;
use shared::forwarding::TrustedProxies;

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
        let claims = state.tokens.verify(token)?;
        Ok(Self(Some(AuthUser { id: claims.sub })))
    }
}

/// The client's address by the forwarding rule shared with the proxy
/// ([`shared::forwarding::client_address`]): the socket peer when it is not in
/// `trusted_proxies`, else the right-most `X-Forwarded-For` hop that is not. Hops a client
/// wrote itself, left of that, are never believed, so nobody picks the address a limit
/// counts them under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        client_ip(
            &parts.extensions,
            &parts.headers,
            &state.config.trusted_proxies,
        )
        .map(Self)
        .ok_or_else(|| anyhow::anyhow!("no peer address: serve with connect info").into())
    }
}

/// The client's address for a request with these extensions and headers; `None` when the
/// server was not started with connect info.
pub fn client_ip(
    extensions: &http::Extensions,
    headers: &http::HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    Some(shared::forwarding::client_address(trusted, peer, headers))
}
