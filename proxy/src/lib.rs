//! Flotilla's load balancer: a Pingora reverse proxy in front of N stateless app
//! instances, with health-checked balancing, safe retries and an admin listener.
//!
//! # Layout
//!
//! - [`cli`]: the program's entry point, shared by the `proxy` binary and the stack.
//! - [`config`]: the TOML file (and quick-mode flags) into a validated [`config::Config`];
//!   `proxy check` is [`config::Config::load`].
//! - [`server`]: builds the Pingora server: public listeners (HTTP, HTTPS with h2),
//!   the admin service, and the control thread (health checks, SIGHUP reloads).
//! - [`routing`]: the swappable state (routes, upstream groups, limits) behind `ArcSwap`.
//! - [`gateway`]: the one `ProxyHttp` implementation and its typed per-request context.
//! - [`upstreams`]: backends, selection, active and passive health, discovery, retry budget.
//! - [`cache`]: the RFC 9111 response cache on moka, with coalescing and stale serving.
//! - [`admin`]: `/metrics`, `/healthz`, `/status`, `/sd`, `/cache/purge`.
//! - [`metrics`]: the proxy's Prometheus series.
//! - [`tls`]: the HTTPS listeners' certificates: a swappable resolver, and `[tls.acme]`
//!   (ordering, storage, renewal in the background).
//! - [`error`]: why start-up failed.
//!
//! # Phase flow of one request
//!
//! 1. Connection accepted: `gateway::Front` admits it within `limits.max_connections` and
//!    `max_connections_per_ip` (else 503 and close), then closes it if a request head
//!    takes longer than `timeouts.client_header_ms` from its first byte, or the
//!    connection idles between requests longer than `timeouts.client_idle_ms`.
//! 2. `early_request_filter`: request id, stream detection, the body's per-read timeout
//!    (`timeouts.client_body_idle_ms`), and the listener the request arrived on
//!    (`gateway::Listeners`, by local address).
//! 3. `request_filter`: the public health path; with `[tls.acme]`,
//!    `/.well-known/acme-challenge/{token}` is answered by the proxy
//!    (`gateway::acme_challenge`); on a `redirect_to_https` listener, a 308 to the same URL
//!    over HTTPS (400 without a valid `Host`); 400 for a `Host` that is not an authority,
//!    431 / 413 limits, then routing: deny → 404, no route → 404.
//!    On a cache-enabled route, a usable stored copy answers here (`X-Cache: HIT`, or a
//!    304 for a matching conditional request); a miss joins the key's coalescing lock.
//!    A `GET`/`HEAD` without a body on a hedging group is then run by `gateway::hedge`:
//!    its attempts (hedge, re-dispatch, retries) race outside Pingora's one-attempt path,
//!    and the winner goes through steps 6 and 7 as below; steps 4 and 5 are skipped.
//! 4. `upstream_peer`: the group selects a backend not yet tried; none → 503 with
//!    `Retry-After`. Connect, response-header and idle timeouts go on the peer; a
//!    would-be stream instead waits `response_header_ms` for its head by a deadline on
//!    the client connection's reads, lifted by a 101 or an event stream.
//! 5. `fail_to_connect` / `error_while_proxy`: a timeout while the client's body is
//!    unfinished is the client's fault (408, nothing recorded); otherwise record the
//!    attempt's outcome and decide the retry (any method after a connect failure;
//!    idempotent, bodiless requests once after a break before the response), within
//!    `max_attempts` and the retry budget.
//! 6. `upstream_request_filter`: `X-Forwarded-*`, `X-Request-Id`, `Via` (Pingora has already
//!    stripped hop-by-hop fields).
//!    A stale stored copy adds its validators (`If-None-Match`, `If-Modified-Since`).
//! 7. `upstream_response_filter` / `response_filter`: note the status; add `Via`,
//!    `X-Request-Id`, `X-Cache` and, on a listener with `hsts_max_age_secs`,
//!    `Strict-Transport-Security` for the client (the proxy's own responses get them too). The cache decides whether to capture
//!    the body (`upstream_response_body_filter`, stored at its last byte, which releases
//!    coalesced waiters); an origin 304 to its revalidation, or a
//!    5xx within `stale-if-error`, ends the attempt so the stored copy answers instead.
//!    Bodies, SSE and WebSocket frames stream through.
//! 8. `fail_to_proxy`: the stored copy (revalidated, or stale within `stale-if-error`),
//!    else a JSON error response when nothing could be forwarded.
//! 9. `logging`: release the waiters of a fill that never completed; finish the
//!    attempt, record metrics (`X-Cache` result included), write the access-log line.

pub mod admin;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod gateway;
pub mod metrics;
pub mod routing;
pub mod server;
pub mod tls;
pub mod upstreams;

/// mimalloc instead of glibc's malloc: the request path allocates for every header map,
/// buffer and task, and glibc's arenas cost about a fifth of the proxy's CPU in profiles
/// (docs/benchmarks.md). Declared here, in the library, so every process that runs the
/// proxy gets it, the stack's proxy process included.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
