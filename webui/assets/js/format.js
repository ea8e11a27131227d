// Formatting of Mesos values for display: resources, sizes, times, ids.

/** Sums the scalar resources of a v1 Resource array: {cpus, mem, disk, gpus, ports}. */
export function scalars(resources) {
  const out = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const r of resources || []) {
    if (r.type === 'SCALAR' && r.scalar && r.name in out) out[r.name] += Number(r.scalar.value) || 0;
  }
  return out;
}

/** Port ranges of a resource array, as text. */
export function ports(resources) {
  const ranges = [];
  for (const r of resources || []) {
    if (r.name === 'ports' && r.ranges) {
      for (const x of r.ranges.range || []) ranges.push(x.begin === x.end ? `${x.begin}` : `${x.begin}-${x.end}`);
    }
  }
  return ranges.join(', ');
}

export function num(x, digits = 2) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return Number(x).toFixed(digits).replace(/\.?0+$/, '') || '0';
}

/** Megabytes (Mesos's unit for mem and disk) as a readable size. */
export function mb(x) {
  if (x === undefined || x === null) return '–';
  return bytes(x * 1024 * 1024);
}

export function bytes(x) {
  if (x === undefined || x === null || Number.isNaN(Number(x))) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = Number(x);
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function pct(x) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)}%`;
}

/** Seconds since the epoch (TimeInfo nanoseconds or a float) as local date and time. */
export function time(secs) {
  if (!secs) return '–';
  const d = new Date(secs * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A v1 TimeInfo ({nanoseconds}) in seconds. */
export function timeInfo(t) {
  return t && t.nanoseconds !== undefined ? Number(t.nanoseconds) / 1e9 : undefined;
}

export function ago(secs) {
  if (!secs) return '–';
  const d = Math.max(0, Date.now() / 1000 - secs);
  if (d < 60) return `${Math.floor(d)}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  return `${Math.floor(d / 86400)}d ago`;
}

/** The tail of a long id (uuids with suffixes), enough to tell ids apart in a table. */
export function shortId(id) {
  if (!id) return '';
  return id.length > 14 ? `…${id.slice(-12)}` : id;
}

export const TASK_STATES = [
  'TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED',
  'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED',
  'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
];

export const TERMINAL = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED',
  'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
]);

/** CSS class of a task state: ok, run, warn, bad, idle. */
export function stateClass(state) {
  switch (state) {
    case 'TASK_RUNNING': return 'run';
    case 'TASK_FINISHED': return 'ok';
    case 'TASK_STAGING': case 'TASK_STARTING': case 'TASK_KILLING': return 'warn';
    case 'TASK_FAILED': case 'TASK_ERROR': case 'TASK_LOST': case 'TASK_DROPPED':
    case 'TASK_GONE': case 'TASK_GONE_BY_OPERATOR': case 'TASK_UNREACHABLE': return 'bad';
    default: return 'idle';
  }
}

export function stateLabel(state) {
  return (state || 'UNKNOWN').replace(/^TASK_/, '').replace(/_/g, ' ').toLowerCase();
}
