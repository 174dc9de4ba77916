//! Talking to a provider: discovery (OIDC), the code-for-token exchange with the PKCE
//! verifier, ID token verification against the provider's JWKS (signature, `iss`, `aud`,
//! `exp`, `nonce`), and the userinfo call for plain OAuth 2.0 providers. Every request is
//! bounded by `oauth.provider_timeout_ms`.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{ProviderConfig, ProviderKind};
use crate::db::identities::ExternalAccount;

/// Why a provider conversation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No answer in time, or no connection.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused the code: already used, expired, or not ours.
    #[error("the provider refused the sign-in code: {0}")]
    CodeRefused(String),
    /// An answer that does not hold up: a bad ID token, a missing field.
    #[error("the provider's answer was not acceptable: {0}")]
    Invalid(String),
}

impl From<reqwest::Error> for ProviderError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() || error.is_connect() || error.is_request() {
            Self::Unreachable(error.to_string())
        } else {
            Self::Invalid(error.to_string())
        }
    }
}

/// Where a provider's endpoints are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where the browser is sent.
    pub authorize: String,
    /// Where the code is exchanged.
    pub token: String,
    /// Who the person is (plain OAuth 2.0).
    pub userinfo: Option<String>,
    /// The signing keys (OIDC).
    pub jwks: Option<String>,
    /// The `iss` ID tokens must carry (OIDC).
    pub issuer: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

/// The provider's endpoints: from discovery for OIDC, from the config otherwise.
///
/// # Errors
///
/// The provider is unreachable or its discovery document is not one.
pub async fn endpoints(
    http: &reqwest::Client,
    provider: &ProviderConfig,
) -> Result<Endpoints, ProviderError> {
    match provider.kind {
        ProviderKind::Oauth2 => Ok(Endpoints {
            authorize: provider.authorize_url.clone().unwrap_or_default(),
            token: provider.token_url.clone().unwrap_or_default(),
            userinfo: provider.userinfo_url.clone(),
            jwks: None,
            issuer: None,
        }),
        ProviderKind::Oidc => {
            let issuer = provider.issuer.clone().unwrap_or_default();
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let response = http.get(url).send().await?;
            if !response.status().is_success() {
                return Err(ProviderError::Unreachable(format!(
                    "discovery answered {}",
                    response.status()
                )));
            }
            let discovery: Discovery = response.json().await?;
            if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
                return Err(ProviderError::Invalid(
                    "the discovery document names another issuer".into(),
                ));
            }
            Ok(Endpoints {
                authorize: discovery.authorization_endpoint,
                token: discovery.token_endpoint,
                userinfo: discovery.userinfo_endpoint,
                jwks: Some(discovery.jwks_uri),
                issuer: Some(discovery.issuer),
            })
        }
    }
}

/// The scopes asked for: the configured ones, or OIDC's usual three.
pub fn scopes(provider: &ProviderConfig) -> String {
    if provider.scopes.is_empty() && provider.kind == ProviderKind::Oidc {
        return "openid email profile".to_owned();
    }
    provider.scopes.join(" ")
}

/// One step of the callback: the code (with the verifier) for tokens, then the person.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The provider's configuration.
    pub provider: &'a ProviderConfig,
    /// Its client secret, read from the config or its file.
    pub client_secret: &'a str,
    /// Where it is.
    pub endpoints: &'a Endpoints,
    /// The redirect URI the start sent.
    pub redirect_uri: &'a str,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl Exchange<'_> {
    /// Trades `code` for tokens and returns who signed in.
    ///
    /// # Errors
    ///
    /// [`ProviderError`]: unreachable, the code refused, or an ID token that fails a check.
    pub async fn account(
        &self,
        http: &reqwest::Client,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<ExternalAccount, ProviderError> {
        let response = http
            .post(&self.endpoints.token)
            .header(http::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.redirect_uri),
                ("client_id", self.provider.client_id.as_str()),
                ("client_secret", self.client_secret),
                ("code_verifier", verifier),
            ])
            .send()
            .await?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Unreachable(format!(
                "token endpoint answered {status}"
            )));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|error| ProviderError::Invalid(format!("token answer: {error}")))?;
        if let Some(error) = answer.error {
            let description = answer.error_description.unwrap_or_default();
            return Err(ProviderError::CodeRefused(format!("{error} {description}")));
        }
        if !status.is_success() {
            return Err(ProviderError::CodeRefused(format!(
                "token endpoint answered {status}"
            )));
        }
        match self.provider.kind {
            ProviderKind::Oidc => {
                let id_token = answer
                    .id_token
                    .ok_or_else(|| ProviderError::Invalid("no id_token".into()))?;
                self.verify_id_token(http, &id_token, nonce).await
            }
            ProviderKind::Oauth2 => {
                let access_token = answer
                    .access_token
                    .ok_or_else(|| ProviderError::Invalid("no access_token".into()))?;
                self.userinfo(http, &access_token).await
            }
        }
    }

    async fn verify_id_token(
        &self,
        http: &reqwest::Client,
        id_token: &str,
        nonce: &str,
    ) -> Result<ExternalAccount, ProviderError> {
        let invalid = |what: &str| ProviderError::Invalid(format!("ID token: {what}"));
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| invalid("malformed"))?;
        let jwks_uri = self
            .endpoints
            .jwks
            .as_deref()
            .ok_or_else(|| invalid("no JWKS"))?;
        let keys: JwkSet = http.get(jwks_uri).send().await?.json().await?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None => keys.keys.first(),
        }
        .ok_or_else(|| invalid("signed with an unknown key"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable key"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[self.provider.client_id.as_str()]);
        if let Some(issuer) = &self.endpoints.issuer {
            validation.set_issuer(&[issuer.as_str()]);
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
            .map_err(|error| invalid(&error.to_string()))?
            .claims;
        if claims["nonce"].as_str() != Some(nonce) {
            return Err(invalid("the nonce does not match this sign-in"));
        }
        self.person(&claims)
    }

    async fn userinfo(
        &self,
        http: &reqwest::Client,
        access_token: &str,
    ) -> Result<ExternalAccount, ProviderError> {
        let url = self
            .endpoints
            .userinfo
            .as_deref()
            .ok_or_else(|| ProviderError::Invalid("no userinfo_url".into()))?;
        let response = http
            .get(url)
            .bearer_auth(access_token)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(ProviderError::Invalid(format!(
                "userinfo answered {}",
                response.status()
            )));
        }
        let person: Value = response.json().await?;
        self.person(&person)
    }

    /// `sub` (or GitHub's numeric `id`), `email` and `email_verified` from claims.
    fn person(&self, claims: &Value) -> Result<ExternalAccount, ProviderError> {
        let subject = match (&claims["sub"], &claims["id"]) {
            (Value::String(sub), _) => sub.clone(),
            (_, Value::Number(id)) => id.to_string(),
            (_, Value::String(id)) => id.clone(),
            _ => return Err(ProviderError::Invalid("no subject".into())),
        };
        Ok(ExternalAccount {
            provider: self.provider.id.clone(),
            subject,
            email: claims["email"]
                .as_str()
                .map(|email| email.trim().to_lowercase())
                .filter(|email| !email.is_empty()),
            email_verified: claims["email_verified"].as_bool() == Some(true),
        })
    }
}
