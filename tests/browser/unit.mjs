// Unit checks of the UI's pure modules under node (no browser): the RecordIO decoder, the
// store applying operator events, DRF shares, finding a task's sandbox. Run by
// local/tests/webui.rs; prints "unit checks passed".

import assert from 'node:assert/strict';
import { RecordIoDecoder } from '../../webui/assets/js/api.js';
import { Store } from '../../webui/assets/js/store.js';
import { dominantShare } from '../../webui/assets/js/views/roles.js';
import { findSandbox } from '../../webui/assets/js/views/sandbox.js';

globalThis.requestAnimationFrame = (f) => setTimeout(f, 0);

// RecordIO: the same records whatever the chunking, multi-byte characters included.
const enc = new TextEncoder();
const recs = ['{"a":1}', 'x'.repeat(100000), '{"ü":"é\\n"}', ''];
const wire = enc.encode(recs.map((r) => `${enc.encode(r).length}\n${r}`).join(''));
for (const size of [1, 3, 7, 1000, 65536, wire.length]) {
  const d = new RecordIoDecoder();
  const out = [];
  for (let i = 0; i < wire.length; i += size) out.push(...d.feed(wire.slice(i, i + size)));
  assert.deepEqual(out.map((r) => new TextDecoder().decode(r)), recs, `chunks of ${size}`);
}
assert.throws(() => new RecordIoDecoder().feed(enc.encode('12x\n{}')), /malformed length/);

// The store: snapshot, then task, framework and agent events in order.
const s = new Store();
const task = (id, state) => ({ task_id: { value: id }, framework_id: { value: 'f1' }, agent_id: { value: 'a1' }, state, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } }], statuses: [] });
s.apply({ type: 'SUBSCRIBED', subscribed: { get_state: {
  get_agents: { agents: [{ agent_info: { id: { value: 'a1' }, hostname: 'h1' }, active: true }] },
  get_frameworks: { frameworks: [{ framework_info: { id: { value: 'f1' }, name: 'one' }, active: true }] },
  get_tasks: { tasks: [task('t1', 'TASK_RUNNING')], completed_tasks: [task('t0', 'TASK_FINISHED')] },
} } });
s.apply({ type: 'TASK_ADDED', task_added: { task: task('t2', 'TASK_STAGING') } });
s.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'f1' }, state: 'TASK_FAILED', status: { task_id: { value: 't1' }, state: 'TASK_FAILED', timestamp: 1 } } });
s.apply({ type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { id: { value: 'a2' }, hostname: 'h2' }, active: true } } });
s.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: 'a1' } } });
assert.deepEqual(s.countsByState(), { TASK_FAILED: 1, TASK_FINISHED: 1, TASK_STAGING: 1 });
assert.equal(s.task('f1', 't1').statuses.length, 1);
assert.deepEqual([...s.agents.keys()], ['a2']);
const { byFramework } = s.activeCounts();
assert.deepEqual(byFramework.get('f1'), { count: 1, cpus: 0.5, mem: 0, disk: 0, gpus: 0 });
s.apply({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { id: { value: 'f1' }, name: 'one' } } });
assert.equal(s.frameworks.size, 0);
assert.equal(s.completedFrameworks.get('f1').framework_info.name, 'one');

// DRF: the largest fraction of any resource; nothing allocated is 0.
assert.deepEqual(dominantShare({ cpus: 2, mem: 512 }, { cpus: 8, mem: 1024 }), { share: 0.5, kind: 'mem' });
assert.deepEqual(dominantShare({}, { cpus: 8 }), { share: 0, kind: '–' });

// A task's sandbox: its executor's directory, by task or by command-executor id.
const state = { frameworks: [{ id: 'f1', executors: [
  { id: 'e1', directory: '/w/e1', tasks: [{ id: 't1' }] },
  { id: 't9', directory: '/w/t9', tasks: [] },
] }], completed_frameworks: [{ id: 'f2', completed_executors: [{ id: 'e3', directory: '/w/e3', completed_tasks: [{ id: 't3' }] }] }] };
assert.equal(findSandbox(state, 'f1', 't1'), '/w/e1');
assert.equal(findSandbox(state, 'f1', 't9'), '/w/t9');
assert.equal(findSandbox(state, 'f2', 't3'), '/w/e3');
assert.equal(findSandbox(state, 'f1', 'nope'), undefined);


// The event stream: a stream that goes silent past 3 heartbeat intervals is reopened.
{
  const { subscribe } = await import('../../webui/assets/js/api.js');
  let opened = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, opts = {}) => {
    if (url === '/metrics/snapshot') return new Response('{"master/elected":1}', { status: 200 });
    if (url !== '/api/v1') throw new Error(`unexpected ${url}`);
    opened += 1;
    const event = JSON.stringify({ type: 'SUBSCRIBED', subscribed: { get_state: {}, heartbeat_interval_seconds: 0.1 } });
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(`${Buffer.byteLength(event)}\n${event}`));
        opts.signal.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
      },
    });
    return new Response(body, { status: 200 });
  };
  const statuses = [];
  const stop = subscribe(() => {}, (s) => statuses.push(s));
  const until = Date.now() + 5000;
  while (opened < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  stop();
  globalThis.fetch = realFetch;
  assert.ok(opened >= 2, `the silent stream was not reopened (opened ${opened})`);
  const down = statuses.find((s) => s.state === 'down');
  assert.match(down.error.message, /no event or heartbeat/);
}
console.log('unit checks passed');
