//! The process-wide stop signal, and how a draining app instance tells the proxy.

/// Response header an app instance sets (value `1`) on every response while it drains
/// after SIGTERM. The proxy reads it as "stop sending here" and takes the instance out of
/// rotation at once, before its `/readyz` turns 503 in an active check; it strips the
/// header before the client sees the response.
pub const DRAINING_HEADER: &str = "x-flotilla-draining";

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: an orchestrator wants a graceful stop.
    Terminate,
    /// SIGINT (Ctrl-C): a person wants it stopped.
    Interrupt,
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C).
///
/// # Panics
///
/// If the signal handlers cannot be installed, which happens only when the runtime has no
/// signal driver; that is a start-up bug, not a runtime condition.
pub async fn signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        let mut interrupt = signal(SignalKind::interrupt()).expect("install SIGINT handler");
        tokio::select! {
            _ = terminate.recv() => Signal::Terminate,
            _ = interrupt.recv() => Signal::Interrupt,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}
