// Live events: the app's Server-Sent Events stream, read with fetch() so the Bearer token
// goes along (EventSource can't send headers), parsed here, and resumed after any break
// with Last-Event-ID so no event is lost when the instance serving the stream goes away.

import { session, EXPIRED_MESSAGE } from './api.js';
import { EventStreamParser } from './sse.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
/** The app sends a heartbeat every 15 s; two missed ones mean the stream is dead. */
const SILENCE_LIMIT_MS = 35000;
/** Consecutive failed attempts after which the indicator says offline (it keeps retrying). */
const OFFLINE_AFTER_FAILURES = 4;
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
  const labels = { connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline, retrying' };
  statusEl.dataset.state = status;
  statusEl.dataset.connections = String(state.connections);
  if (instance !== null) statusEl.dataset.instance = instance;
  if (state.lastEventId !== null) statusEl.dataset.lastEventId = state.lastEventId;
  const label = statusEl.querySelector('.live-status__label');
  label.textContent = labels[status];
  statusEl.title = status === 'connected'
    ? `Live updates on${instance ? ` (served by ${instance})` : ''}`
    : labels[status];
}

async function connect(generation) {
  if (generation !== state.generation) return;
  if (navigator.onLine === false) {
    show('offline');
    return;
  }
  show(state.connections === 0 && state.failures === 0 ? 'connecting' : failing());
  const controller = new AbortController();
  state.controller = controller;
  const headers = { Accept: 'text/event-stream' };
  const sentToken = session.token;
  if (sentToken) headers.Authorization = `Bearer ${sentToken}`;
  if (state.lastEventId !== null) headers['Last-Event-ID'] = state.lastEventId;

  let silence = null;
  const resetSilence = () => {
    clearTimeout(silence);
    silence = setTimeout(() => controller.abort(), SILENCE_LIMIT_MS);
  };
  try {
    resetSilence();
    const response = await fetch('/api/events', { headers, cache: 'no-store', signal: controller.signal });
    if (response.status === 401 && sentToken) {
      clearTimeout(silence);
      session.signOut(EXPIRED_MESSAGE);
      return;
    }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    state.connections += 1;
    state.failures = 0;
    show('connected', response.headers.get('X-Instance') ?? '');
    await read(response.body, resetSilence, generation);
  } catch {
    // A broken or aborted stream: fall through to reconnect.
  } finally {
    clearTimeout(silence);
  }
  if (generation !== state.generation) return;
  state.failures += 1;
  // The first retry after a stream that was up follows the server's hint; repeated failures back off.
  const base = Math.min(MAX_RETRY_MS, state.retryMs * 2 ** Math.max(0, state.failures - 1));
  const delay = base / 2 + Math.random() * (base / 2);
  show(failing());
  state.timer = setTimeout(() => connect(generation), delay);
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
