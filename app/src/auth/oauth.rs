//! Sign-in with an OAuth 2.0 / OpenID Connect provider, with no HTTP routing in it: the
//! sealed state cookie ([`seal`]) and the conversation with the provider ([`provider`]).

pub mod provider;
pub mod seal;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;

use crate::config::{OauthConfig, ProviderConfig};

/// What the sign-in routes need, built once at startup.
#[derive(Debug)]
pub struct Oauth {
    /// The `[oauth]` section.
    pub config: OauthConfig,
    /// Every request to a provider goes through this client, bounded by
    /// `oauth.provider_timeout_ms`, with redirects not followed.
    pub http: reqwest::Client,
    /// Seals the state cookie with the key every instance derives from the JWT secret.
    pub sealer: seal::Sealer,
    secrets: HashMap<String, String>,
}

impl Oauth {
    /// Reads each provider's client secret (or its file) and builds the client.
    ///
    /// # Errors
    ///
    /// A `client_secret_file` that cannot be read, or a client that cannot be built.
    pub fn new(config: &OauthConfig, jwt_secret: &[u8]) -> anyhow::Result<Self> {
        let mut secrets = HashMap::new();
        for provider in &config.providers {
            let secret = match (&provider.client_secret, &provider.client_secret_file) {
                (Some(secret), _) => secret.expose().to_owned(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .with_context(|| {
                        format!(
                            "reading oauth provider {}'s client_secret_file",
                            provider.id
                        )
                    })?
                    .trim_end()
                    .to_owned(),
                (None, None) => String::new(),
            };
            secrets.insert(provider.id.clone(), secret);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.provider_timeout_ms))
            .connect_timeout(Duration::from_millis(config.provider_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("flotilla")
            .build()
            .context("building the OAuth HTTP client")?;
        Ok(Self {
            config: config.clone(),
            http,
            sealer: seal::Sealer::new(jwt_secret),
            secrets,
        })
    }

    /// The configured provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.config
            .providers
            .iter()
            .find(|provider| provider.id == id)
    }

    /// The client secret of a configured provider.
    pub fn client_secret(&self, id: &str) -> &str {
        self.secrets.get(id).map_or("", String::as_str)
    }

    /// Where the provider sends the browser back to.
    pub fn redirect_uri(&self, id: &str) -> String {
        format!(
            "{}/api/auth/oauth/{id}/callback",
            self.config.public_url.trim_end_matches('/')
        )
    }
}
