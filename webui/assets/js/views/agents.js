// Agents: the list and an agent's detail (resources, attributes, executors and containers
// with statistics from the agent's /monitor/statistics, tasks). Agent endpoints are read
// through the master (/master/agent/<id>/...), see docs/operator.md.

import { h, clear, section, kv, pill, link, meter, Table, waiting, empty, errorBox } from '../ui.js';
import { scalars, num, mb, bytes, pct, time, timeInfo, shortId, ago, ports } from '../format.js';
import { getJSON, agentUrl, operatorCall } from '../api.js';
import { tasksTable, sandboxUrl } from './frameworks.js';

const agentHref = (id) => `#/agents/${encodeURIComponent(id)}`;

function attrText(a) {
  if (a.type === 'SCALAR') return `${a.name}:${a.scalar.value}`;
  if (a.type === 'TEXT') return `${a.name}:${a.text.value}`;
  if (a.type === 'RANGES') return `${a.name}:[${(a.ranges.range || []).map((r) => `${r.begin}-${r.end}`).join(',')}]`;
  if (a.type === 'SET') return `${a.name}:{${(a.set.item || []).join(',')}}`;
  return a.name;
}

export function mountList(el, app) {
  const body = h('div');
  const table = new Table({
    id: 'agents-table',
    filterPlaceholder: 'Filter by hostname, id, attribute…',
    emptyText: 'No agent is registered.',
    rowKey: (a) => a.agent_info.id.value,
    filters: [{ label: 'Any status', options: [['active', 'active'], ['inactive', 'inactive']], test: (a, v) => (v === 'active') === !!a.active }],
    columns: [
      { label: 'Hostname', value: (a) => a.agent_info.hostname, render: (a) => link(agentHref(a.agent_info.id.value), a.agent_info.hostname) },
      { label: 'ID', value: (a) => a.agent_info.id.value, render: (a) => h('code', { title: a.agent_info.id.value }, shortId(a.agent_info.id.value)) },
      { label: 'Status', value: (a) => (a.active ? 'active' : 'inactive'), render: (a) => (a.active ? pill('active', 'run') : pill('inactive', 'warn')) },
      { label: 'Tasks', class: 'num', value: (a) => a.activeTasks },
      { label: 'CPUs (tasks)', class: 'meter-col', value: (a) => a.used.cpus, render: (a) => meter(a.used.cpus, a.total.cpus, `${num(a.used.cpus)} / ${num(a.total.cpus)}`) },
      { label: 'Mem', class: 'meter-col', value: (a) => a.used.mem, render: (a) => meter(a.used.mem, a.total.mem, `${mb(a.used.mem)} / ${mb(a.total.mem)}`) },
      { label: 'Disk', class: 'meter-col', value: (a) => a.used.disk, render: (a) => meter(a.used.disk, a.total.disk, `${mb(a.used.disk)} / ${mb(a.total.disk)}`) },
      { label: 'Attributes', value: (a) => (a.agent_info.attributes || []).map(attrText).join(' ') },
      { label: 'Registered', value: (a) => timeInfo(a.registered_time) || 0, render: (a) => ago(timeInfo(a.registered_time)) },
    ],
  });
  el.append(h('h1', {}, 'Agents'), body, table.el);
  function update() {
    clear(body);
    const s = app.store;
    if (!s.subscribed) { body.appendChild(waiting(app)); return; }
    const { byAgent } = s.activeCounts();
    const none = { count: 0, cpus: 0, mem: 0, disk: 0, gpus: 0 };
    table.setRows([...s.agents.values()].map((a) => {
      const used = byAgent.get(a.agent_info.id.value) || none;
      return { ...a, total: scalars(a.total_resources), used, activeTasks: used.count };
    }));
  }
  update();
  return { update };
}

