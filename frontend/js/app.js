// Boot and routing. Pages live in views/; each is a function that renders into <main>
// and may return a cleanup function, called when the page is left.

import { auth, session } from './api.js';
import { h, replace } from './dom.js';
import * as live from './live.js';
import { oauthDonePage, signInPage, signUpPage } from './views/auth.js';
import { datasetsPage } from './views/datasets.js';
import { detailPage } from './views/detail.js';

const main = document.getElementById('main');
const account = document.getElementById('account');
const notice = document.getElementById('notice');

let cleanup = null;
let flash = null;
/** The hash last rendered, so a hashchange for a page already shown renders nothing twice. */
let rendered = null;

/** Shows a message on the next page rendered (e.g. why you were signed out). */
export function setFlash(message) {
  flash = message;
}

/** Shows or hides the page-wide message. */
export function showNotice(message, tone = 'error') {
  notice.hidden = !message;
  notice.dataset.tone = tone;
  notice.textContent = message ?? '';
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function route() {
  const path = location.hash.replace(/^#/, '') || '/';
  const detail = path.match(/^\/datasets\/([^/]+)$/);
  if (detail) return { page: detailPage, params: { id: decodeURIComponent(detail[1]) } };
  if (path.startsWith('/oauth/')) return { page: oauthDonePage, params: {} };
  if (path === '/signin') return { page: signInPage, params: {} };
  if (path === '/signup') return { page: signUpPage, params: {} };
  return { page: datasetsPage, params: {} };
}

function render() {
  rendered = location.hash;
  cleanup?.();
  cleanup = null;
  showNotice(null);
  const { page, params } = route();
  const message = flash;
  flash = null;
  main.replaceChildren();
  cleanup = page(main, { ...params, flash: message, navigate, showNotice }) ?? null;
  // Move focus to the new page's heading so keyboard and screen-reader users start there.
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · Flotilla`;
  }
}

function renderAccount() {
  if (session.token) {
    replace(account,
      h('span', { class: 'account__who', title: session.user?.email ?? '' }, session.user?.email ?? 'Signed in'),
      h('button', { type: 'button', class: 'button button--quiet', id: 'sign-out', onclick: () => session.signOut() }, 'Sign out'));
  } else {
    replace(account,
      h('a', { class: 'button button--quiet', href: '#/signin' }, 'Sign in'),
      h('a', { class: 'button', href: '#/signup' }, 'Sign up'));
  }
}

session.onChange(({ signedIn, message }) => {
  renderAccount();
  live.start();
  if (!signedIn) {
    setFlash(message ?? 'You have signed out.');
    navigate('#/signin');
  }
});

// The pages are written for a strict Content-Security-Policy; count anything it blocks so a
// regression is visible (and testable) rather than a silently missing style or script.
document.addEventListener('securitypolicyviolation', (event) => {
  const root = document.documentElement;
  root.dataset.cspViolations = String(Number(root.dataset.cspViolations ?? 0) + 1);
  console.warn(`Blocked by the Content-Security-Policy: ${event.violatedDirective} ${event.blockedURI}`);
});

async function boot() {
  window.addEventListener('hashchange', () => {
    if (location.hash !== rendered) render();
  });
  renderAccount();
  if (session.token) {
    try {
      await auth.me();
    } catch (error) {
      // A 401 has already ended the session; anything else leaves the token in place.
      if (error.network) showNotice(error.message);
    }
    renderAccount();
  }
  live.start(document.getElementById('live-status'));
  render();
}

boot();
