//! `GET /api/events/poll?since=N&wait_ms=M`: the live events for clients whose network
//! will not pass a stream (a buffering proxy holds SSE back until it ends).
//!
//! It answers `{"events": [...], "next": N2}` at once when there are events after `since`
//! the caller may see (`since=now` starts from the newest event), and otherwise waits up to `wait_ms` (default [`DEFAULT_WAIT_MS`], at
//! most [`MAX_WAIT_MS`]) for one, then answers with an empty list. The client asks again
//! with `since=next`. Events and visibility are those of the stream: both read through a
//! [`crate::realtime::Subscription`]. Each instance holds at most `max_concurrent_polls`
//! waiting polls; one more is a 503 with `Retry-After`.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Deserialize;

use super::super::extract::{MaybeAuthUser, Query};
use super::super::{Error, Result};
use crate::realtime::{self, Transport};
use crate::state::AppState;

/// How long a poll waits for an event when the client does not say.
pub(super) const DEFAULT_WAIT_MS: u64 = 25_000;
/// The longest a poll may wait: below the idle timeouts of common proxies.
pub(super) const MAX_WAIT_MS: u64 = 30_000;

/// The query, kept as text so a bad value gets a message naming it.
#[derive(Debug, Deserialize)]
pub(super) struct PollQuery {
    since: Option<String>,
    wait_ms: Option<String>,
}

/// `GET /api/events/poll`
pub(super) async fn poll(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Query(query): Query<PollQuery>,
) -> Result<Response> {
    let since = parse_since(query.since.as_deref())?.unwrap_or_else(|| state.hub.latest());
    let wait = Duration::from_millis(parse_wait_ms(query.wait_ms.as_deref())?);
    if state.draining.is_cancelled() {
        return Err(Error::Draining);
    }
    let Ok(_slot) = state.polls.clone().try_acquire_owned() else {
        return Err(Error::Busy(crate::work::Busy {
            what: "long polling",
        }));
    };
    let mut subscription = state
        .hub
        .subscribe(user.0.map(|user| user.id), since, Transport::Poll);
    let events = match tokio::time::timeout(wait, subscription.next_batch()).await {
        Ok(Some(Ok(batch))) => batch,
        Ok(Some(Err(error))) => return Err(error.into()),
        // Draining: an empty answer sends the client's next poll elsewhere.
        Ok(None) | Err(_) => Vec::new(),
    };
    let next = subscription.cursor().max(since);
    let body = format!(
        r#"{{"events":[{}],"next":{next}}}"#,
        events
            .iter()
            .map(realtime::event_json)
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// `since` is required: the `next` of the previous answer, 0 for everything, or `now`
/// (`None`) for a client that starts fresh and wants only what comes next.
fn parse_since(raw: Option<&str>) -> Result<Option<i64>> {
    let raw = raw.ok_or_else(|| {
        Error::BadRequest("since is required: the next of the previous poll, 0, or now".into())
    })?;
    if raw.trim() == "now" {
        return Ok(None);
    }
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .map(Some)
        .ok_or_else(|| {
            Error::BadRequest("since must be an event sequence number (0 or more)".into())
        })
}

/// `wait_ms` defaults to [`DEFAULT_WAIT_MS`]; above [`MAX_WAIT_MS`] it is cut to it.
fn parse_wait_ms(raw: Option<&str>) -> Result<u64> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_WAIT_MS);
    };
    raw.trim()
        .parse::<u64>()
        .map(|ms| ms.min(MAX_WAIT_MS))
        .map_err(|_| Error::BadRequest("wait_ms must be a number of milliseconds".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_required_and_must_be_a_sequence_number() {
        assert!(parse_since(None).is_err());
        assert!(parse_since(Some("-1")).is_err());
        assert!(parse_since(Some("abc")).is_err());
        assert_eq!(parse_since(Some("42")).ok(), Some(Some(42)));
        assert_eq!(parse_since(Some("now")).ok(), Some(None));
    }

    #[test]
    fn wait_defaults_and_is_capped() {
        assert_eq!(parse_wait_ms(None).ok(), Some(DEFAULT_WAIT_MS));
        assert_eq!(parse_wait_ms(Some("999999")).ok(), Some(MAX_WAIT_MS));
        assert_eq!(parse_wait_ms(Some("10")).ok(), Some(10));
        assert!(parse_wait_ms(Some("soon")).is_err());
    }
}
