//! One ACME order, start to finish: the account (stored, or created), a new order for the
//! domains, HTTP-01 for each authorization, a CSR for a fresh key, and the chain.

use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::challenges::Challenges;
use super::client::AcmeHttp;
use super::store::Store;
use crate::config::AcmeConfig;

/// How long the CA gets to validate every challenge, and then to issue.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// What an order yields.
#[derive(Debug)]
pub(super) struct Issued {
    /// The chain, leaf first.
    pub(super) chain_pem: String,
    /// The certificate's private key (a fresh ECDSA P-256 key per order).
    pub(super) key_pem: String,
}

/// Why an order failed; the CA's own problem text where it gave one.
#[derive(Debug, thiserror::Error)]
pub(super) enum OrderError {
    /// The CA refused a request or a challenge failed; its problem document.
    #[error("the CA refused: {0}")]
    Ca(String),
    /// The CA could not be reached, or answered something that is not ACME.
    #[error("ACME request failed: {0}")]
    Client(#[source] instant_acme::Error),
    /// `storage_dir` could not be written.
    #[error("storage: {0}")]
    Storage(#[source] std::io::Error),
    /// The certificate could not be requested (CSR) or does not load.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The HTTPS client for the CA could not be set up (`directory_ca_file`).
    #[error("ACME client: {0}")]
    Transport(String),
}

impl From<instant_acme::Error> for OrderError {
    fn from(error: instant_acme::Error) -> Self {
        match error {
            instant_acme::Error::Api(problem) => Self::Ca(problem.to_string()),
            other => Self::Client(other),
        }
    }
}

/// Orders a certificate for `config.domains`.
pub(super) async fn order(
    config: &AcmeConfig,
    store: &Store,
    challenges: &Challenges,
) -> Result<Issued, OrderError> {
    let account = account(config, store).await?;
    let identifiers: Vec<Identifier> = config
        .domains
        .iter()
        .map(|domain| Identifier::Dns(domain.clone()))
        .collect();
    let mut order = match account.new_order(&NewOrder::new(&identifiers)).await {
        Ok(order) => order,
        Err(instant_acme::Error::Api(problem)) => {
            // The CA no longer knows the stored account (a CA reset, a deactivation):
            // the next try creates a new one.
            if problem
                .r#type
                .as_deref()
                .is_some_and(|kind| kind.ends_with(":accountDoesNotExist"))
            {
                store.forget_account(config.directory());
            }
            return Err(OrderError::Ca(problem.to_string()));
        }
        Err(other) => return Err(other.into()),
    };
    let mut published = Vec::new();
    let validated = validate(&mut order, challenges, &mut published).await;
    for token in &published {
        challenges.withdraw(token);
    }
    validated?;

    let key = rcgen::KeyPair::generate().map_err(|e| OrderError::Certificate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(config.domains.clone())
        .map_err(|e| OrderError::Certificate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| OrderError::Certificate(e.to_string()))?;
    order.finalize_csr(csr.der()).await?;
    let chain_pem = order.poll_certificate(&retry_policy()).await?;
    Ok(Issued {
        chain_pem,
        key_pem: key.serialize_pem(),
    })
}

/// Publishes each pending authorization's HTTP-01 answer, tells the CA, and waits for the
/// order to be ready; on failure, the CA's reason from the failed challenge.
async fn validate(
    order: &mut instant_acme::Order,
    challenges: &Challenges,
    published: &mut Vec<String>,
) -> Result<(), OrderError> {
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        match authorization.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            status => {
                return Err(OrderError::Ca(format!(
                    "authorization for {} is {status:?}",
                    authorization.identifier()
                )));
            }
        }
        let mut challenge = authorization
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| OrderError::Ca("the CA offers no http-01 challenge".into()))?;
        let key_authorization = challenge.key_authorization();
        challenges
            .publish(&challenge.token, key_authorization.as_str())
            .map_err(OrderError::Storage)?;
        published.push(challenge.token.clone());
        challenge.set_ready().await?;
    }
    match order.poll_ready(&retry_policy()).await? {
        OrderStatus::Ready => Ok(()),
        status => Err(OrderError::Ca(failure_detail(order, status).await)),
    }
}

/// The problem documents of the failed challenges, or the order's own.
async fn failure_detail(order: &mut instant_acme::Order, status: OrderStatus) -> String {
    let mut details = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        for challenge in &state.challenges {
            if let Some(problem) = &challenge.error {
                details.push(format!("{}: {problem}", state.identifier()));
            }
        }
    }
    if details.is_empty() {
        if let Some(problem) = &order.state().error {
            details.push(problem.to_string());
        }
    }
    if details.is_empty() {
        format!("the order became {status:?}")
    } else {
        details.join("; ")
    }
}

/// The stored account for this CA, else a new one, stored.
async fn account(config: &AcmeConfig, store: &Store) -> Result<Account, OrderError> {
    let directory = config.directory();
    let http = || {
        AcmeHttp::new(config.directory_ca_file.as_deref())
            .map(|http| Box::new(http) as Box<dyn instant_acme::HttpClient>)
            .map_err(OrderError::Transport)
    };
    if let Some(json) = store.load_account(directory) {
        match serde_json::from_str::<AccountCredentials>(&json) {
            Ok(credentials) => {
                return Ok(Account::builder_with_http(http()?)
                    .from_credentials(credentials)
                    .await?);
            }
            Err(error) => {
                tracing::warn!(%error, "stored ACME account unreadable; creating a new one");
            }
        }
    }
    let contact = config
        .contact_email
        .as_ref()
        .map(|email| format!("mailto:{email}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(http()?)
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await?;
    let json =
        serde_json::to_string(&credentials).map_err(|e| OrderError::Certificate(e.to_string()))?;
    store
        .save_account(directory, &json)
        .map_err(OrderError::Storage)?;
    tracing::info!(directory, account = account.id(), "ACME account created");
    Ok(account)
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(POLL_TIMEOUT)
}
