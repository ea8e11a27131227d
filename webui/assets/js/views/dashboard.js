// Dashboard: agents, frameworks, tasks by state (live from the event stream), resources
// total/used/offered and utilization charts (from metrics samples).

import { h, clear, section, meter, waiting, errorBox } from '../ui.js';
import { num, mb, pct, TASK_STATES, stateClass, stateLabel } from '../format.js';

const RESOURCES = [['cpus', num], ['mem', mb], ['disk', mb], ['gpus', num]];

export function mount(el, app) {
  const stats = h('div', { class: 'stats' });
  const states = h('div', { class: 'states', id: 'task-states' });
  const resources = h('div', { id: 'resources' });
  const charts = h('div', { class: 'charts' });
  const top = h('div');
  el.append(h('h1', {}, 'Cluster'), top, stats,
    h('div', { class: 'cols' },
      section('Tasks by state', states),
      section('Resources', resources)),
    section('Utilization, last 10 minutes', charts));
  const plots = new Charts(charts, app);

  function update() {
    clear(top);
    const s = app.store;
    if (!s.subscribed) {
      top.appendChild(waiting(app));
      return;
    }
    const agents = [...s.agents.values()];
    const fws = [...s.frameworks.values()];
    const counts = s.countsByState();
    const active = agents.filter((a) => a.active).length;
    const m = app.metrics.latest || {};
    clear(stats).append(
      stat('agents', 'Agents', agents.length, `${num(active)} active`),
      stat('frameworks', 'Frameworks', fws.length, `${num(fws.filter((f) => f.active).length)} active · ${num(s.completedFrameworks.size)} completed`),
      stat('tasks-running', 'Running tasks', counts.TASK_RUNNING || 0, `${num(s.tasks.size)} tasks known`),
      stat('tasks-pending', 'Staging / starting', (counts.TASK_STAGING || 0) + (counts.TASK_STARTING || 0), ''),
      stat('offers', 'Outstanding offers', m['master/outstanding_offers'] ?? '–', 'from metrics'),
    );
    clear(states);
    const shown = TASK_STATES.filter((st) => counts[st] || ['TASK_STAGING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST'].includes(st));
    for (const st of shown) {
      states.appendChild(h('a', { class: `state-count ${stateClass(st)}`, dataset: { state: st }, href: `#/tasks?state=${st}` },
        h('b', {}, num(counts[st] || 0)), h('span', {}, stateLabel(st))));
    }
    drawResources();
  }

  function drawResources() {
    clear(resources);
    const m = app.metrics.latest;
    if (!m) {
      resources.appendChild(app.metrics.error ? errorBox(app.metrics.error, 'metrics') : h('p', { class: 'empty' }, 'Waiting for metrics…'));
      return;
    }
    const rows = RESOURCES.map(([name, fmt]) => {
      const total = m[`master/${name}_total`] || 0;
      const used = m[`master/${name}_used`] || 0;
      const offered = Math.max(0, (m[`allocator/mesos/resources/${name}/offered_or_allocated`] || 0) - used);
      return h('tr', { dataset: { resource: name } },
        h('th', {}, name),
        h('td', { class: 'num', dataset: { field: 'total' } }, fmt(total)),
        h('td', { class: 'num', dataset: { field: 'used' } }, fmt(used)),
        h('td', { class: 'num', dataset: { field: 'offered' } }, fmt(offered)),
        h('td', { class: 'num' }, fmt(Math.max(0, total - used - offered))),
        h('td', { class: 'meter-cell' }, meter(used, total, total > 0 ? pct(used / total) : 'none')));
    });
    resources.appendChild(h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['', 'total', 'used', 'offered', 'idle', 'used %'].map((x) => h('th', { class: x && x !== 'used %' ? 'num' : '' }, x)))),
      h('tbody', {}, rows)));
    if (app.metrics.error) resources.appendChild(errorBox(app.metrics.error, 'the latest metrics (showing older values)'));
  }

  const offMetrics = app.metrics.onChange(() => { drawResources(); plots.update(); update(); });
  update();
  return { update, destroy() { offMetrics(); plots.destroy(); } };
}

function stat(id, label, value, sub) {
  return h('div', { class: 'stat', dataset: { stat: id } },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, typeof value === 'number' ? num(value) : value),
    h('div', { class: 'stat-sub' }, sub));
}

/** HH:MM:SS of a time in seconds. */
function clock(secs) {
  const d = new Date(secs * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The x range: the samples' span, at least the last 2 minutes, at most 10. */
function window10(u, min, max) {
  const hi = Math.max(max || 0, Date.now() / 1000);
  return [Math.max(hi - 600, Math.min(min || hi, hi - 120)), hi];
}

/** Two uPlot charts over the metrics samples (kept since the page loaded). */
class Charts {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.plots = [];
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(el);
    this.update();
  }

  series() {
    const s = this.app.metrics.samples;
    const t = s.map((x) => x.t);
    const get = (k, f = 100) => s.map((x) => (x.m[k] === undefined ? null : x.m[k] * f));
    return {
      util: [t, get('master/cpus_percent'), get('master/mem_percent'), get('master/disk_percent')],
      work: [t, get('master/tasks_running', 1), get('master/outstanding_offers', 1), get('master/tasks_staging', 1)],
    };
  }

  width() {
    const w = this.el.clientWidth;
    return Math.max(280, Math.floor((w - 24) / (w > 900 ? 2 : 1)));
  }

  update() {
    if (typeof uPlot === 'undefined') {
      clear(this.el).appendChild(h('p', { class: 'empty' }, 'The charting library did not load.'));
      return;
    }
    const data = this.series();
    if (data.util[0].length < 2) {
      if (!this.plots.length) clear(this.el).appendChild(h('p', { class: 'empty', id: 'charts-waiting' }, 'Collecting samples (every 2 s)…'));
      return;
    }
    if (!this.plots.length) {
      clear(this.el);
      const common = (title, yLabel) => ({
        title, width: this.width(), height: 220,
        axes: [
          { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, values: (u, ticks) => ticks.map(clock) },
          { label: yLabel, stroke: '#5b6472', grid: { stroke: '#eef0f3' }, size: 50 },
        ],
        scales: { x: { time: true, range: window10 } },
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      });
      this.plots.push(new uPlot({
        ...common('Used, % of total', '%'),
        scales: { ...common().scales, y: { range: [0, 100] } },
        series: [{}, { label: 'cpus', stroke: '#2f6fde', width: 2 }, { label: 'mem', stroke: '#17a673', width: 2 }, { label: 'disk', stroke: '#d68a00', width: 2 }],
      }, data.util, h('div', { class: 'chart', id: 'chart-util' })));
      this.plots.push(new uPlot({
        ...common('Tasks and offers', 'count'),
        scales: { ...common().scales, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.2))] } },
        series: [{}, { label: 'running', stroke: '#2f6fde', width: 2 }, { label: 'offers', stroke: '#8d5cd6', width: 2 }, { label: 'staging', stroke: '#d68a00', width: 2 }],
      }, data.work, h('div', { class: 'chart', id: 'chart-work' })));
      for (const p of this.plots) this.el.appendChild(p.root.parentElement || p.root);
      return;
    }
    this.plots[0].setData(data.util);
    this.plots[1].setData(data.work);
  }

  resize() {
    for (const p of this.plots) p.setSize({ width: this.width(), height: 220 });
  }

  destroy() {
    this.ro.disconnect();
    for (const p of this.plots) p.destroy();
  }
}
