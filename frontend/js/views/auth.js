// Sign in and sign up: one form, two endpoints.

import { auth, session } from '../api.js';
import { h } from '../dom.js';
import { busy, field, formMessage, setFieldError, setFormMessage } from './form.js';

export function signInPage(main, ctx) {
  return authPage(main, ctx, {
    title: 'Sign in',
    submit: 'Sign in',
    working: 'Signing in…',
    action: auth.login,
    passwordAutocomplete: 'current-password',
    other: h('p', { class: 'auth__switch' }, 'New to Flotilla? ', h('a', { href: '#/signup' }, 'Create an account')),
  });
}

export function signUpPage(main, ctx) {
  return authPage(main, ctx, {
    title: 'Create an account',
    submit: 'Sign up',
    working: 'Creating your account…',
    action: auth.register,
    passwordAutocomplete: 'new-password',
    passwordHint: 'At least 8 characters.',
    other: h('p', { class: 'auth__switch' }, 'Already have an account? ', h('a', { href: '#/signin' }, 'Sign in')),
  });
}

function authPage(main, { flash, navigate }, options) {
  if (session.token) {
    navigate('#/');
    return null;
  }
  const email = field({ id: 'email', label: 'Email', type: 'email', autocomplete: 'email', required: true, spellcheck: 'false' });
  const password = field({
    id: 'password',
    label: 'Password',
    type: 'password',
    autocomplete: options.passwordAutocomplete,
    required: true,
    minlength: options.passwordHint ? 8 : null,
    hint: options.passwordHint ?? null,
  });
  const message = formMessage('auth-message');
  const button = h('button', { type: 'submit', class: 'button button--primary button--wide', id: 'auth-submit' }, options.submit);
  const form = h('form', { class: 'auth__form', novalidate: true, 'aria-labelledby': 'auth-title' },
    message, email.wrapper, password.wrapper, button);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setFormMessage(message, null);
    setFieldError(email, null);
    setFieldError(password, null);
    const missing = [[email, 'Enter your email address.'], [password, 'Enter a password.']]
      .filter(([f]) => f.input.value.trim() === '');
    if (missing.length > 0) {
      for (const [f, text] of missing) setFieldError(f, text);
      missing[0][0].input.focus();
      return;
    }
    try {
      await busy(button, options.working, () => options.action(email.input.value.trim(), password.input.value));
      navigate('#/');
    } catch (error) {
      const fields = error.fields ?? {};
      if (fields.email) setFieldError(email, fields.email);
      if (fields.password) setFieldError(password, fields.password);
      const perField = Boolean(fields.email || fields.password);
      if (!perField || error.status !== 422) setFormMessage(message, error.message);
      (fields.email ? email.input : fields.password ? password.input : email.input).focus();
    }
  });

  const external = h('div', { class: 'auth__providers', id: 'oauth-providers' });
  main.append(h('section', { class: 'auth card' },
    h('h1', { id: 'auth-title' }, options.title),
    flash ? h('p', { class: 'form-message', 'data-tone': 'info', role: 'status', id: 'flash' }, flash) : null,
    form,
    external,
    options.other));
  showProviders(external);
  return null;
}

/** Adds a "Sign in with …" link for each configured provider (none when there are none). */
async function showProviders(container) {
  let providers = [];
  try { providers = await auth.providers(); } catch { return; }
  for (const provider of providers) {
    container.append(h('a', {
      class: 'button button--wide',
      href: provider.start_url,
      'data-provider': provider.id,
    }, `Sign in with ${provider.display_name}`));
  }
}

/** `#/oauth/{code}`: where a provider sign-in lands; trades the code, then goes home. */
export function oauthDonePage(main, { navigate }) {
  const code = decodeURIComponent(location.hash.replace(/^#\/oauth\//, ''));
  // The code works once; keep it out of the history.
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  const status = h('p', { role: 'status', id: 'oauth-status' }, 'Signing you in…');
  main.append(h('section', { class: 'auth card' }, h('h1', {}, 'Signing in'), status));
  auth.exchangeOauthCode(code)
    .then(() => navigate('#/'))
    .catch((error) => { status.textContent = `Sign-in failed: ${error.message} Please start again.`; });
  return null;
}
