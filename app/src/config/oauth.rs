//! `[oauth]` and `[[oauth.providers]]`: sign-in with OAuth 2.0 / OpenID Connect providers.

use std::path::PathBuf;

use serde::Deserialize;
use shared::config::ConfigError;

use super::Secret;

/// The providers the sign-in page offers, and how sign-ins with them are bounded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthConfig {
    /// The address people reach the app at (the proxy's), e.g. `https://flotilla.example`;
    /// each provider's redirect URI is `{public_url}/api/auth/oauth/{id}/callback`.
    pub public_url: String,
    /// Longest time from starting a sign-in to its callback, in seconds: how long the
    /// sealed state cookie is accepted.
    pub state_ttl_secs: u64,
    /// Longest wait for any one request to a provider (discovery, keys, token, userinfo),
    /// in milliseconds; past it the sign-in fails with "provider unreachable".
    pub provider_timeout_ms: u64,
    /// How long the one-time code the page trades for a token stays valid, in seconds.
    pub login_code_ttl_secs: u64,
    /// Any number of providers.
    pub providers: Vec<ProviderConfig>,
}

impl Default for OauthConfig {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".to_owned(),
            state_ttl_secs: 600,
            provider_timeout_ms: 5_000,
            login_code_ttl_secs: 60,
            providers: Vec::new(),
        }
    }
}

/// How the app finds a provider's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenID Connect: endpoints and keys from `{issuer}/.well-known/openid-configuration`,
    /// and an ID token that is verified.
    Oidc,
    /// Plain OAuth 2.0 (GitHub-style): explicit URLs, and the person from `userinfo_url`.
    Oauth2,
}

/// One `[[oauth.providers]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Short, URL-safe name used in routes and stored with identities; never change it.
    pub id: String,
    /// What the button says after "Sign in with".
    pub display_name: String,
    /// `oidc` or `oauth2`.
    pub kind: ProviderKind,
    /// OIDC issuer URL (`kind = "oidc"`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Authorization endpoint (`kind = "oauth2"`).
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Token endpoint (`kind = "oauth2"`).
    #[serde(default)]
    pub token_url: Option<String>,
    /// Endpoint that describes the signed-in person (`kind = "oauth2"`).
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// The client id the provider issued.
    pub client_id: String,
    /// The client secret, or use `client_secret_file`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret (trailing whitespace is ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; OIDC defaults to `openid email profile`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl OauthConfig {
    /// Checks the providers: unique URL-safe ids, the URLs their kind needs, one secret.
    ///
    /// # Errors
    ///
    /// The offending key and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let web_url =
            self.public_url.starts_with("http://") || self.public_url.starts_with("https://");
        if !self.providers.is_empty() && !web_url {
            return Err(ConfigError::invalid(
                "oauth.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        for (key, value) in [
            ("oauth.state_ttl_secs", self.state_ttl_secs),
            ("oauth.provider_timeout_ms", self.provider_timeout_ms),
            ("oauth.login_code_ttl_secs", self.login_code_ttl_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be above 0"));
            }
        }
        for (index, provider) in self.providers.iter().enumerate() {
            let key = |field: &str| format!("oauth.providers[{index}].{field}");
            let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if provider.id.is_empty() || !provider.id.chars().all(url_safe) {
                return Err(ConfigError::invalid(
                    &key("id"),
                    "must be letters, digits, - or _",
                ));
            }
            if self.providers[..index].iter().any(|p| p.id == provider.id) {
                return Err(ConfigError::invalid(
                    &key("id"),
                    "two providers share this id",
                ));
            }
            let needed: &[(&str, &Option<String>)] = match provider.kind {
                ProviderKind::Oidc => &[("issuer", &provider.issuer)],
                ProviderKind::Oauth2 => &[
                    ("authorize_url", &provider.authorize_url),
                    ("token_url", &provider.token_url),
                    ("userinfo_url", &provider.userinfo_url),
                ],
            };
            if let Some((field, _)) = needed.iter().find(|(_, value)| value.is_none()) {
                return Err(ConfigError::invalid(
                    &key(field),
                    "required for this provider kind",
                ));
            }
            if provider.client_secret.is_some() == provider.client_secret_file.is_some() {
                return Err(ConfigError::invalid(
                    &key("client_secret"),
                    "set exactly one of client_secret and client_secret_file",
                ));
            }
        }
        Ok(())
    }
}
