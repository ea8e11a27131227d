// DOM helpers and the paged, filterable table every list uses. Text always goes through
// textContent (ids, names and file contents come from frameworks and agents).

import { stateClass, stateLabel } from './format.js';

/** h('div', {class: 'x', onclick: f}, child, 'text', [more]) → Element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text);
}

export function badge(state) {
  return h('span', { class: `badge ${stateClass(state)}`, title: state || '' }, stateLabel(state));
}

export function pill(text, cls = 'idle', title) {
  return h('span', { class: `badge ${cls}`, title }, text);
}

/** An error panel with the API's status and message; never a blank page. */
export function errorBox(err, what) {
  const status = err && err.status ? ` (HTTP ${err.status})` : '';
  return h('div', { class: 'error-box', role: 'alert' },
    h('strong', {}, what ? `Could not load ${what}${status}` : `Error${status}`),
    h('pre', {}, (err && err.message) || String(err)));
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

/** A definition list of [label, value] pairs (values may be nodes). */
export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '–')]));
}

/** A horizontal meter: used of total, with the label on it. */
export function meter(used, total, label) {
  const f = total > 0 ? Math.min(1, used / total) : 0;
  return h('div', { class: 'meter', title: label },
    h('div', { class: 'meter-fill', style: { width: `${(f * 100).toFixed(1)}%` } }),
    h('span', {}, label));
}

/**
 * A table over an array of rows: a filter box, sortable columns, pages of `pageSize`.
 * columns: [{key, label, value(row) → sortable, render(row) → node|text, class}]
 * Keeps its controls when rows change, so live updates do not steal focus or reset the page.
 */
export class Table {
  constructor({ columns, pageSize = 50, filterPlaceholder = 'Filter…', emptyText = 'Nothing here.', rowKey, filters = [], id }) {
    this.columns = columns;
    this.pageSize = pageSize;
    this.page = 0;
    this.query = '';
    this.sort = null;
    this.emptyText = emptyText;
    this.rows = [];
    this.rowKey = rowKey;
    this.selects = filters; // [{label, options: [[value, text]], test(row, value)}]
    this.selectValues = filters.map((f) => f.value || '');
    this.input = h('input', { type: 'search', class: 'filter', placeholder: filterPlaceholder, 'aria-label': 'filter',
      oninput: () => { this.query = this.input.value.trim().toLowerCase(); this.page = 0; this.draw(); } });
    const selectEls = filters.map((f, i) => h('select', { class: 'filter-select', 'aria-label': f.label,
      onchange: (e) => { this.selectValues[i] = e.target.value; this.page = 0; this.draw(); } },
    h('option', { value: '' }, f.label), f.options.map(([v, t]) => h('option', { value: v, selected: v === f.value }, t))));
    this.count = h('span', { class: 'count' });
    this.prev = h('button', { class: 'pager', onclick: () => { this.page -= 1; this.draw(); } }, '‹ Prev');
    this.next = h('button', { class: 'pager', onclick: () => { this.page += 1; this.draw(); } }, 'Next ›');
    this.thead = h('tr', {}, columns.map((c) => h('th', {
      class: c.class, onclick: () => this.sortBy(c),
    }, c.label)));
    this.tbody = h('tbody');
    this.el = h('div', { class: 'table-wrap', id },
      h('div', { class: 'table-tools' }, this.input, selectEls, h('span', { class: 'spacer' }), this.count, this.prev, this.next),
      h('table', { class: 'grid' }, h('thead', {}, this.thead), this.tbody));
  }

  sortBy(col) {
    if (!col.value) return;
    this.sort = this.sort && this.sort.col === col ? { col, dir: -this.sort.dir } : { col, dir: 1 };
    [...this.thead.children].forEach((th, i) => {
      th.dataset.sort = this.columns[i] === col ? (this.sort.dir > 0 ? 'asc' : 'desc') : '';
    });
    this.draw();
  }

  setRows(rows) {
    this.rows = rows;
    this.draw();
  }

  filtered() {
    let rows = this.rows;
    this.selects.forEach((f, i) => {
      const v = this.selectValues[i];
      if (v) rows = rows.filter((r) => f.test(r, v));
    });
    if (this.query) {
      const q = this.query;
      rows = rows.filter((r) => this.columns.some((c) => {
        const v = c.value ? c.value(r) : undefined;
        return v !== undefined && v !== null && String(v).toLowerCase().includes(q);
      }));
    }
    if (this.sort) {
      const { col, dir } = this.sort;
      rows = [...rows].sort((a, b) => {
        const x = col.value(a); const y = col.value(b);
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
    }
    return rows;
  }

  draw() {
    const rows = this.filtered();
    const pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const start = this.page * this.pageSize;
    const slice = rows.slice(start, start + this.pageSize);
    clear(this.tbody);
    if (slice.length === 0) {
      this.tbody.appendChild(h('tr', { class: 'empty-row' }, h('td', { colspan: this.columns.length },
        this.rows.length === 0 ? this.emptyText : 'No match for the filter.')));
    }
    for (const r of slice) {
      this.tbody.appendChild(h('tr', { dataset: this.rowKey ? { key: this.rowKey(r) } : undefined },
        this.columns.map((c) => h('td', { class: c.class }, c.render ? c.render(r) : (c.value ? c.value(r) : '')))));
    }
    this.count.textContent = rows.length === 0 ? '0 rows'
      : `${(start + 1).toLocaleString('en-US')}–${(start + slice.length).toLocaleString('en-US')} of ${rows.length.toLocaleString('en-US')}`;
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }
}

/** What a view shows before the first SUBSCRIBED snapshot: progress or the stream's error. */
export function waiting(app) {
  const c = app.connection;
  if (c.error) return errorBox(c.error, 'the cluster state from the operator event stream');
  return empty('Connecting to the master\'s event stream…');
}

/** Re-renders `fill(container)` into container, showing an error box if it throws. */
export function render(container, fill) {
  clear(container);
  try {
    fill(container);
  } catch (e) {
    console.error(e);
    container.appendChild(errorBox(e, 'this page'));
  }
}
