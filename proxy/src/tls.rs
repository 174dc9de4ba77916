//! The certificates the HTTPS listeners serve: each listener's [`resolver::Resolver`]
//! holds its current certificate behind an `ArcSwap`, and a renewal swaps it in place.
//!
//! # Layout
//!
//! - [`certificate`]: PEM into a rustls `CertifiedKey`; a leaf's names and expiry.
//! - [`resolver`]: the rustls resolver Pingora's listener asks at every handshake.
//! - [`acme`]: `[tls.acme]`: the ACME client, its storage and lock, HTTP-01 tokens, and
//!   the background service that orders and renews.
//!
//! Why a resolver rather than Pingora's graceful socket hand-over: Pingora 0.9's rustls
//! listener takes a `ResolvesServerCert` (`TlsSettings::set_cert_resolver`), which rustls
//! asks once per handshake. Swapping the certificate it returns changes what new
//! handshakes get, and a connection already open keeps the session it negotiated; nothing
//! is refused, closed or re-bound, and no second process is needed.

pub mod acme;
pub mod certificate;
pub mod resolver;
