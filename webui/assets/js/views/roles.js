// Roles: weight, frameworks, allocated/offered/reserved resources and DRF shares. Roles are
// read from the master's /roles (polled while open); the dominant share is the largest
// fraction of the cluster's total (metrics master/<resource>_total) a role is allocated,
// and DRF orders roles by that share divided by the weight, lowest first.

import { h, clear, meter, Table, errorBox, empty } from '../ui.js';
import { num, mb, pct } from '../format.js';
import { getJSON } from '../api.js';

const KINDS = ['cpus', 'mem', 'disk', 'gpus'];

export function dominantShare(allocated, totals) {
  let best = 0;
  let kind = '–';
  for (const k of KINDS) {
    const t = totals[k] || 0;
    const a = Number(allocated?.[k] || 0);
    if (t > 0 && a / t > best) { best = a / t; kind = k; }
  }
  return { share: best, kind };
}

export function mount(el, app) {
  const status = h('div');
  const table = new Table({
    id: 'roles-table',
    filterPlaceholder: 'Filter roles…',
    emptyText: 'No role has a framework, a reservation or a weight.',
    rowKey: (r) => r.name,
    columns: [
      { label: 'Role', value: (r) => r.name, render: (r) => h('code', {}, r.name) },
      { label: 'Weight', class: 'num', value: (r) => r.weight, render: (r) => num(r.weight) },
      { label: 'Frameworks', class: 'num', value: (r) => (r.frameworks || []).length },
      { label: 'Allocated', value: (r) => Number(r.allocated?.cpus || 0), render: (r) => `${num(r.allocated?.cpus || 0)} cpus · ${mb(r.allocated?.mem || 0)}` },
      { label: 'Offered', value: (r) => Number(r.offered?.cpus || 0), render: (r) => `${num(r.offered?.cpus || 0)} cpus · ${mb(r.offered?.mem || 0)}` },
      { label: 'Reserved', value: (r) => Number(r.reserved?.cpus || 0), render: (r) => `${num(r.reserved?.cpus || 0)} cpus · ${mb(r.reserved?.mem || 0)}` },
      { label: 'Dominant share', class: 'meter-col', value: (r) => r.drf.share, render: (r) => meter(r.drf.share, 1, r.drf.share > 0 ? `${pct(r.drf.share)} of ${r.drf.kind}` : '0%') },
      { label: 'Weighted share', class: 'num', value: (r) => r.weighted, render: (r) => pct(r.weighted) },
      { label: 'DRF order', class: 'num', value: (r) => r.order },
    ],
  });
  el.append(h('h1', {}, 'Roles'), status, table.el,
    h('p', { class: 'muted' }, 'Dominant share: the largest fraction of the cluster\'s total cpus, mem, disk or gpus allocated to the role. The allocator offers first to the role with the lowest share ÷ weight (DRF order 1).'));
  let stopped = false;
  let timer = null;
  let roles = null;
  let error = null;

  async function poll() {
    try {
      roles = (await getJSON('/master/roles')).roles || [];
      error = null;
    } catch (e) {
      error = e;
    }
    if (stopped) return;
    draw();
    timer = setTimeout(poll, 3000);
  }

  function draw() {
    clear(status);
    if (error) status.appendChild(errorBox(error, 'roles'));
    if (!roles) { if (!error) status.appendChild(empty('Loading roles…')); return; }
    const m = app.metrics.latest || {};
    const totals = Object.fromEntries(KINDS.map((k) => [k, m[`master/${k}_total`] || 0]));
    const rows = roles.map((r) => {
      const drf = dominantShare(r.allocated, totals);
      return { ...r, drf, weighted: drf.share / (r.weight || 1) };
    });
    [...rows].sort((a, b) => a.weighted - b.weighted || a.name.localeCompare(b.name)).forEach((r, i) => { r.order = i + 1; });
    table.setRows(rows);
  }

  poll();
  return { destroy() { stopped = true; clearTimeout(timer); } };
}
