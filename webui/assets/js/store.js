// The cluster as the operator event stream describes it: a SUBSCRIBED snapshot (GetState)
// then TASK_ADDED/UPDATED, AGENT_ADDED/REMOVED, FRAMEWORK_ADDED/UPDATED/REMOVED applied in
// order. Views read it and are told (at most once per animation frame) when it changed.

import { TERMINAL, timeInfo, scalars } from './format.js';

export class Store {
  constructor() {
    this.reset();
    this.listeners = new Set();
    this.scheduled = false;
    this.subscribed = false;
  }

  reset() {
    this.agents = new Map(); // id → GetAgents.Agent
    this.frameworks = new Map(); // id → GetFrameworks.Framework
    this.completedFrameworks = new Map();
    this.tasks = new Map(); // `${framework}/${task}` → Task
    this.executors = []; // GetExecutors.Executor
    this.lastEventAt = 0;
    this.eventCount = 0;
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const fn of this.listeners) {
        try { fn(); } catch (e) { console.error(e); }
      }
    });
  }

  apply(event) {
    this.lastEventAt = Date.now();
    this.eventCount += 1;
    switch (event.type) {
      case 'SUBSCRIBED': this.snapshot(event.subscribed.get_state || {}); this.subscribed = true; break;
      case 'TASK_ADDED': this.addTask(event.task_added.task); break;
      case 'TASK_UPDATED': this.updateTask(event.task_updated); break;
      case 'AGENT_ADDED': this.addAgent(event.agent_added.agent); break;
      case 'AGENT_REMOVED': this.agents.delete(event.agent_removed.agent_id.value); break;
      case 'FRAMEWORK_ADDED': this.addFramework(event.framework_added.framework); break;
      case 'FRAMEWORK_UPDATED': this.addFramework(event.framework_updated.framework); break;
      case 'FRAMEWORK_REMOVED': this.removeFramework(event.framework_removed.framework_info); break;
      case 'HEARTBEAT': return;
      default: return;
    }
    this.changed();
  }

  snapshot(state) {
    this.reset();
    const agents = state.get_agents || {};
    for (const a of agents.agents || []) this.addAgent(a);
    const fws = state.get_frameworks || {};
    for (const f of fws.frameworks || []) this.addFramework(f);
    for (const f of fws.completed_frameworks || []) this.completedFrameworks.set(f.framework_info.id.value, f);
    const tasks = state.get_tasks || {};
    for (const list of ['tasks', 'pending_tasks', 'completed_tasks', 'unreachable_tasks', 'orphan_tasks']) {
      for (const t of tasks[list] || []) this.addTask(t);
    }
    this.executors = (state.get_executors || {}).executors || [];
  }

  addAgent(a) {
    this.agents.set(a.agent_info.id.value, a);
  }

  addFramework(f) {
    this.frameworks.set(f.framework_info.id.value, f);
  }

  removeFramework(info) {
    const id = info.id.value;
    const f = this.frameworks.get(id);
    this.frameworks.delete(id);
    this.completedFrameworks.set(id, { ...(f || {}), framework_info: info, active: false, connected: false });
  }

  addTask(t) {
    this.tasks.set(`${t.framework_id.value}/${t.task_id.value}`, t);
  }

  updateTask(u) {
    const key = `${u.framework_id.value}/${u.status.task_id.value}`;
    const t = this.tasks.get(key);
    if (!t) return;
    t.state = u.state;
    t.statuses = [...(t.statuses || []), u.status];
  }

  task(frameworkId, taskId) {
    return this.tasks.get(`${frameworkId}/${taskId}`);
  }

  framework(id) {
    return this.frameworks.get(id) || this.completedFrameworks.get(id);
  }

  tasksOf(pred) {
    const out = [];
    for (const t of this.tasks.values()) if (pred(t)) out.push(t);
    return out;
  }

  /** Task counts by state, over every task the stream reported. */
  countsByState() {
    const counts = {};
    for (const t of this.tasks.values()) counts[t.state] = (counts[t.state] || 0) + 1;
    return counts;
  }

  /**
   * Active (non-terminal) tasks per framework id and per agent id: {count, cpus, mem, disk,
   * gpus}. The stream sends no allocation updates, so live usage is summed from tasks
   * (executors' own resources are not included).
   */
  activeCounts() {
    const byFramework = new Map();
    const byAgent = new Map();
    const add = (map, key, r) => {
      const x = map.get(key) || { count: 0, cpus: 0, mem: 0, disk: 0, gpus: 0 };
      x.count += 1; x.cpus += r.cpus; x.mem += r.mem; x.disk += r.disk; x.gpus += r.gpus;
      map.set(key, x);
    };
    for (const t of this.tasks.values()) {
      if (TERMINAL.has(t.state)) continue;
      const r = scalars(t.resources);
      add(byFramework, t.framework_id.value, r);
      if (t.agent_id) add(byAgent, t.agent_id.value, r);
    }
    return { byFramework, byAgent };
  }
}

/** When a task last changed state, in seconds. */
export function taskTime(t) {
  const s = t.statuses || [];
  return s.length ? Number(s[s.length - 1].timestamp) : undefined;
}

export { timeInfo };
