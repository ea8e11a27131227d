// Drives the master's web UI in headless Debian chromium against a running cluster.
//   MASTER=http://127.0.0.1:5050 SCREENSHOTS=dir STDOUT_TEXT='hello' node webui.mjs
// Exits 0 when every check passed; prints each check as it passes; saves one screenshot per
// main view. Started by local/tests/webui.rs, which starts the cluster and its tasks.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { V1Framework } from './v1framework.mjs';
import { syntheticSubscribed } from './synthetic.mjs';

const MASTER = process.env.MASTER;
const SHOTS = process.env.SCREENSHOTS || 'webui-screenshots';
const STDOUT_TEXT = process.env.STDOUT_TEXT || 'hello';
if (!MASTER) throw new Error('MASTER is not set');
mkdirSync(SHOTS, { recursive: true });

const ok = (what) => console.log(`ok - ${what}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function eventually(what, fn, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const r = await fn();
      if (r === true || (r !== false && r !== undefined)) return r;
      last = new Error('condition false');
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms: ${last && last.message}`);
    await sleep(250);
  }
}

async function json(path) {
  const res = await fetch(`${MASTER}${path}`);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  ok(`screenshot ${name}.png`);
}

/** What the dashboard must show, computed from /master/state and /metrics/snapshot. */
async function expected() {
  const s = await json('/master/state');
  const counts = {};
  const all = [...s.frameworks, ...(s.completed_frameworks || [])].flatMap((f) => [...(f.tasks || []), ...(f.completed_tasks || [])]);
  for (const t of all) counts[t.state] = (counts[t.state] || 0) + 1;
  const sum = (list, key) => list.reduce((a, x) => a + (Number((x[key] || {}).cpus) || 0), 0);
  return {
    agents: s.slaves.length,
    frameworks: s.frameworks.length,
    counts,
    cpusTotal: sum(s.slaves, 'resources'),
    cpusUsed: sum(s.slaves, 'used_resources'),
  };
}

async function shown(page) {
  return page.evaluate(() => {
    const text = (sel) => document.querySelector(sel)?.textContent.trim();
    const counts = {};
    document.querySelectorAll('.state-count').forEach((el) => { counts[el.dataset.state] = Number(el.querySelector('b').textContent.replace(/,/g, '')); });
    return {
      agents: Number(text('[data-stat=agents] .stat-value')),
      frameworks: Number(text('[data-stat=frameworks] .stat-value')),
      counts,
      cpusTotal: Number(text('#resources tr[data-resource=cpus] td[data-field=total]')),
      cpusUsed: Number(text('#resources tr[data-resource=cpus] td[data-field=used]')),
    };
  });
}

