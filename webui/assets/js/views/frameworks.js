// Frameworks: the list, a framework's detail (resources, roles, offers, tasks) and a task's
// detail (statuses, resources, a link to its sandbox). Live from the event stream.

import { h, clear, section, kv, badge, pill, link, Table, waiting, empty, errorBox } from '../ui.js';
import { scalars, num, mb, time, timeInfo, shortId, ago, ports, TASK_STATES, stateLabel, TERMINAL } from '../format.js';
import { taskTime } from '../store.js';
import { operatorCall } from '../api.js';

const fwUrl = (id) => `#/frameworks/${encodeURIComponent(id)}`;
const taskUrl = (fid, tid) => `#/frameworks/${encodeURIComponent(fid)}/tasks/${encodeURIComponent(tid)}`;
export const sandboxUrl = (fid, tid) => `#/sandbox/${encodeURIComponent(fid)}/${encodeURIComponent(tid)}`;

function roles(info) {
  if (info.roles && info.roles.length) return info.roles;
  return info.role ? [info.role] : ['*'];
}

function fwStatus(f) {
  if (!f.connected && f.active === false && f.unregistered_time) return pill('completed', 'idle');
  if (f.active) return pill('active', 'run');
  return pill(f.connected ? 'inactive' : 'disconnected', 'warn');
}

export function mountList(el, app) {
  const body = h('div');
  const table = new Table({
    id: 'frameworks-table',
    filterPlaceholder: 'Filter by id, name, user, role…',
    emptyText: 'No framework is registered.',
    rowKey: (f) => f.framework_info.id.value,
    filters: [{ label: 'Any status', options: [['active', 'active'], ['inactive', 'inactive'], ['completed', 'completed']],
      test: (f, v) => (v === 'completed' ? f.completed : v === 'active' ? f.active && !f.completed : !f.active && !f.completed) }],
    columns: [
      { label: 'ID', value: (f) => f.framework_info.id.value, render: (f) => link(fwUrl(f.framework_info.id.value), shortId(f.framework_info.id.value), { title: f.framework_info.id.value }) },
      { label: 'Name', value: (f) => f.framework_info.name, render: (f) => link(fwUrl(f.framework_info.id.value), f.framework_info.name || '(unnamed)') },
      { label: 'User', value: (f) => f.framework_info.user },
      { label: 'Roles', value: (f) => roles(f.framework_info).join(', ') },
      { label: 'Status', value: (f) => (f.completed ? 'completed' : f.active ? 'active' : 'inactive'), render: (f) => (f.completed ? pill('completed', 'idle') : fwStatus(f)) },
      { label: 'Active tasks', class: 'num', value: (f) => f.activeTasks },
      { label: 'CPUs', class: 'num', value: (f) => f.used.cpus, render: (f) => num(f.used.cpus) },
      { label: 'Mem', class: 'num', value: (f) => f.used.mem, render: (f) => mb(f.used.mem) },
      { label: 'Offered CPUs', class: 'num', value: (f) => f.offeredCpus, render: (f) => num(f.offeredCpus) },
      { label: 'Registered', value: (f) => timeInfo(f.registered_time) || 0, render: (f) => ago(timeInfo(f.registered_time)) },
    ],
  });
  el.append(h('h1', {}, 'Frameworks'), body, table.el);
  // Offers change without stream events: GET_FRAMEWORKS every 3 s for the offered column.
  const offered = new Map();
  let offeredError = null;
  let stopped = false;
  let timer = null;
  async function poll() {
    try {
      const g = (await operatorCall('GET_FRAMEWORKS')).get_frameworks || {};
      offered.clear();
      for (const f of g.frameworks || []) offered.set(f.framework_info.id.value, scalars(f.offered_resources).cpus);
      offeredError = null;
    } catch (e) {
      offeredError = e;
    }
    if (stopped) return;
    update();
    timer = setTimeout(poll, 3000);
  }
  function update() {
    clear(body);
    const s = app.store;
    if (!s.subscribed) { body.appendChild(waiting(app)); return; }
    if (offeredError) body.appendChild(errorBox(offeredError, 'current offers (GET_FRAMEWORKS)'));
    const { byFramework } = s.activeCounts();
    const rows = [];
    const none = { count: 0, cpus: 0, mem: 0 };
    for (const f of s.frameworks.values()) {
      const u = byFramework.get(f.framework_info.id.value) || none;
      rows.push({ ...f, activeTasks: u.count, used: u, offeredCpus: offered.get(f.framework_info.id.value) || 0 });
    }
    for (const f of s.completedFrameworks.values()) rows.push({ ...f, completed: true, activeTasks: 0, used: none, offeredCpus: 0 });
    table.setRows(rows);
  }
  update();
  poll();
  return { update, destroy() { stopped = true; clearTimeout(timer); } };
}

