//! The certificate resolver of an HTTPS listener. rustls asks it at every handshake; the
//! certificate it holds is swapped whole by a renewal, so a handshake sees the old one or
//! the new one, and connections already open keep the one they began with.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// One certificate for every name, swappable while the listener runs.
#[derive(Debug, Default)]
pub struct Resolver {
    /// `None` until the first certificate is issued: handshakes fail (the client sees an
    /// alert) while plain HTTP and the HTTP-01 challenge go on working.
    current: ArcSwapOption<CertifiedKey>,
}

impl Resolver {
    /// Puts `certified` into service for every handshake from now on.
    pub fn install(&self, certified: Arc<CertifiedKey>) {
        self.current.store(Some(certified));
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }
}