function same(a, b) {
  const states = new Set([...Object.keys(a.counts), ...Object.keys(b.counts)]);
  for (const st of states) if ((a.counts[st] || 0) !== (b.counts[st] || 0)) return `${st}: ui ${b.counts[st] || 0} vs state ${a.counts[st] || 0}`;
  for (const k of ['agents', 'frameworks', 'cpusTotal', 'cpusUsed']) {
    if (Math.abs(a[k] - b[k]) > 1e-6) return `${k}: ui ${b[k]} vs state ${a[k]}`;
  }
  return null;
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
const frameworks = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const consoleErrors = [];
  // Failed requests are reported by URL (the console's message does not name it).
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`); });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  // Dashboard = /master/state.
  await page.goto(`${MASTER}/`);
  await page.waitForSelector('#conn[data-state=live]', { timeout: 20000 });
  ok('the UI subscribed to the operator event stream');
  let diff;
  await eventually('dashboard numbers equal /master/state', async () => {
    const want = await expected();
    diff = same(want, await shown(page));
    if (diff) throw new Error(diff);
    return want.counts.TASK_RUNNING > 0;
  });
  ok('dashboard agents, frameworks, tasks by state and cpus total/used equal /master/state');
  await page.evaluate(() => { window.__noReload = 'still-here'; });
  await page.waitForSelector('#chart-util', { timeout: 20000 });
  await shot(page, 'dashboard');

  // A state's count on the dashboard opens the task list filtered by that state.
  const running = (await shown(page)).counts.TASK_RUNNING;
  await page.click('.state-count[data-state=TASK_RUNNING]');
  await page.waitForFunction((n) => document.querySelector('#all-tasks .count')?.textContent === `1–${n} of ${n}`, running, { timeout: 10000 });
  ok(`the running count opens the task list with its ${running} running tasks`);
  await shot(page, 'tasks');

  // Frameworks → framework → task → sandbox → stdout.
  await page.click('#nav a[data-nav=frameworks]');
  await page.waitForSelector('#frameworks-table tbody tr[data-key]');
  await shot(page, 'frameworks');
  await page.click('#frameworks-table tbody tr[data-key] td:nth-child(2) a');
  await page.waitForSelector('#framework-tasks tbody tr[data-key]');
  ok('framework detail lists its tasks');
  await shot(page, 'framework-detail');
  await page.click('#framework-tasks tbody tr[data-key] a.task-link');
  await page.waitForSelector('#open-sandbox');
  await shot(page, 'task-detail');
  await page.click('#open-sandbox');
  await page.waitForSelector('#sandbox-listing tr[data-file=stdout]', { timeout: 20000 });
  await page.click('#open-stdout');
  await page.waitForFunction((t) => document.querySelector('#file-content')?.textContent.includes(t), STDOUT_TEXT, { timeout: 20000 });
  ok(`sandbox: framework → task → sandbox → stdout shows "${STDOUT_TEXT}"`);
  const download = await page.getAttribute('#sandbox-listing tr[data-file=stdout] a.download', 'href');
  const file = await fetch(download);
  const fileText = await file.text();
  if (file.status !== 200 || !fileText.includes(STDOUT_TEXT)) throw new Error(`download ${download}: ${file.status} ${fileText.slice(0, 200)}`);
  ok(`the sandbox's Download link (${new URL(download).pathname} on the agent) returns the file`);
  await shot(page, 'task-sandbox');

  // A new task appears without a reload.
  await page.click('#nav a[data-nav=dashboard]');
  const before = (await shown(page)).counts.TASK_RUNNING || 0;
  const late = new V1Framework(MASTER, { user: 'root', name: 'webui-late', roles: ['*'], capabilities: [{ type: 'MULTI_ROLE' }] });
  frameworks.push(late);
  const lateId = await late.subscribe();
  await late.launch('late-task-1', 'echo late task output; i=0; while [ $i -lt 90 ]; do i=$((i+1)); echo tick $i; sleep 1; done; sleep 60');
  await page.waitForFunction((n) => Number(document.querySelector('.state-count[data-state=TASK_RUNNING] b')?.textContent) > n, before, { timeout: 30000 });
  await page.evaluate((id) => { window.location.hash = `#/frameworks/${encodeURIComponent(id)}`; }, lateId);
  await page.waitForSelector('#framework-tasks tbody tr[data-key="late-task-1"]', { timeout: 20000 });
  if (await page.evaluate(() => window.__noReload) !== 'still-here') throw new Error('the page was reloaded');
  ok('a task launched after the page loaded appeared (dashboard count, framework page) without a reload');

  // Following stdout: lines the task writes after the file was opened appear on their own.
  await page.click('#framework-tasks tbody tr[data-key="late-task-1"] a.sandbox-link');
  await page.waitForSelector('#open-stdout', { timeout: 20000 });
  await page.click('#open-stdout');
  await page.waitForFunction(() => /tick \d+/.test(document.querySelector('#file-content')?.textContent || ''), null, { timeout: 20000 });
  const lastTick = () => page.evaluate(() => Math.max(...[...(document.querySelector('#file-content').textContent.matchAll(/tick (\d+)/g))].map((m) => Number(m[1]))));
  const seen = await lastTick();
  await page.waitForFunction((n) => new RegExp(`tick ${n}\\b`).test(document.querySelector('#file-content').textContent), seen + 3, { timeout: 20000 });
  ok(`following stdout: "tick ${seen + 3}" appeared after "tick ${seen}" without any action`);

  // The allocation view explains a suppressed framework.
  const quiet = new V1Framework(MASTER, { user: 'root', name: 'webui-suppressed', roles: ['quiet'], capabilities: [{ type: 'MULTI_ROLE' }] });
  frameworks.push(quiet);
  const quietId = await quiet.subscribe();
  await quiet.suppress();
  await page.click('#nav a[data-nav=allocation]');
  const row = `#allocation tr[data-framework="${quietId}"][data-outcome=SUPPRESSED]`;
  await page.waitForSelector(row, { timeout: 30000 });
  const why = await page.textContent(`${row} .explain-message`);
  if (!why.includes('suppressed')) throw new Error(`allocation view says: ${why}`);
  ok(`allocation view explains the suppressed framework: "${why.trim()}"`);
  await sleep(4500); // a few samples in the history column
  await shot(page, 'allocation');

  // Agents, an agent with its containers' statistics, roles.
  await page.click('#nav a[data-nav=agents]');
  await page.waitForSelector('#agents-table tbody tr[data-key]');
  await shot(page, 'agents');
  await page.click('#agents-table tbody tr[data-key] td:first-child a');
  await page.waitForSelector('#containers table tbody tr', { timeout: 20000 });
  await page.waitForFunction(() => /%/.test(document.querySelector('#containers table tbody tr td:nth-child(4)')?.textContent || ''), null, { timeout: 20000 });
  ok('agent detail shows its executors with container statistics');
  await shot(page, 'agent-detail');
  await page.click('#nav a[data-nav=roles]');
  await page.waitForSelector('#roles-table tbody tr[data-key="quiet"]', { timeout: 20000 });
  ok('roles view lists the roles with weights and shares');
  await shot(page, 'roles');

  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join(' | ')}`);
  ok('no JavaScript errors and no failed requests');

  // API errors are shown, not a blank page.
  await page.goto(`${MASTER}/#/agents/no-such-agent`);
  await page.waitForSelector('#containers .error-box', { timeout: 20000 });
  const err = await page.textContent('#containers .error-box');
  if (!err.includes('404') || !err.includes("No agent 'no-such-agent'")) throw new Error(`error box says: ${err}`);
  ok('an API error (404 from the agent proxy) is shown with its message');


  // 1,000 agents and 10,000 tasks: a synthetic SUBSCRIBED snapshot, served to a fresh page.
  const big = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const body = syntheticSubscribed(1000, 10000);
  await big.route('**/api/v1', (route) => (JSON.parse(route.request().postData() || '{}').type === 'SUBSCRIBE'
    ? route.fulfill({ status: 200, contentType: 'application/json', body })
    : route.continue()));
  const t0 = Date.now();
  await big.goto(`${MASTER}/#/agents`);
  await big.waitForFunction(() => document.querySelector('#agents-table .count')?.textContent === '1–50 of 1,000', null, { timeout: 30000 });
  const rendered = Date.now() - t0;
  await big.fill('#agents-table input.filter', 'host-0999');
  await big.waitForFunction(() => document.querySelector('#agents-table .count')?.textContent === '1–1 of 1');
  await big.goto(`${MASTER}/#/frameworks/synthetic-fw-0`);
  await big.waitForFunction(() => /of 5,000$/.test(document.querySelector('#framework-tasks .count')?.textContent || ''), null, { timeout: 30000 });
  await big.goto(`${MASTER}/#/`);
  await big.waitForFunction(() => document.querySelector('.state-count[data-state=TASK_RUNNING] b')?.textContent === '10,000', null, { timeout: 30000 });
  await big.goto(`${MASTER}/#/agents`);
  await big.waitForFunction(() => document.querySelector('#agents-table .count')?.textContent === '1–50 of 1,000', null, { timeout: 30000 });
  ok(`1,000 agents / 10,000 tasks: paged lists, filter and counts (first page in ${rendered} ms)`);
  if (rendered > 15000) throw new Error(`rendering the large state took ${rendered} ms`);
  await shot(big, 'large-agents');
  await big.close();

  // On a master that is not the leader (master/elected 0), the UI follows /master/redirect's
  // 307 to the leader. The standby is simulated on this origin; the "leader" is the same
  // master reached as localhost (another origin), where the UI goes live.
  const standby = await browser.newPage();
  const origin = new URL(MASTER);
  const leader = `http://localhost:${origin.port}/`;
  await standby.route(`${origin.origin}/metrics/snapshot`, (r) => r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ 'master/elected': 0 }) }));
  await standby.route(`${origin.origin}/master/redirect`, (r) => r.fulfill({ status: 307, headers: { Location: leader } }));
  await standby.goto(`${MASTER}/`);
  await standby.waitForURL(`${leader}**`, { timeout: 20000 });
  await standby.waitForSelector('#conn[data-state=live]', { timeout: 20000 });
  ok(`a non-leading master's UI followed /master/redirect to the leader (${standby.url()})`);
  console.log('all browser checks passed');
} finally {
  for (const f of frameworks) f.close();
  await browser.close();
}
