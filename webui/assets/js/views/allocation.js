// Allocation: per role and framework, why the framework received offers or none in the
// allocator's recent runs. Reads the master's /master/allocator/explain (the allocator's
// explain hook: the last run's outcome per framework), sampled every 2 s; the row keeps the
// last samples so a pattern (suppressed, filtered, losing in DRF order) shows at a glance.

import { h, clear, section, pill, link, errorBox, empty } from '../ui.js';
import { shortId, num, pct } from '../format.js';
import { getJSON } from '../api.js';
import { dominantShare } from './roles.js';

const OUTCOMES = {
  ALLOCATED: ['offered', 'run'],
  SUPPRESSED: ['suppressed', 'warn'],
  FILTERED: ['filtered', 'warn'],
  BELOW_OTHERS_IN_DRF_ORDER: ['below others in DRF order', 'warn'],
  NO_ALLOCATABLE_RESOURCES: ['no allocatable resources', 'bad'],
  INACTIVE: ['inactive', 'idle'],
  NO_ROLES: ['no roles', 'bad'],
  NOT_YET_ALLOCATED: ['not yet allocated', 'idle'],
  UNKNOWN_FRAMEWORK: ['unknown to the allocator', 'bad'],
};

const HINTS = {
  SUPPRESSED: 'The framework called SUPPRESS for these roles; it gets offers again after REVIVE.',
  FILTERED: 'The framework declined offers of these agents with a refuse filter that has not expired.',
  BELOW_OTHERS_IN_DRF_ORDER: 'Roles or frameworks with a lower (weighted) dominant share took every agent with free resources.',
  NO_ALLOCATABLE_RESOURCES: 'No agent had free resources for its roles (all allocated, offered or reserved to other roles).',
  INACTIVE: 'The framework is disconnected or failing over; it is not offered resources meanwhile.',
};

function outcomePill(outcome) {
  const [text, cls] = OUTCOMES[outcome] || [outcome.toLowerCase(), 'idle'];
  return pill(text, cls, outcome);
}

export function mount(el, app, query) {
  const focus = query.get('framework') || '';
  const status = h('div');
  const body = h('div', { id: 'allocation' });
  el.append(h('h1', {}, 'Allocation'),
    h('p', { class: 'muted' }, 'Why each framework did or did not receive offers in the allocator\'s last runs, per role. Sampled every 2 s from ', h('code', {}, '/master/allocator/explain'), '; newest on the right.'),
    status, body);
  const history = new Map(); // framework id → [{t, outcome, message}]
  let latest = null;
  let roles = new Map(); // name → /master/roles entry
  let interval = null;
  let error = null;
  let stopped = false;
  let timer = null;

  async function poll() {
    try {
      const [r, rs] = await Promise.all([getJSON('/master/allocator/explain'), getJSON('/master/roles')]);
      roles = new Map((rs.roles || []).map((x) => [x.name, x]));
      latest = r.frameworks || [];
      interval = r.allocation_interval_seconds;
      error = null;
      const now = Date.now();
      for (const f of latest) {
        const list = history.get(f.framework_id) || [];
        list.push({ t: now, outcome: f.outcome, message: f.message });
        if (list.length > 20) list.shift();
        history.set(f.framework_id, list);
      }
    } catch (e) {
      error = e;
    }
    if (stopped) return;
    draw();
    timer = setTimeout(poll, 2000);
  }

  function draw() {
    clear(status); clear(body);
    if (error) status.appendChild(errorBox(error, 'the allocator\'s explanations'));
    if (!latest) { if (!error) body.appendChild(empty('Asking the allocator…')); return; }
    if (!latest.length) { body.appendChild(empty('No framework is registered, so nothing is allocated.')); return; }
    const byRole = new Map();
    for (const f of latest) {
      for (const role of (f.roles && f.roles.length ? f.roles : ['(none)'])) {
        if (!byRole.has(role)) byRole.set(role, []);
        byRole.get(role).push(f);
      }
    }
    status.appendChild(h('p', { class: 'muted' }, `${latest.length} framework(s) in ${byRole.size} role(s); allocation interval ${interval ?? '?'} s.`));
    for (const [role, fws] of [...byRole.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const rows = fws.map((f) => {
        const suppressedHere = f.outcome === 'SUPPRESSED' && (f.suppressed_roles || []).includes(role);
        const hist = history.get(f.framework_id) || [];
        return h('tr', { dataset: { framework: f.framework_id, outcome: f.outcome }, class: f.framework_id === focus ? 'focus' : '' },
          h('td', {}, link(`#/frameworks/${encodeURIComponent(f.framework_id)}`, f.name || shortId(f.framework_id)),
            h('div', { class: 'muted' }, h('code', {}, shortId(f.framework_id)))),
          h('td', {}, f.active ? pill('active', 'run') : pill('inactive', 'warn')),
          h('td', {}, outcomePill(f.outcome), suppressedHere ? h('span', { class: 'muted' }, ` in ${role}`) : ''),
          h('td', { class: 'explain' }, h('div', { class: 'explain-message' }, f.message),
            HINTS[f.outcome] ? h('div', { class: 'muted' }, HINTS[f.outcome]) : '',
            (f.agents || []).length ? h('div', { class: 'muted' }, `agents: ${f.agents.map(shortId).join(', ')}${f.count > f.agents.length ? ` and ${f.count - f.agents.length} more` : ''}`) : ''),
          h('td', { class: 'history' }, hist.map((x) => h('i', { class: `dot ${(OUTCOMES[x.outcome] || ['', 'idle'])[1]}`, title: `${new Date(x.t).toLocaleTimeString()}: ${x.message}` }))));
      });
      const info = roles.get(role);
      const m = app.metrics.latest || {};
      const totals = Object.fromEntries(['cpus', 'mem', 'disk', 'gpus'].map((k) => [k, m[`master/${k}_total`] || 0]));
      const share = info ? dominantShare(info.allocated, totals).share : undefined;
      body.appendChild(section(`Role ${role}`, info
        ? h('p', { class: 'muted role-line' }, `weight ${num(info.weight)} · dominant share ${pct(share)} · weighted ${pct(share / (info.weight || 1))} · ${num((info.frameworks || []).length)} framework(s)`)
        : '', h('table', { class: 'grid', dataset: { role } },
        h('thead', {}, h('tr', {}, ['Framework', 'Status', 'Last run', 'Why', 'Recent runs'].map((x) => h('th', {}, x)))),
        h('tbody', {}, rows))));
    }
  }

  poll();
  return { destroy() { stopped = true; clearTimeout(timer); } };
}
