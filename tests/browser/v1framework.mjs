// A minimal v1 HTTP scheduler (POST /api/v1/scheduler, RecordIO JSON events) for the browser
// test: subscribe, launch one task on the first offer, or suppress offers.

function records(onRecord) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, Buffer.from(chunk)]);
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      const len = Number(buf.subarray(0, nl).toString());
      if (buf.length < nl + 1 + len) return;
      onRecord(JSON.parse(buf.subarray(nl + 1, nl + 1 + len).toString()));
      buf = buf.subarray(nl + 1 + len);
    }
  };
}

export class V1Framework {
  constructor(master, info) {
    this.master = master;
    this.info = info;
    this.events = [];
    this.waiters = [];
    this.controller = new AbortController();
  }

  async subscribe() {
    const res = await fetch(`${this.master}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: this.info } }),
      signal: this.controller.signal,
    });
    if (res.status !== 200) throw new Error(`SUBSCRIBE answered ${res.status}: ${await res.text()}`);
    this.streamId = res.headers.get('mesos-stream-id');
    const feed = records((e) => {
      if (e.type === 'UPDATE' && e.update.status.uuid) {
        const s = e.update.status;
        this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } }).catch(() => {});
      }
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => !w(e));
    });
    (async () => {
      try {
        for await (const chunk of res.body) feed(chunk);
      } catch (_) { /* closed */ }
    })();
    const sub = await this.next('SUBSCRIBED');
    this.id = sub.subscribed.framework_id.value;
    return this.id;
  }

  /** The next event of `type` (or one already received and not yet taken). */
  next(type, timeoutMs = 20000) {
    const i = this.events.findIndex((e) => e.type === type);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((e) => {
        if (e.type !== type) return false;
        clearTimeout(t);
        this.events.splice(this.events.indexOf(e), 1);
        resolve(e);
        return true;
      });
    });
  }

  async call(body) {
    const res = await fetch(`${this.master}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': this.streamId },
      body: JSON.stringify({ framework_id: { value: this.id }, ...body }),
    });
    if (res.status !== 202) throw new Error(`${body.type} answered ${res.status}: ${await res.text()}`);
  }

  /** Launches a command task on the next offer and declines the rest of the offers. */
  async launch(taskId, command) {
    const offers = (await this.next('OFFERS')).offers.offers;
    const o = offers[0];
    await this.call({
      type: 'ACCEPT',
      accept: {
        offer_ids: [o.id],
        operations: [{
          type: 'LAUNCH',
          launch: {
            task_infos: [{
              name: taskId,
              task_id: { value: taskId },
              agent_id: o.agent_id,
              resources: [
                { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
                { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
              ],
              command: { value: command, shell: true },
            }],
          },
        }],
        filters: { refuse_seconds: 3600 },
      },
    });
    if (offers.length > 1) {
      await this.call({ type: 'DECLINE', decline: { offer_ids: offers.slice(1).map((x) => x.id), filters: { refuse_seconds: 3600 } } });
    }
  }

  async suppress() {
    await this.call({ type: 'SUPPRESS', suppress: {} });
  }

  close() {
    this.controller.abort();
  }
}
