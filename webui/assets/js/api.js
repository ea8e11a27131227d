// Talking to the master: JSON GETs that surface API errors, the operator event stream
// (POST /api/v1 SUBSCRIBE, RecordIO JSON read with fetch + ReadableStream), and leader
// following on a non-leading master.

export class ApiError extends Error {
  constructor(status, message, url) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.url = url;
  }
}

async function failure(res, url) {
  let text = '';
  try { text = (await res.text()).trim(); } catch (_) { /* body unreadable */ }
  return new ApiError(res.status, `${res.status} ${res.statusText} from ${url}${text ? `: ${text.slice(0, 2000)}` : ''}`, url);
}

/** GET url → parsed JSON; throws ApiError with the server's message on any failure. */
export async function getJSON(url, { signal } = {}) {
  let res;
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `Network error reading ${url}: ${e.message}`, url);
  }
  if (!res.ok) throw await failure(res, url);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(res.status, `Malformed JSON from ${url}: ${e.message}`, url);
  }
}

/** GET url → text (file contents); throws ApiError on failure. */
export async function getText(url, { signal } = {}) {
  const res = await fetch(url, { signal });
  if (!res.ok) throw await failure(res, url);
  return res.text();
}

/** The path under which the master forwards an agent's read-only endpoints. */
export function agentUrl(agentId, endpoint, params) {
  const q = params ? `?${new URLSearchParams(params)}` : '';
  return `/master/agent/${encodeURIComponent(agentId)}/${endpoint}${q}`;
}

/**
 * Splits a RecordIO byte stream ("<length>\n<bytes>"...) into records. Chunks of a large
 * record (a big cluster's SUBSCRIBED) are kept aside and joined once, not copied per chunk.
 */
export class RecordIoDecoder {
  constructor() {
    this.buf = new Uint8Array(0);
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0; // bytes buf must hold before another parse is worth trying
  }

  feed(chunk) {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.buf.length + this.pendingBytes < this.need) return [];
    const b = new Uint8Array(this.buf.length + this.pendingBytes);
    b.set(this.buf, 0);
    let at = this.buf.length;
    for (const c of this.pending) { b.set(c, at); at += c.length; }
    this.buf = b;
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    const records = [];
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) {
        if (this.buf.length > 20) throw new Error('RecordIO: length prefix too long');
        break;
      }
      const len = Number(new TextDecoder().decode(this.buf.subarray(0, nl)));
      if (!Number.isSafeInteger(len) || len < 0) throw new Error('RecordIO: malformed length');
      if (this.buf.length < nl + 1 + len) { this.need = nl + 1 + len; break; }
      records.push(this.buf.subarray(nl + 1, nl + 1 + len));
      this.buf = this.buf.slice(nl + 1 + len);
    }
    return records;
  }
}

/**
 * Subscribes to the operator event stream and calls onEvent(event) for each event; calls
 * onStatus({state, error}) as the connection changes; reconnects with backoff (a new
 * SUBSCRIBED snapshot replaces everything). A stream silent for 3 heartbeat intervals (a
 * dead connection the browser has not noticed) is dropped and reopened. Returns a function
 * that stops it.
 */
export function subscribe(onEvent, onStatus) {
  let stopped = false;
  let controller = null;
  let attempt = 0;

  async function once() {
    controller = new AbortController();
    const mine = controller;
    let heard = Date.now();
    let silence = 45000;
    let stalled = false;
    const watchdog = setInterval(() => {
      if (Date.now() - heard > silence) {
        stalled = true;
        mine.abort();
      }
    }, 250);
    try {
      await read(mine, (e) => {
        heard = Date.now(); // any bytes: a big snapshot may take a while to arrive
        if (e && e.type === 'SUBSCRIBED' && e.subscribed.heartbeat_interval_seconds > 0) {
          silence = 3000 * e.subscribed.heartbeat_interval_seconds;
        }
      });
    } catch (e) {
      if (stalled) throw new Error(`no event or heartbeat for ${Math.round(silence / 1000)} s: reconnecting`);
      throw e;
    } finally {
      clearInterval(watchdog);
    }
  }

  async function read(ctl, heardEvent) {
    const res = await fetch('/api/v1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE' }),
      signal: ctl.signal,
    });
    if (!res.ok) throw await failure(res, 'POST /api/v1 SUBSCRIBE');
    const reader = res.body.getReader();
    const decoder = new RecordIoDecoder();
    const text = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the master closed the event stream');
      heardEvent(null);
      for (const record of decoder.feed(value)) {
        const event = JSON.parse(text.decode(record));
        heardEvent(event);
        if (event.type === 'SUBSCRIBED') {
          attempt = 0;
          onStatus({ state: 'live' });
        }
        onEvent(event);
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await followLeader();
        await once();
      } catch (e) {
        if (stopped) return;
        attempt += 1;
        onStatus({ state: e.leader === false ? 'no-leader' : 'down', error: e, retryIn: backoff(attempt) });
        await new Promise((r) => setTimeout(r, backoff(attempt)));
      }
    }
  })();
  return () => { stopped = true; if (controller) controller.abort(); };
}

function backoff(attempt) {
  return Math.min(15000, 500 * 2 ** Math.min(attempt, 5));
}

/**
 * On a master that is not the elected leader (metric master/elected is 0), sends the page
 * to /master/redirect, which answers 307 with the leader's address (the browser follows it,
 * landing on the leader's UI). Throws when no leader is known (503) so the caller retries.
 */
export async function followLeader() {
  const metrics = await getJSON('/metrics/snapshot');
  if (metrics['master/elected'] !== 0) return;
  const res = await fetch('/master/redirect', { redirect: 'manual' });
  if (res.status === 503 || res.status >= 500) {
    const e = new ApiError(res.status, 'This master is not the leader and no leading master is known yet.');
    e.leader = false;
    throw e;
  }
  window.location.href = "/master/redirect";
  const e = new ApiError(307, 'This master is not the leader: following the leading master…');
  e.leader = false;
  throw e;
}

/** A v1 operator API read call (e.g. GET_FRAMEWORKS) → its JSON response. */
export async function operatorCall(type) {
  let res;
  try {
    res = await fetch('/api/v1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type }),
    });
  } catch (e) {
    throw new ApiError(0, `Network error calling ${type}: ${e.message}`, '/api/v1');
  }
  if (!res.ok) throw await failure(res, `POST /api/v1 ${type}`);
  return res.json();
}
