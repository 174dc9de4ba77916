//! Whose fault a failed exchange was, decided before passive ejection hears of it: a
//! client that stops sending its body must not cost a healthy backend its place, and a
//! request that lifted the backend timeouts (an upgrade or an event stream) must still
//! end when its backend never answers.

use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

use super::ctx::RequestCtx;

/// A failure the gateway attributes itself, overriding what the error alone says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The client went quiet while still sending its body: 408, no passive failure.
    ClientBody,
    /// The backend sent no response head within `timeouts.response_header_ms` on a
    /// request whose read timeouts were lifted for streaming: 504, a failed attempt.
    BackendSilent,
}

impl Fault {
    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            Self::ClientBody => 408,
            Self::BackendSilent => 504,
        }
    }
}

/// Classifies `error`, when it is one of the cases above.
pub(super) fn classify(session: &mut Session, error: &Error, ctx: &RequestCtx) -> Option<Fault> {
    if ctx
        .conn
        .as_ref()
        .is_some_and(|conn| conn.take_deadline_hit())
    {
        return Some(Fault::BackendSilent);
    }
    let timed_out = matches!(
        error.etype(),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
    );
    let body_unfinished = ctx.has_body && !session.is_body_done();
    match error.esource() {
        // Pingora's per-read downstream timeout (`timeouts.client_body_idle_ms`).
        ErrorSource::Downstream if timed_out && body_unfinished => Some(Fault::ClientBody),
        // The backend waited for a body the client never finished sending.
        ErrorSource::Upstream if timed_out && body_unfinished && ctx.upstream_status.is_none() => {
            Some(Fault::ClientBody)
        }
        _ => None,
    }
}
