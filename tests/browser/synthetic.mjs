// A synthetic operator-stream SUBSCRIBED event (RecordIO framed) with `agents` agents and
// `tasks` running tasks split over two frameworks, for the UI's large-cluster check.

export function syntheticSubscribed(agents, tasks) {
  const res = (cpus, mem) => [
    { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
    { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
  ];
  const now = Date.now() / 1000;
  const agentList = [];
  for (let i = 0; i < agents; i += 1) {
    const id = `synthetic-agent-${i}`;
    agentList.push({
      agent_info: { id: { value: id }, hostname: `host-${String(i).padStart(4, '0')}`, port: 5051, resources: res(8, 16384) },
      active: true, version: '1.11.0', pid: `slave(1)@10.0.${Math.floor(i / 250)}.${i % 250}:5051`,
      registered_time: { nanoseconds: Math.floor(now * 1e9) },
      total_resources: res(8, 16384), allocated_resources: res(1, 320), offered_resources: [],
    });
  }
  const fws = [0, 1].map((i) => ({
    framework_info: { id: { value: `synthetic-fw-${i}` }, name: `synthetic-${i}`, user: 'root', roles: ['*'] },
    active: true, connected: true, recovered: false,
    registered_time: { nanoseconds: Math.floor(now * 1e9) },
    allocated_resources: res(tasks / 20, tasks * 16), offered_resources: [],
  }));
  const taskList = [];
  for (let i = 0; i < tasks; i += 1) {
    const fw = `synthetic-fw-${i % 2}`;
    taskList.push({
      name: `task-${i}`, task_id: { value: `task-${i}` }, framework_id: { value: fw },
      agent_id: { value: `synthetic-agent-${i % agents}` }, state: 'TASK_RUNNING', resources: res(0.1, 32),
      statuses: [{ task_id: { value: `task-${i}` }, state: 'TASK_RUNNING', timestamp: now }],
    });
  }
  const event = JSON.stringify({
    type: 'SUBSCRIBED',
    subscribed: {
      get_state: {
        get_agents: { agents: agentList },
        get_frameworks: { frameworks: fws },
        get_tasks: { tasks: taskList },
        get_executors: {},
      },
      heartbeat_interval_seconds: 15,
    },
  });
  const bytes = Buffer.byteLength(event);
  return `${bytes}\n${event}`;
}
