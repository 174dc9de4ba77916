// The home page: every dataset you can see (public ones and your own), kept current by
// live events, with the upload form beside it when you are signed in.

import { datasets, itemsOf, session } from '../api.js';
import { formatAgo, formatCount, h, replace } from '../dom.js';
import * as live from '../live.js';
import { uploadForm } from './upload.js';

export function datasetsPage(main, ctx) {
  const byId = new Map();
  const list = h('ul', { class: 'dataset-list', id: 'dataset-list', 'aria-labelledby': 'datasets-title' });
  const empty = h('p', { class: 'empty', id: 'datasets-empty', hidden: true }, 'No datasets yet. Upload the first one.');
  const status = h('p', { class: 'muted', id: 'datasets-status', role: 'status' }, 'Loading datasets…');
  const more = h('button', { type: 'button', class: 'button', id: 'load-more', hidden: true }, 'Show more');
  const announcer = h('p', { class: 'visually-hidden', 'aria-live': 'polite', id: 'datasets-live' });
  let cursor = null;
  let loaded = false;
  let pending = [];

  const side = session.token
    ? uploadForm(ctx)
    : h('section', { class: 'signin-prompt', 'aria-labelledby': 'prompt-title' },
      h('h2', { id: 'prompt-title' }, 'Analyse your own data'),
      h('p', null, 'Sign in to upload a CSV file and get per-column statistics, histograms and top values.'),
      h('div', { class: 'actions' },
        h('a', { class: 'button button--primary', href: '#/signin' }, 'Sign in'),
        h('a', { class: 'button', href: '#/signup' }, 'Create an account')));

  main.append(
    h('div', { class: 'page-head' },
      h('h1', { id: 'datasets-title' }, 'Datasets'),
      h('p', { class: 'muted' }, session.token ? 'Public datasets and your own, updated live.' : 'Public datasets, updated live.')),
    h('div', { class: 'layout-split' },
      h('section', { class: 'card list-card', 'aria-labelledby': 'datasets-title' }, status, empty, list, more, announcer),
      h('div', { class: 'card' }, side)));

  const refreshEmpty = () => {
    empty.hidden = !loaded || byId.size > 0;
  };

  const add = (dataset, { atTop = false, fresh = false } = {}) => {
    if (!dataset?.id || byId.has(String(dataset.id))) return;
    const item = renderItem(dataset, fresh);
    byId.set(String(dataset.id), item);
    if (atTop) list.prepend(item);
    else list.append(item);
    refreshEmpty();
  };

  const remove = (id) => {
    const item = byId.get(String(id));
    if (!item) return;
    byId.delete(String(id));
    item.remove();
    refreshEmpty();
  };

  const apply = (event) => {
    if (!loaded) {
      pending.push(event);
      return;
    }
    if (event.kind === 'dataset.created' && event.dataset) {
      const known = byId.has(String(event.dataset.id));
      add(event.dataset, { atTop: true, fresh: true });
      if (!known) announcer.textContent = `New dataset: ${event.dataset.name ?? 'untitled'}`;
    } else if (event.kind === 'dataset.deleted' && event.dataset) {
      remove(event.dataset.id);
    }
  };

  const load = async () => {
    try {
      const page = await datasets.list(cursor);
      for (const dataset of itemsOf(page)) add(dataset);
      cursor = page?.next_cursor ?? null;
      more.hidden = !cursor;
      status.hidden = true;
      if (!loaded) {
        loaded = true;
        // Events that arrived while the list was loading, or before this page opened.
        for (const event of [...live.recentEvents(), ...pending]) apply(event);
        pending = [];
      }
      refreshEmpty();
    } catch (error) {
      status.hidden = false;
      status.dataset.tone = 'error';
      replace(status, error.message);
    }
  };

  more.addEventListener('click', async () => {
    more.disabled = true;
    await load();
    more.disabled = false;
  });

  const unsubscribe = live.subscribe(apply);
  load();
  return unsubscribe;
}

function renderItem(dataset, fresh) {
  const id = String(dataset.id);
  const rawColumns = dataset.columns ?? dataset.column_count ?? dataset.analysis?.columns;
  const columns = Array.isArray(rawColumns) ? rawColumns.length : rawColumns;
  const rows = dataset.rows ?? dataset.row_count ?? dataset.analysis?.rows;
  const facts = [
    typeof rows === 'number' ? `${formatCount(rows)} rows` : null,
    typeof columns === 'number' ? `${formatCount(columns)} columns` : null,
    dataset.created_at ? formatAgo(dataset.created_at) : null,
  ].filter(Boolean);
  return h('li', { class: ['dataset-item', fresh && 'dataset-item--new'], 'data-id': id },
    h('a', { class: 'dataset-item__link', href: `#/datasets/${encodeURIComponent(id)}` }, dataset.name ?? 'Untitled'),
    h('div', { class: 'dataset-item__meta' },
      visibilityBadge(dataset.visibility),
      isMine(dataset) ? h('span', { class: 'badge badge--mine' }, 'Yours') : null,
      facts.length > 0 ? h('span', { class: 'muted' }, facts.join(' · ')) : null));
}

/** A public/private badge. */
export function visibilityBadge(visibility) {
  if (!visibility) return null;
  return h('span', { class: `badge badge--${visibility === 'private' ? 'private' : 'public'}` }, visibility === 'private' ? 'Private' : 'Public');
}

/** Whether the signed-in user owns the dataset, whichever way the server says so. */
export function isMine(dataset) {
  if (dataset?.mine === true || dataset?.owned === true || dataset?.is_owner === true) return true;
  const me = session.user?.id;
  if (me === undefined || me === null) return false;
  const owner = dataset?.owner_id ?? dataset?.owner?.id ?? dataset?.user_id ?? dataset?.owner;
  return owner !== undefined && owner !== null && String(owner) === String(me);
}