export function tasksTable(app, { id, showFramework = true, showAgent = true, state = '' } = {}) {
  return new Table({
    id,
    filterPlaceholder: 'Filter by task id, name, state, agent…',
    emptyText: 'No tasks.',
    rowKey: (t) => t.task_id.value,
    filters: [{ label: 'Any state', value: state, options: [['active', 'active (not terminal)'], ...TASK_STATES.map((s) => [s, stateLabel(s)])],
      test: (t, v) => (v === 'active' ? !TERMINAL.has(t.state) : t.state === v) }],
    columns: [
      { label: 'Task', value: (t) => t.task_id.value, render: (t) => link(taskUrl(t.framework_id.value, t.task_id.value), t.task_id.value, { class: 'task-link' }) },
      { label: 'Name', value: (t) => t.name },
      { label: 'State', value: (t) => t.state, render: (t) => badge(t.state) },
      showFramework && { label: 'Framework', value: (t) => (app.store.framework(t.framework_id.value)?.framework_info.name) || t.framework_id.value,
        render: (t) => link(fwUrl(t.framework_id.value), (app.store.framework(t.framework_id.value)?.framework_info.name) || shortId(t.framework_id.value)) },
      showAgent && { label: 'Agent', value: (t) => app.store.agents.get(t.agent_id?.value)?.agent_info.hostname || t.agent_id?.value,
        render: (t) => (t.agent_id ? link(`#/agents/${encodeURIComponent(t.agent_id.value)}`, app.store.agents.get(t.agent_id.value)?.agent_info.hostname || shortId(t.agent_id.value)) : '–') },
      { label: 'CPUs', class: 'num', value: (t) => scalars(t.resources).cpus, render: (t) => num(scalars(t.resources).cpus) },
      { label: 'Mem', class: 'num', value: (t) => scalars(t.resources).mem, render: (t) => mb(scalars(t.resources).mem) },
      { label: 'Updated', value: (t) => taskTime(t) || 0, render: (t) => ago(taskTime(t)) },
      { label: '', render: (t) => link(sandboxUrl(t.framework_id.value, t.task_id.value), 'Sandbox', { class: 'sandbox-link' }) },
    ].filter(Boolean),
  });
}

export function mountDetail(el, app, id) {
  const head = h('div');
  const info = h('div');
  const offers = h('div', { id: 'framework-offers' });
  // Allocations and offers change without stream events: read them with GET_FRAMEWORKS.
  let live = null;
  let liveError = null;
  let stopped = false;
  let timer = null;
  async function poll() {
    try {
      const r = await operatorCall('GET_FRAMEWORKS');
      const g = r.get_frameworks || {};
      live = [...(g.frameworks || []), ...(g.completed_frameworks || [])].find((x) => x.framework_info.id.value === id) || null;
      liveError = null;
    } catch (e) {
      liveError = e;
    }
    if (stopped) return;
    update();
    timer = setTimeout(poll, 3000);
  }
  const tasks = tasksTable(app, { id: 'framework-tasks', showFramework: false });
  el.append(head, h('div', { class: 'cols' }, section('Framework', info), section('Resources and offers', offers)),
    section('Tasks', tasks.el));
  function update() {
    const s = app.store;
    clear(head); clear(info); clear(offers);
    if (!s.subscribed) { head.appendChild(waiting(app)); return; }
    const f = s.framework(id);
    if (!f) {
      head.append(h('h1', {}, 'Framework'), empty(`No framework with id ${id} is known to this master.`));
      tasks.setRows([]);
      return;
    }
    const fi = f.framework_info;
    head.append(h('div', { class: 'crumbs' }, link('#/frameworks', 'Frameworks'), ' / ', fi.name || id),
      h('h1', {}, fi.name || '(unnamed)', ' ', s.frameworks.has(id) ? fwStatus(f) : pill('completed', 'idle')));
    info.appendChild(kv([
      ['ID', h('code', {}, id)],
      ['User', fi.user],
      ['Principal', fi.principal],
      ['Roles', roles(fi).join(', ')],
      ['Hostname', fi.hostname],
      ['Web UI', fi.webui_url ? h('a', { href: fi.webui_url, rel: 'noopener' }, fi.webui_url) : undefined],
      ['Failover timeout', fi.failover_timeout !== undefined ? `${num(fi.failover_timeout)} s` : undefined],
      ['Capabilities', (fi.capabilities || []).map((c) => c.type).join(', ') || 'none'],
      ['Registered', time(timeInfo(f.registered_time))],
      ['Re-registered', f.reregistered_time ? time(timeInfo(f.reregistered_time)) : undefined],
    ].filter(([, v]) => v !== undefined)));
    const current = live || f;
    const alloc = scalars(current.allocated_resources);
    const off = scalars(current.offered_resources);
    if (liveError) offers.appendChild(errorBox(liveError, 'current offers (GET_FRAMEWORKS)'));
    offers.appendChild(h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['', 'cpus', 'mem', 'disk', 'gpus'].map((x) => h('th', { class: x ? 'num' : '' }, x)))),
      h('tbody', {},
        h('tr', {}, h('th', {}, 'allocated'), h('td', { class: 'num' }, num(alloc.cpus)), h('td', { class: 'num' }, mb(alloc.mem)), h('td', { class: 'num' }, mb(alloc.disk)), h('td', { class: 'num' }, num(alloc.gpus))),
        h('tr', {}, h('th', {}, 'offered'), h('td', { class: 'num' }, num(off.cpus)), h('td', { class: 'num' }, mb(off.mem)), h('td', { class: 'num' }, mb(off.disk)), h('td', { class: 'num' }, num(off.gpus))))));
    const list = current.offers || [];
    offers.appendChild(h('h3', {}, `Outstanding offers (${list.length})`));
    if (!list.length) offers.appendChild(empty('No outstanding offer.'));
    for (const o of list.slice(0, 20)) {
      const r = scalars(o.resources);
      offers.appendChild(h('div', { class: 'offer' }, h('code', {}, shortId(o.id.value)), ` on ${o.hostname}: ${num(r.cpus)} cpus, ${mb(r.mem)}`));
    }
    offers.appendChild(h('p', { class: 'muted' }, link(`#/allocation?framework=${encodeURIComponent(id)}`, 'Why (not) offered? See the allocation view.')));
    tasks.setRows(s.tasksOf((t) => t.framework_id.value === id));
  }
  update();
  poll();
  return { update, destroy() { stopped = true; clearTimeout(timer); } };
}

