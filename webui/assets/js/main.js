// The single-page UI: a hash router over the views, the live store fed by the operator
// event stream, and the metrics sampler behind the charts.

import { subscribe, getJSON } from './api.js';
import { Store } from './store.js';
import { h, clear, errorBox } from './ui.js';
import * as dashboard from './views/dashboard.js';
import * as frameworks from './views/frameworks.js';
import * as agents from './views/agents.js';
import * as roles from './views/roles.js';
import * as sandbox from './views/sandbox.js';
import * as allocation from './views/allocation.js';

/** Polls /metrics/snapshot (charts only; cluster state comes from the event stream). */
class Metrics {
  constructor(intervalMs = 2000, keep = 300) {
    this.samples = []; // [{t, m}]
    this.latest = null;
    this.error = null;
    this.keep = keep;
    this.listeners = new Set();
    this.tick = this.tick.bind(this);
    this.tick();
    this.timer = setInterval(this.tick, intervalMs);
  }

  async tick() {
    try {
      const m = await getJSON('/metrics/snapshot');
      this.latest = m;
      this.error = null;
      this.samples.push({ t: Date.now() / 1000, m });
      if (this.samples.length > this.keep) this.samples.shift();
    } catch (e) {
      this.error = e;
    }
    for (const fn of this.listeners) {
      try { fn(); } catch (e) { console.error(e); }
    }
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

const ROUTES = [
  [/^\/?$/, 'dashboard', (p, q, app) => dashboard.mount(p, app)],
  [/^\/frameworks$/, 'frameworks', (p, q, app) => frameworks.mountList(p, app)],
  [/^\/frameworks\/([^/]+)$/, 'frameworks', (p, q, app, m) => frameworks.mountDetail(p, app, m[1])],
  [/^\/frameworks\/([^/]+)\/tasks\/([^/]+)$/, 'frameworks', (p, q, app, m) => frameworks.mountTask(p, app, m[1], m[2])],
  [/^\/tasks$/, 'tasks', (p, q, app) => frameworks.mountTasks(p, app, q)],
  [/^\/agents$/, 'agents', (p, q, app) => agents.mountList(p, app)],
  [/^\/agents\/([^/]+)$/, 'agents', (p, q, app, m) => agents.mountDetail(p, app, m[1])],
  [/^\/roles$/, 'roles', (p, q, app) => roles.mount(p, app)],
  [/^\/allocation$/, 'allocation', (p, q, app) => allocation.mount(p, app, q)],
  [/^\/sandbox\/([^/]+)\/([^/]+)$/, 'frameworks', (p, q, app, m) => sandbox.mount(p, app, m[1], m[2], q)],
];

const app = {
  store: new Store(),
  metrics: new Metrics(),
  connection: { state: 'connecting' },
};

let current = null;

function route() {
  const view = document.getElementById('view');
  if (current && current.destroy) current.destroy();
  current = null;
  clear(view);
  const hash = decodeURI(window.location.hash.replace(/^#/, '')) || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  for (const [re, nav, mount] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    const decoded = m.map((x) => { try { return decodeURIComponent(x); } catch (_) { return x; } });
    document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === nav));
    try {
      current = mount(view, params, app, decoded) || null;
    } catch (e) {
      console.error(e);
      view.appendChild(errorBox(e, 'this page'));
    }
    return;
  }
  view.appendChild(h('div', { class: 'card' }, h('h2', {}, 'Not found'),
    h('p', {}, `No page at #${path}. `, h('a', { href: '#/' }, 'Back to the dashboard'))));
}

function showConnection(status) {
  app.connection = status;
  const el = document.getElementById('conn');
  el.dataset.state = status.state;
  const text = {
    live: 'live',
    connecting: 'connecting…',
    down: 'reconnecting…',
    'no-leader': 'no leader',
  }[status.state] || status.state;
  el.querySelector('span').textContent = text;
  const banner = document.getElementById('banner');
  if (status.state === 'live' || status.state === 'connecting') {
    banner.hidden = true;
  } else {
    banner.hidden = false;
    clear(banner).appendChild(h('div', { class: 'error-box banner', role: 'alert' },
      h('strong', {}, status.state === 'no-leader' ? 'Not connected to a leading master' : 'Event stream interrupted'),
      ` ${status.error ? status.error.message : ''} `,
      status.retryIn ? h('span', { class: 'muted' }, `Retrying in ${Math.round(status.retryIn / 1000)}s; the page shows the last known state.`) : ''));
  }
  if (current && current.update) current.update();
}

app.store.onChange(() => { if (current && current.update) current.update(); });
window.addEventListener('hashchange', route);
subscribe((e) => app.store.apply(e), showConnection);
route();
// For tests and debugging in the console.
window.mesosUi = app;