export function mountDetail(el, app, id) {
  const head = h('div');
  const info = h('div');
  const res = h('div');
  const containers = h('div', { id: 'containers' });
  const tasks = tasksTable(app, { id: 'agent-tasks', showAgent: false });
  el.append(head, h('div', { class: 'cols' }, section('Agent', info), section('Resources', res)),
    section('Executors and containers', containers), section('Tasks', tasks.el));
  let agentState = null;
  let live = null; // this agent in GET_AGENTS: allocations and offers change without events
  let stats = null;
  let prevStats = new Map();
  let error = null;
  let stopped = false;
  let timer = null;

  async function poll() {
    try {
      const [st, mon, agents] = await Promise.all([
        getJSON(agentUrl(id, 'state')), getJSON(agentUrl(id, 'monitor/statistics')), operatorCall('GET_AGENTS')]);
      live = ((agents.get_agents || {}).agents || []).find((a) => a.agent_info.id.value === id) || null;
      if (stats) prevStats = new Map(stats.map((x) => [`${x.framework_id}/${x.executor_id}`, x.statistics]));
      agentState = st;
      stats = mon;
      error = null;
    } catch (e) {
      error = e;
    }
    if (stopped) return;
    drawContainers();
    update();
    timer = setTimeout(poll, 3000);
  }

  function drawContainers() {
    clear(containers);
    if (error) containers.appendChild(errorBox(error, 'the agent\'s executors and statistics'));
    if (!agentState) {
      if (!error) containers.appendChild(empty('Reading the agent\'s state and statistics…'));
      return;
    }
    const byKey = new Map((stats || []).map((x) => [`${x.framework_id}/${x.executor_id}`, x]));
    const rows = [];
    for (const f of agentState.frameworks || []) {
      for (const e of f.executors || []) rows.push({ f, e, s: byKey.get(`${f.id}/${e.id}`) });
    }
    if (!rows.length) {
      containers.appendChild(empty('No executor runs on this agent.'));
      return;
    }
    const tbody = h('tbody');
    for (const { f, e, s } of rows) {
      const st = s?.statistics || {};
      const prev = prevStats.get(`${f.id}/${e.id}`);
      let cpu;
      if (prev && st.timestamp > prev.timestamp) {
        cpu = ((st.cpus_user_time_secs + st.cpus_system_time_secs) - (prev.cpus_user_time_secs + prev.cpus_system_time_secs)) / (st.timestamp - prev.timestamp);
      }
      const tasksHere = [...(e.tasks || []), ...(e.queued_tasks || [])];
      const first = tasksHere[0] || (e.completed_tasks || [])[0];
      tbody.appendChild(h('tr', {},
        h('td', {}, h('code', {}, e.id), h('div', { class: 'muted' }, e.container ? `container ${shortId(e.container)}` : '')),
        h('td', {}, link(`#/frameworks/${encodeURIComponent(f.id)}`, f.name || shortId(f.id))),
        h('td', { class: 'num' }, num(tasksHere.length)),
        h('td', { class: 'num' }, cpu === undefined ? '…' : `${num(cpu * 100, 1)}%`),
        h('td', { class: 'num' }, num(st.cpus_limit)),
        h('td', { class: 'meter-col' }, st.mem_limit_bytes ? meter(st.mem_rss_bytes || 0, st.mem_limit_bytes, `${bytes(st.mem_rss_bytes || 0)} / ${bytes(st.mem_limit_bytes)}`) : bytes(st.mem_rss_bytes)),
        h('td', { class: 'num' }, st.processes !== undefined ? num(st.processes) : '–'),
        h('td', {}, first ? link(sandboxUrl(f.id, first.id), 'Sandbox') : '–')));
    }
    containers.appendChild(h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Executor / container', 'Framework', 'Tasks', 'CPU use', 'CPU limit', 'Memory (RSS / limit)', 'Processes', ''].map((x) => h('th', { class: ['Tasks', 'CPU use', 'CPU limit', 'Processes'].includes(x) ? 'num' : '' }, x)))),
      tbody));
    containers.appendChild(h('p', { class: 'muted' }, `Statistics from the agent's /monitor/statistics, every 3 s${stats ? `; ${stats.length} container(s) reported` : ''}.`));
  }

  function update() {
    const s = app.store;
    clear(head); clear(info); clear(res);
    if (!s.subscribed) { head.appendChild(waiting(app)); return; }
    const a = s.agents.get(id);
    head.appendChild(h('div', { class: 'crumbs' }, link('#/agents', 'Agents'), ' / ', a?.agent_info.hostname || id));
    if (!a) {
      head.append(h('h1', {}, 'Agent'), empty(`No agent with id ${id} is registered with this master.`));
      tasks.setRows(s.tasksOf((t) => t.agent_id?.value === id));
      return;
    }
    const ai = a.agent_info;
    head.appendChild(h('h1', {}, ai.hostname, ' ', a.active ? pill('active', 'run') : pill('inactive', 'warn')));
    info.appendChild(kv([
      ['ID', h('code', {}, id)],
      ['PID', a.pid],
      ['Version', a.version],
      ['Registered', time(timeInfo(a.registered_time))],
      ['Attributes', (ai.attributes || []).map(attrText).join(', ') || 'none'],
      ['Capabilities', (a.capabilities || []).map((c) => c.type).join(', ') || 'none'],
      ['Ports', ports(a.total_resources) || 'none'],
    ]));
    const t = scalars(a.total_resources);
    const u = scalars((live || a).allocated_resources);
    const o = scalars((live || a).offered_resources);
    res.appendChild(h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['', 'total', 'allocated', 'offered', 'allocated %'].map((x) => h('th', { class: x && x !== 'allocated %' ? 'num' : '' }, x)))),
      h('tbody', {}, [['cpus', num], ['mem', mb], ['disk', mb], ['gpus', num]].map(([n, f]) => h('tr', {},
        h('th', {}, n), h('td', { class: 'num' }, f(t[n])), h('td', { class: 'num' }, f(u[n])), h('td', { class: 'num' }, f(o[n])),
        h('td', { class: 'meter-cell' }, meter(u[n], t[n], t[n] > 0 ? pct(u[n] / t[n]) : 'none')))))));
    tasks.setRows(s.tasksOf((x) => x.agent_id?.value === id));
  }
  update();
  poll();
  return { update, destroy() { stopped = true; clearTimeout(timer); } };
}
