// A task's sandbox: list directories, view a file, follow stdout/stderr live, download.
// Listing and reading go through the master (/master/agent/<id>/files/...); downloads link
// to the agent itself (a navigation needs no CORS; big files never pass through the master).

import { h, clear, link, badge, errorBox, empty, waiting } from '../ui.js';
import { bytes, time, shortId } from '../format.js';
import { getJSON, agentUrl } from '../api.js';

const PAGE = 64 * 1024; // what one /files/read returns at most
const KEEP = 1024 * 1024; // characters kept in the viewer while following

/** The executor directory that holds task `tid` of framework `fid`, from the agent's /state. */
export function findSandbox(state, fid, tid) {
  const groups = [...(state.frameworks || []), ...(state.completed_frameworks || [])];
  for (const f of groups) {
    if (f.id !== fid) continue;
    for (const e of [...(f.executors || []), ...(f.completed_executors || [])]) {
      const all = [...(e.tasks || []), ...(e.queued_tasks || []), ...(e.completed_tasks || [])];
      if (e.id === tid || all.some((t) => t.id === tid)) return e.directory;
    }
  }
  return undefined;
}

export function mount(el, app, fid, tid, query) {
  const sub = (query.get('path') || '').replace(/^\/+|\/+$/g, '');
  const file = query.get('file') || '';
  const head = h('div');
  const listing = h('div', { id: 'sandbox-listing' });
  const viewer = h('div', { id: 'sandbox-viewer' });
  el.append(head, h('div', { class: 'sandbox' }, h('section', { class: 'card' }, listing), viewer));
  let state = { dir: undefined, error: undefined, agentId: undefined };
  let stopped = false;
  let followTimer = null;
  let started = false;

  const hrefFor = (path, f) => {
    const p = new URLSearchParams();
    if (path) p.set('path', path);
    if (f) p.set('file', f);
    const q = p.toString();
    return `#/sandbox/${encodeURIComponent(fid)}/${encodeURIComponent(tid)}${q ? `?${q}` : ''}`;
  };

  function header(task, agent) {
    clear(head);
    head.append(h('div', { class: 'crumbs' }, link('#/frameworks', 'Frameworks'), ' / ',
      link(`#/frameworks/${encodeURIComponent(fid)}`, app.store.framework(fid)?.framework_info.name || shortId(fid)), ' / ',
      link(`#/frameworks/${encodeURIComponent(fid)}/tasks/${encodeURIComponent(tid)}`, tid), ' / sandbox'),
    h('h1', {}, 'Sandbox of ', h('code', {}, tid), ' ', task ? badge(task.state) : ''),
    h('p', { class: 'muted' }, agent ? `on ${agent.agent_info.hostname}` : '', state.dir ? ` · ${state.dir}` : ''));
  }

  async function start() {
    const s = app.store;
    const task = s.task(fid, tid);
    if (!task || !task.agent_id) {
      clear(listing).appendChild(empty('This master knows no such task, or it has not reached an agent yet.'));
      header(task);
      return;
    }
    state.agentId = task.agent_id.value;
    const agent = s.agents.get(state.agentId);
    header(task, agent);
    clear(listing).appendChild(empty('Finding the sandbox on the agent…'));
    try {
      const st = await getJSON(agentUrl(state.agentId, 'state'));
      state.dir = findSandbox(st, fid, tid);
      if (!state.dir) throw new Error(`The agent's /state lists no executor running task ${tid} (it may have been garbage collected).`);
    } catch (e) {
      state.error = e;
      clear(listing).appendChild(errorBox(e, 'the task\'s sandbox'));
      return;
    }
    header(task, agent);
    await browse();
    if (file) openFile(file);
  }

  async function browse() {
    const abs = sub ? `${state.dir}/${sub}` : state.dir;
    clear(listing).appendChild(empty('Listing…'));
    let entries;
    try {
      entries = await getJSON(agentUrl(state.agentId, 'files/browse', { path: abs }));
    } catch (e) {
      clear(listing).appendChild(errorBox(e, `the directory ${sub || '/'}`));
      return;
    }
    if (stopped) return;
    clear(listing);
    const parts = sub ? sub.split('/') : [];
    listing.appendChild(h('div', { class: 'path' }, link(hrefFor(''), 'sandbox'),
      parts.map((p, i) => [' / ', link(hrefFor(parts.slice(0, i + 1).join('/')), p)])));
    listing.appendChild(h('div', { class: 'quick' }, ['stdout', 'stderr'].map((n) => link(hrefFor(sub, n), n, { class: 'button', id: `open-${n}` }))));
    entries.sort((a, b) => ((b.mode || '').startsWith('d') - (a.mode || '').startsWith('d')) || a.path.localeCompare(b.path));
    if (!entries.length) { listing.appendChild(empty('This directory is empty.')); return; }
    const tbody = h('tbody');
    for (const e of entries) {
      const name = e.path.split('/').pop();
      const rel = sub ? `${sub}/${name}` : name;
      const isDir = (e.mode || '').startsWith('d');
      tbody.appendChild(h('tr', { dataset: { file: name } },
        h('td', {}, h('code', {}, e.mode || '')),
        h('td', {}, isDir ? link(hrefFor(rel), `${name}/`, { class: 'dir' }) : link(hrefFor(sub, rel), name, { class: 'file' })),
        h('td', { class: 'num' }, isDir ? '' : bytes(e.size)),
        h('td', {}, time(e.mtime)),
        h('td', {}, isDir ? '' : h('a', { href: downloadUrl(`${state.dir}/${rel}`), download: name, class: 'download' }, 'Download'))));
    }
    listing.appendChild(h('table', { class: 'grid compact files' },
      h('thead', {}, h('tr', {}, ['mode', 'name', 'size', 'modified', ''].map((x) => h('th', { class: x === 'size' ? 'num' : '' }, x)))), tbody));
  }

  function downloadUrl(abs) {
    const agent = app.store.agents.get(state.agentId);
    const addr = (agent?.pid || '').split('@')[1];
    const q = new URLSearchParams({ path: abs });
    return addr ? `http://${addr}/files/download?${q}` : '#';
  }

  function openFile(rel) {
    const abs = `${state.dir}/${rel}`;
    const pre = h('pre', { class: 'file-view', id: 'file-content' });
    const info = h('span', { class: 'muted' });
    const err = h('div');
    const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
    let offset = 0;
    let busy = false;
    clear(viewer).appendChild(h('section', { class: 'card' },
      h('div', { class: 'viewer-head' }, h('h2', {}, rel), h('label', {}, follow, ' follow'), info,
        h('a', { href: downloadUrl(abs), download: rel.split('/').pop(), class: 'button' }, 'Download')),
      err, pre));

    async function read(initial) {
      if (busy || stopped) return;
      busy = true;
      try {
        if (initial) {
          const size = (await getJSON(agentUrl(state.agentId, 'files/read', { path: abs, offset: -1 }))).offset;
          offset = Math.max(0, size - PAGE);
          if (offset > 0) pre.textContent = `[… ${bytes(offset)} before this point; download the file for all of it]\n`;
        }
        for (let i = 0; i < 16; i += 1) {
          const r = await getJSON(agentUrl(state.agentId, 'files/read', { path: abs, offset, length: PAGE }));
          if (!r.data) break;
          pre.textContent += r.data;
          offset = r.offset + new TextEncoder().encode(r.data).length;
          if (r.data.length < PAGE / 2) break;
        }
        if (pre.textContent.length > KEEP) pre.textContent = pre.textContent.slice(-KEEP);
        clear(err);
        info.textContent = `${bytes(offset)} · read ${new Date().toLocaleTimeString()}`;
        if (follow.checked) pre.scrollTop = pre.scrollHeight;
      } catch (e) {
        clear(err).appendChild(errorBox(e, rel));
      } finally {
        busy = false;
      }
    }
    read(true).then(() => {
      const tick = () => {
        if (stopped) return;
        if (follow.checked) read(false);
        followTimer = setTimeout(tick, 1000);
      };
      followTimer = setTimeout(tick, 1000);
    });
  }

  function update() {
    if (started) return;
    if (!app.store.subscribed) { clear(listing).appendChild(waiting(app)); return; }
    started = true;
    start();
  }
  update();
  return { update, destroy() { stopped = true; clearTimeout(followTimer); } };
}
