// Live events: the app's Server-Sent Events stream, read with fetch() so the Bearer token
// goes along (EventSource can't send headers), parsed here, and resumed after any break
// with Last-Event-ID so no event is lost when the instance serving the stream goes away.
//
// Where a stream cannot pass (it cannot be opened, or nothing of it arrives within
// FIRST_BYTE_MS, as behind a buffering proxy), the page switches to long polling
// (GET /api/events/poll) for the rest of its life, and says "Live (polling)".
// `?live=poll` in the page's address forces polling from the start.

import { session, EXPIRED_MESSAGE } from './api.js';
import { EventStreamParser } from './sse.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
/** The app sends a heartbeat every 15 s; two missed ones mean the stream is dead. */
const SILENCE_LIMIT_MS = 35000;
/** Consecutive failed attempts after which the indicator says offline (it keeps retrying). */
const OFFLINE_AFTER_FAILURES = 4;
/** The app answers a stream with a comment at once; silence this long means something holds it back. */
const FIRST_BYTE_MS = 5000;
/** How long one poll may wait on the server for an event. */
const POLL_WAIT_MS = 25000;
/** Events kept for views that load after the events arrived. */
const RECENT_LIMIT = 200;

const subscribers = new Set();
const recent = [];
let statusEl = null;

const state = {
  lastEventId: null,
  retryMs: FIRST_RETRY_MS,
  failures: 0,
  connections: 0,
  controller: null,
  timer: null,
  generation: 0,
  /** Whether any stream has delivered a byte: then a broken one is an outage, not a network that buffers. */
  streamWorked: false,
  /** 'stream' until a stream fails to pass, then 'poll'. */
  mode: new URLSearchParams(window.location.search).get('live') === 'poll' ? 'poll' : 'stream',
};

/** Calls fn(event) for each event ({seq, kind, dataset}); returns an unsubscribe function. */
export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

/** The events received lately, oldest first, for a view to apply after its first load. */
export function recentEvents() {
  return recent.slice();
}

/** Starts (or restarts, e.g. after sign-in) the stream, showing its state in `el`. */
export function start(el) {
  if (el) statusEl = el;
  stop();
  const generation = ++state.generation;
  state.failures = 0;
  connect(generation);
}

/** Ends the stream without reconnecting. */
export function stop() {
  state.generation += 1;
  clearTimeout(state.timer);
  state.controller?.abort();
  state.controller = null;
}

window.addEventListener('online', () => {
  if (statusEl?.dataset.state !== 'connected') start();
});
window.addEventListener('offline', () => show('offline'));

/** While retrying: offline when the browser says so or the service has been unreachable a while. */
function failing() {
  return navigator.onLine === false || state.failures >= OFFLINE_AFTER_FAILURES ? 'offline' : 'reconnecting';
}

function show(status, instance = null) {
  if (!statusEl) return;
  const labels = {
    connecting: 'Connecting…',
    connected: state.mode === 'poll' ? 'Live (polling)' : 'Live',
    reconnecting: 'Reconnecting…',
    offline: 'Offline, retrying',
  };
  statusEl.dataset.state = status;
  statusEl.dataset.mode = state.mode;
  statusEl.dataset.connections = String(state.connections);
  if (instance !== null) statusEl.dataset.instance = instance;
  if (state.lastEventId !== null) statusEl.dataset.lastEventId = state.lastEventId;
  const label = statusEl.querySelector('.live-status__label');
  label.textContent = labels[status];
  statusEl.title = status === 'connected'
    ? `${labels.connected} updates on${instance ? ` (served by ${instance})` : ''}`
    : labels[status];
}

