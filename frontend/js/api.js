// The app's HTTP API, the signed-in session, and what to do when either fails.
//
// The token lives in memory and in sessionStorage (so a reload keeps you signed in, and
// closing the tab signs you out). Every request sends it as a Bearer token; a 401 on any
// request that carried one ends the session and sends the page back to sign-in.

const TOKEN_KEY = 'flotilla.token';

/** A failed API call, carrying what the server said. */
export class ApiError extends Error {
  constructor(status, code, message, fields = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields ?? {};
    this.retryAfter = retryAfter;
  }

  /** True when the request never got an answer. */
  get network() {
    return this.status === 0;
  }
}

const listeners = new Set();

export const session = {
  token: readStoredToken(),
  user: null,

  /** Calls fn(reason) whenever someone signs in or out. */
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },

  signIn(token, user) {
    this.token = token;
    this.user = user;
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage may be off */ }
    for (const fn of listeners) fn({ signedIn: true });
  },

  /** Forgets the token; `message` is shown on the sign-in page. */
  signOut(message = null) {
    const had = this.token !== null;
    this.token = null;
    this.user = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage may be off */ }
    if (had || message) for (const fn of listeners) fn({ signedIn: false, message });
  },
};

function readStoredToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export const NETWORK_MESSAGE = 'Could not reach Flotilla. Check your connection and try again.';
export const EXPIRED_MESSAGE = 'Your session has ended. Please sign in again.';

/** Reads the app's error shape, falling back to something a person can read. */
export function errorFrom(status, body, retryAfterHeader) {
  const error = body && typeof body === 'object' ? body.error : null;
  const retryAfter = retryAfterHeader ? Number.parseInt(retryAfterHeader, 10) : null;
  let message = sentence(error?.message);
  if (!message) {
    message = {
      401: 'Please sign in.',
      403: 'You are not allowed to do that.',
      404: 'Not found.',
      413: 'That file is too large.',
      415: 'That type of file is not supported. Upload a CSV file.',
      429: 'Too many attempts.',
      503: 'The service is busy. Try again in a moment.',
    }[status] ?? `Something went wrong (HTTP ${status}).`;
  }
  if (status === 429 && Number.isFinite(retryAfter)) {
    message = `${message} Try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`;
  }
  return new ApiError(status, error?.code ?? `http_${status}`, message, error?.fields, retryAfter);
}

/** The server's messages may start in lower case ("invalid email or password"). */
function sentence(text) {
  if (typeof text !== 'string' || text === '') return null;
  return text[0].toUpperCase() + text.slice(1);
}

function parseJson(text) {
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

/**
 * A JSON request. Resolves to the parsed body (null for 204), rejects with ApiError.
 * `expireOn401: false` is for sign-in itself, where a 401 means a wrong password.
 */
export async function request(method, path, { body, expireOn401 = true } = {}) {
  const headers = { Accept: 'application/json' };
  const sentToken = session.token;
  if (sentToken) headers.Authorization = `Bearer ${sentToken}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', NETWORK_MESSAGE);
  }
  const text = await response.text().catch(() => '');
  const json = parseJson(text);
  if (response.ok) return json;
  const error = errorFrom(response.status, json, response.headers.get('Retry-After'));
  if (response.status === 401 && expireOn401 && sentToken) session.signOut(EXPIRED_MESSAGE);
  throw error;
}

/** The user object from an auth answer, whether it is wrapped or not. */
export function userFrom(body) {
  return body?.user ?? body;
}

export const auth = {
  async register(email, password) {
    const body = await request('POST', '/api/auth/register', { body: { email, password }, expireOn401: false });
    session.signIn(body.token, userFrom(body));
    return body;
  },
  async login(email, password) {
    const body = await request('POST', '/api/auth/login', { body: { email, password }, expireOn401: false });
    session.signIn(body.token, userFrom(body));
    return body;
  },
  /** The OAuth / OpenID Connect providers to offer "Sign in with …" buttons for. */
  async providers() {
    const body = await request('GET', '/api/auth/oauth/providers', { expireOn401: false });
    return body.providers ?? [];
  },
  /** Trades the one-time code a provider sign-in left in the address for a session. */
  async exchangeOauthCode(code) {
    const body = await request('POST', '/api/auth/oauth/exchange', { body: { code }, expireOn401: false });
    session.signIn(body.token, userFrom(body));
    return body;
  },
  /** Loads who the stored token belongs to; a stale token ends the session. */
  async me() {
    const body = await request('GET', '/api/auth/me');
    session.user = userFrom(body);
    return session.user;
  },
};

/** The items of a list page, whatever the envelope calls them. */
export function itemsOf(page) {
  if (Array.isArray(page)) return page;
  return page?.items ?? page?.datasets ?? page?.data ?? [];
}

export const datasets = {
  list(cursor = null, limit = 25) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    return request('GET', `/api/datasets?${query}`);
  },
  get(id) {
    return request('GET', `/api/datasets/${encodeURIComponent(id)}`);
  },
  remove(id) {
    return request('DELETE', `/api/datasets/${encodeURIComponent(id)}`);
  },

  /**
   * Uploads a file as a CSV body with XMLHttpRequest, which (unlike fetch) reports upload
   * progress. `onProgress(fraction)` gets 0..1, or null when the size is unknown.
   * Returns { promise, abort }.
   */
  upload(file, { name, visibility }, onProgress) {
    const xhr = new XMLHttpRequest();
    const query = new URLSearchParams({ name, visibility });
    const promise = new Promise((resolve, reject) => {
      xhr.open('POST', `/api/datasets?${query}`);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('Content-Type', uploadType(file));
      const sentToken = session.token;
      if (sentToken) xhr.setRequestHeader('Authorization', `Bearer ${sentToken}`);
      xhr.upload.onprogress = (event) => onProgress?.(event.lengthComputable ? event.loaded / event.total : null);
      xhr.onload = () => {
        const json = parseJson(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress?.(1);
          resolve(json?.dataset ?? json);
          return;
        }
        const error = errorFrom(xhr.status, json, xhr.getResponseHeader('Retry-After'));
        if (xhr.status === 401 && sentToken) session.signOut(EXPIRED_MESSAGE);
        reject(error);
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', NETWORK_MESSAGE));
      xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload cancelled.'));
      xhr.send(file);
    });
    return { promise, abort: () => xhr.abort() };
  },
};

/**
 * The Content-Type to send a file with. Spreadsheet-ish text goes as text/csv (browsers
 * label .csv inconsistently); anything else keeps its own type so the server can refuse it.
 */
function uploadType(file) {
  const csvish = /\.(csv|tsv|txt)$/i.test(file.name)
    || ['text/csv', 'text/plain', 'text/tab-separated-values', 'application/vnd.ms-excel', 'application/csv'].includes(file.type);
  if (csvish) return 'text/csv';
  return file.type || 'application/octet-stream';
}