export function mountTask(el, app, fid, tid) {
  const body = h('div');
  el.appendChild(body);
  function update() {
    const s = app.store;
    clear(body);
    if (!s.subscribed) { body.appendChild(waiting(app)); return; }
    const t = s.task(fid, tid);
    const f = s.framework(fid);
    body.appendChild(h('div', { class: 'crumbs' }, link('#/frameworks', 'Frameworks'), ' / ',
      link(fwUrl(fid), f?.framework_info.name || shortId(fid)), ' / ', tid));
    if (!t) {
      body.append(h('h1', {}, tid), empty('This master knows no such task (it may have been removed from the history).'));
      return;
    }
    const agent = t.agent_id ? s.agents.get(t.agent_id.value) : undefined;
    const r = scalars(t.resources);
    body.append(h('h1', {}, t.name || tid, ' ', badge(t.state)),
      h('p', {}, h('a', { class: 'button', href: sandboxUrl(fid, tid), id: 'open-sandbox' }, 'Open sandbox')),
      h('div', { class: 'cols' },
        section('Task', kv([
          ['ID', h('code', {}, tid)],
          ['Framework', link(fwUrl(fid), f?.framework_info.name || fid)],
          ['Agent', t.agent_id ? link(`#/agents/${encodeURIComponent(t.agent_id.value)}`, agent?.agent_info.hostname || t.agent_id.value) : '–'],
          ['Executor', t.executor_id?.value || '(command executor)'],
          ['User', t.user],
          ['Resources', `${num(r.cpus)} cpus · ${mb(r.mem)} mem · ${mb(r.disk)} disk${ports(t.resources) ? ` · ports ${ports(t.resources)}` : ''}`],
          ['Labels', (t.labels?.labels || []).map((l) => `${l.key}=${l.value ?? ''}`).join(', ') || 'none'],
          ['Container', t.container?.type],
        ].filter(([, v]) => v !== undefined))),
        section('Status updates', h('table', { class: 'grid compact' },
          h('thead', {}, h('tr', {}, h('th', {}, 'time'), h('th', {}, 'state'), h('th', {}, 'source'), h('th', {}, 'reason / message'))),
          h('tbody', {}, [...(t.statuses || [])].reverse().map((st) => h('tr', {},
            h('td', {}, time(Number(st.timestamp))), h('td', {}, badge(st.state)), h('td', {}, (st.source || '').replace(/^SOURCE_/, '').toLowerCase()),
            h('td', {}, [st.reason, st.message].filter(Boolean).join(': ')))))))));
  }
  update();
  return { update };
}

/** Every task the master reports, paged, with filters (`?state=TASK_RUNNING` preselects). */
export function mountTasks(el, app, query) {
  const body = h('div');
  const tasks = tasksTable(app, { id: 'all-tasks', state: query.get('state') || '' });
  el.append(h('h1', {}, 'Tasks'), body, tasks.el);
  function update() {
    clear(body);
    if (!app.store.subscribed) { body.appendChild(waiting(app)); return; }
    tasks.setRows([...app.store.tasks.values()]);
  }
  update();
  return { update };
}