async function connect(generation) {
  if (generation !== state.generation) return;
  if (navigator.onLine === false) {
    show('offline');
    return;
  }
  show(state.connections === 0 && state.failures === 0 ? 'connecting' : failing());
  if (state.mode === 'poll') {
    await poll(generation);
    return;
  }
  const controller = new AbortController();
  state.controller = controller;
  const headers = { Accept: 'text/event-stream' };
  const sentToken = session.token;
  if (sentToken) headers.Authorization = `Bearer ${sentToken}`;
  if (state.lastEventId !== null) headers['Last-Event-ID'] = state.lastEventId;

  let silence = null;
  let heardAny = false;
  let timedOut = false;
  const resetSilence = (ms = SILENCE_LIMIT_MS) => {
    clearTimeout(silence);
    silence = setTimeout(() => { timedOut = true; controller.abort(); }, ms);
  };
  const heard = () => {
    heardAny = true;
    state.streamWorked = true;
    resetSilence();
  };
  let opened = false;
  try {
    resetSilence(FIRST_BYTE_MS);
    const response = await fetch('/api/events', { headers, cache: 'no-store', signal: controller.signal });
    if (response.status === 401 && sentToken) {
      clearTimeout(silence);
      session.signOut(EXPIRED_MESSAGE);
      return;
    }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    opened = true;
    state.connections += 1;
    state.failures = 0;
    show('connected', response.headers.get('X-Instance') ?? '');
    await read(response.body, heard, generation);
  } catch {
    // A broken or aborted stream: fall through to reconnect.
  } finally {
    clearTimeout(silence);
  }
  if (generation !== state.generation) return;
  // No stream has ever delivered here, and this one was silent or could not be opened
  // twice running: the network does not pass streams, so poll instead.
  if (!state.streamWorked && !heardAny && (opened || timedOut || state.failures >= 1)) {
    state.mode = 'poll';
    state.failures = 0;
    connect(generation);
    return;
  }
  state.failures += 1;
  // The first retry after a stream that was up follows the server's hint; repeated failures back off.
  const base = Math.min(MAX_RETRY_MS, state.retryMs * 2 ** Math.max(0, state.failures - 1));
  const delay = base / 2 + Math.random() * (base / 2);
  show(failing());
  state.timer = setTimeout(() => connect(generation), delay);
}

/** Long-polls until the generation changes, backing off while polls fail. */
async function poll(generation) {
  while (generation === state.generation) {
    const controller = new AbortController();
    state.controller = controller;
    const headers = { Accept: 'application/json' };
    const sentToken = session.token;
    if (sentToken) headers.Authorization = `Bearer ${sentToken}`;
    const since = state.lastEventId ?? 'now';
    // The first poll answers at once, so the page knows it is live and where "now" is.
    const wait = state.lastEventId === null ? 0 : POLL_WAIT_MS;
    // The server holds the poll up to POLL_WAIT_MS; give it some slack before giving up.
    const guard = setTimeout(() => controller.abort(), POLL_WAIT_MS + 10000);
    try {
      const response = await fetch(`/api/events/poll?since=${encodeURIComponent(since)}&wait_ms=${wait}`,
        { headers, cache: 'no-store', signal: controller.signal });
      if (response.status === 401 && sentToken) {
        session.signOut(EXPIRED_MESSAGE);
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (generation !== state.generation) return;
      if (state.failures > 0 || state.connections === 0) state.connections += 1;
      state.failures = 0;
      for (const event of body.events ?? []) {
        state.lastEventId = String(event.seq);
        dispatch(event.kind, JSON.stringify(event), true);
      }
      if (Number.isInteger(body.next)) state.lastEventId = String(body.next);
      show('connected', response.headers.get('X-Instance') ?? '');
    } catch {
      if (generation !== state.generation) return;
      state.failures += 1;
      show(failing());
      const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, state.failures - 1));
      await new Promise((resolve) => { state.timer = setTimeout(resolve, base / 2 + Math.random() * (base / 2)); });
    } finally {
      clearTimeout(guard);
    }
  }
}

/** Reads the stream, handing each complete event to dispatch(). */
async function read(body, heard, generation) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventStreamParser(
    (event) => {
      const idSent = event.lastEventId !== null;
      if (idSent) state.lastEventId = event.lastEventId;
      dispatch(event.type, event.data, idSent);
    },
    (ms) => { state.retryMs = Math.min(MAX_RETRY_MS, ms); },
  );
  // Resume numbering from where the last stream left off.
  parser.lastEventId = state.lastEventId;
  for (;;) {
    const { value, done } = await reader.read();
    if (done || generation !== state.generation) return;
    heard();
    parser.feed(value);
    // An event with only an id still moves the resume point.
    if (parser.lastEventId !== null) state.lastEventId = parser.lastEventId;
  }
}

function dispatch(type, text, idSent) {
  let payload;
  try { payload = JSON.parse(text); } catch { return; }
  const event = { seq: payload.seq, kind: payload.kind ?? type, dataset: payload.dataset ?? null };
  // The sequence number is the id; should a server leave `id:` out, resume from the payload's.
  if (!idSent && Number.isInteger(payload.seq)) state.lastEventId = String(payload.seq);
  if (statusEl && state.lastEventId !== null) statusEl.dataset.lastEventId = state.lastEventId;
  recent.push(event);
  if (recent.length > RECENT_LIMIT) recent.shift();
  for (const fn of subscribers) {
    try { fn(event); } catch (error) { console.error(error); }
  }
}
