//! Sign-in with OAuth 2.0 / OpenID Connect providers.
//!
//! - `GET /api/auth/oauth/providers`: the configured providers, for the page's buttons.
//! - `GET /api/auth/oauth/{id}/start`: a 302 to the provider with `state`, `nonce` and a
//!   PKCE S256 challenge; the state, nonce and verifier travel in a sealed cookie (see
//!   [`crate::auth::oauth::seal`]), so the callback may land on any instance.
//! - `GET /api/auth/oauth/{id}/callback`: checks the state, trades the code, verifies the
//!   ID token, finds or creates the user, and redirects to `/#/oauth/{one-time code}`: the
//!   code sits in a fragment, which browsers never send to a server, so it lands in no
//!   log. Failures are short HTML pages with a clear message and a 4xx or 502, never a 500.
//! - `POST /api/auth/oauth/exchange` `{"code"}`: the one-time code, once, for `{token, user}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::extract::{Json, Query};
use super::{Error, Result};
use crate::auth::oauth::provider::{self, Exchange, ProviderError};
use crate::auth::oauth::seal::{Pending, code_hash, pkce_challenge};
use crate::db::identities::{self, LinkError};
use crate::db::users;
use crate::state::AppState;

/// The sealed state cookie's name; scoped to the OAuth routes.
const COOKIE: &str = "flotilla_oauth";

/// The sign-in routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/oauth/providers", get(providers))
        .route("/api/auth/oauth/{id}/start", get(start))
        .route("/api/auth/oauth/{id}/callback", get(callback))
        .route("/api/auth/oauth/exchange", post(exchange))
}

#[derive(Debug, Serialize)]
struct ProviderSummary<'a> {
    id: &'a str,
    display_name: &'a str,
    start_url: String,
}

/// `GET /api/auth/oauth/providers`
async fn providers(State(state): State<AppState>) -> Response {
    let list: Vec<_> = state
        .oauth
        .config
        .providers
        .iter()
        .map(|provider| ProviderSummary {
            id: &provider.id,
            display_name: &provider.display_name,
            start_url: format!("/api/auth/oauth/{}/start", provider.id),
        })
        .collect();
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "providers": list })),
    )
        .into_response()
}

/// `GET /api/auth/oauth/{id}/start`
async fn start(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match begin(&state, &id).await {
        Ok((location, cookie)) => {
            let mut response = StatusCode::FOUND.into_response();
            let headers = response.headers_mut();
            insert(headers, header::LOCATION, &location);
            insert(headers, header::SET_COOKIE, &cookie);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(failure) => failure.into_response(),
    }
}

async fn begin(state: &AppState, id: &str) -> Result<(String, String), Failure> {
    let oauth = &state.oauth;
    let provider = oauth.provider(id).ok_or(Failure::UnknownProvider)?;
    let endpoints = provider::endpoints(&oauth.http, provider).await?;
    let pending = Pending {
        provider: id.to_owned(),
        state: oauth.sealer.token(),
        nonce: oauth.sealer.token(),
        verifier: oauth.sealer.token(),
        expires_at: now_secs() + i64::try_from(oauth.config.state_ttl_secs).unwrap_or(600),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &oauth.redirect_uri(id))
        .append_pair("scope", &provider::scopes(provider))
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &pkce_challenge(&pending.verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let separator = if endpoints.authorize.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{query}", endpoints.authorize);
    let secure = if oauth.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/api/auth/oauth; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        oauth.sealer.seal(&pending),
        oauth.config.state_ttl_secs
    );
    Ok((location, cookie))
}

/// What the provider sends back.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /api/auth/oauth/{id}/callback`
async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let mut response = match finish(&state, &id, query, &headers).await {
        Ok(code) => {
            let mut response = StatusCode::FOUND.into_response();
            insert(
                response.headers_mut(),
                header::LOCATION,
                &format!("/#/oauth/{code}"),
            );
            response
        }
        Err(failure) => failure.into_response(),
    };
    // The state is spent either way.
    let clear = format!("{COOKIE}=; Path=/api/auth/oauth; Max-Age=0; HttpOnly; SameSite=Lax");
    insert(response.headers_mut(), header::SET_COOKIE, &clear);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn finish(
    state: &AppState,
    id: &str,
    query: CallbackQuery,
    headers: &HeaderMap,
) -> Result<String, Failure> {
    let oauth = &state.oauth;
    let provider = oauth.provider(id).ok_or(Failure::UnknownProvider)?;
    let pending = cookie(headers)
        .and_then(|sealed| oauth.sealer.open(&sealed, now_secs()))
        .filter(|pending| pending.provider == id)
        .ok_or(Failure::StateExpired)?;
    let sent = query.state.unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        sent.as_bytes(),
        pending.state.as_bytes(),
    )) {
        return Err(Failure::StateMismatch);
    }
    if let Some(error) = query.error {
        return Err(if error == "access_denied" {
            Failure::Denied
        } else {
            Failure::ProviderSaid(format!(
                "{error}{}",
                query
                    .error_description
                    .map(|text| format!(": {text}"))
                    .unwrap_or_default()
            ))
        });
    }
    let code = query.code.ok_or(Failure::StateMismatch)?;
    let endpoints = provider::endpoints(&oauth.http, provider).await?;
    let redirect_uri = oauth.redirect_uri(id);
    let exchange = Exchange {
        provider,
        client_secret: oauth.client_secret(id),
        endpoints: &endpoints,
        redirect_uri: &redirect_uri,
    };
    let account = exchange
        .account(&oauth.http, &code, &pending.verifier, &pending.nonce)
        .await?;
    let user = identities::sign_in(&state.db, &account)
        .await
        .map_err(|error| match error {
            LinkError::UnverifiedEmailCollision => Failure::UnverifiedEmail,
            LinkError::Database(error) => Failure::Service(error.into()),
        })?;
    let code = oauth.sealer.token();
    let ttl_ms =
        i64::try_from(oauth.config.login_code_ttl_secs.saturating_mul(1000)).unwrap_or(60_000);
    identities::store_code(&state.db, &code_hash(&code), &user.id, now_ms() + ttl_ms)
        .await
        .map_err(|error| Failure::Service(error.into()))?;
    Ok(code)
}

#[derive(Debug, Deserialize)]
struct ExchangeBody {
    #[serde(default)]
    code: String,
}

/// `POST /api/auth/oauth/exchange`
async fn exchange(
    State(state): State<AppState>,
    Json(body): Json<ExchangeBody>,
) -> Result<Response> {
    let user_id = identities::take_code(&state.db, &code_hash(body.code.trim()), now_ms())
        .await?
        .ok_or(Error::InvalidToken)?;
    let user = users::find(&state.db, &user_id)
        .await?
        .ok_or(Error::InvalidToken)?;
    let token = state.tokens.issue(&user.id)?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "token": token, "user": user })),
    )
        .into_response())
}

/// Why a sign-in did not complete, each answered with a page that says so.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("There is no sign-in provider by that name.")]
    UnknownProvider,
    #[error("This sign-in has expired or was started elsewhere. Please start again.")]
    StateExpired,
    #[error(
        "This sign-in's state does not match; it may have been tampered with. Please start again."
    )]
    StateMismatch,
    #[error("You declined to sign in with the provider, so you are not signed in.")]
    Denied,
    #[error("The provider refused the sign-in: {0}")]
    ProviderSaid(String),
    #[error("The provider could not be reached in time. Please try again later.")]
    Unreachable,
    #[error("This sign-in code has already been used or has expired. Please start again.")]
    CodeRefused,
    #[error("The provider's answer could not be verified, so you are not signed in.")]
    Unverifiable,
    #[error(
        "An account with this email already exists, and the provider has not verified the \
         email. Sign in with your password instead."
    )]
    UnverifiedEmail,
    #[error("The service is temporarily unavailable. Please try again.")]
    Service(Error),
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        tracing::warn!(%error, "OAuth sign-in failed at the provider");
        match error {
            ProviderError::Unreachable(_) => Self::Unreachable,
            ProviderError::CodeRefused(_) => Self::CodeRefused,
            ProviderError::Invalid(_) => Self::Unverifiable,
        }
    }
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownProvider => StatusCode::NOT_FOUND,
            Self::StateExpired | Self::StateMismatch | Self::CodeRefused => StatusCode::BAD_REQUEST,
            Self::Denied => StatusCode::FORBIDDEN,
            Self::ProviderSaid(_) | Self::Unverifiable => StatusCode::BAD_GATEWAY,
            Self::Unreachable => StatusCode::GATEWAY_TIMEOUT,
            Self::UnverifiedEmail => StatusCode::CONFLICT,
            Self::Service(error) => error.status(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::StateExpired => "state_expired",
            Self::StateMismatch => "state_mismatch",
            Self::Denied => "access_denied",
            Self::ProviderSaid(_) => "provider_error",
            Self::Unreachable => "provider_unreachable",
            Self::CodeRefused => "code_refused",
            Self::Unverifiable => "unverifiable",
            Self::UnverifiedEmail => "unverified_email",
            Self::Service(_) => "unavailable",
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if let Self::Service(error) = &self {
            tracing::warn!(%error, "OAuth sign-in could not be stored");
        }
        let message = escape(&self.to_string());
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Sign-in failed · Flotilla</title></head><body>\
             <main><h1>Sign-in failed</h1><p id=\"oauth-error\" data-code=\"{}\">{message}</p>\
             <p><a href=\"/#/signin\">Back to sign in</a></p></main></body></html>",
            self.code()
        );
        (
            self.status(),
            [(header::CACHE_CONTROL, "no-store")],
            Html(page),
        )
            .into_response()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The sealed state cookie from the request, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.append(name, value);
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
