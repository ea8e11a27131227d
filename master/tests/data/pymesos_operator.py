"""Drives our master's v1 operator API with pymesos.operator_v1, unmodified.

Usage: pymesos_operator.py HOST:PORT TIMEOUT_SECONDS

Calls every read call pymesos offers for a master and checks each answer's `type`, then
subscribes to the event stream, prints READY, and waits for an AGENT_ADDED event (the test
starts an agent after READY). Prints one line per step; exits non-zero on any failure.
"""
import sys
import threading

from pymesos.interface import OperatorMaster
from pymesos.operator_v1 import MesosOperatorMasterDriver

master, timeout = sys.argv[1], float(sys.argv[2])


class Recorder(OperatorMaster):
    def __init__(self):
        self.agent_added = threading.Event()
        self.agent_id = None

    def agentAdded(self, agent):
        self.agent_id = agent["agent_info"]["id"]["value"]
        self.agent_added.set()


operator = Recorder()
driver = MesosOperatorMasterDriver(master, operator)

calls = [
    ("getHealth", (), "GET_HEALTH"),
    ("getVersion", (), "GET_VERSION"),
    ("getFlags", (), "GET_FLAGS"),
    ("getMetrics", (1000000000,), "GET_METRICS"),
    ("getLoggingLevel", (), "GET_LOGGING_LEVEL"),
    ("getState", (), "GET_STATE"),
    ("getAgents", (), "GET_AGENTS"),
    ("getFrameworks", (), "GET_FRAMEWORKS"),
    ("getExecutors", (), "GET_EXECUTORS"),
    ("getTasks", (), "GET_TASKS"),
    ("getRoles", (), "GET_ROLES"),
    ("getWeights", (), "GET_WEIGHTS"),
    ("getMaster", (), "GET_MASTER"),
    ("getMaintenanceStatus", (), "GET_MAINTENANCE_STATUS"),
    ("getMaintenanceSchedule", (), "GET_MAINTENANCE_SCHEDULE"),
    ("getQuota", (), "GET_QUOTA"),
]
for name, args, want in calls:
    answer = getattr(driver, name)(*args)
    if answer.get("type") != want:
        print("FAIL %s answered %r" % (name, answer), flush=True)
        sys.exit(1)
    print("OK %s" % name, flush=True)

if driver.getHealth()["get_health"]["healthy"] is not True:
    print("FAIL unhealthy", flush=True)
    sys.exit(1)

driver.start()
print("READY", flush=True)
if not operator.agent_added.wait(timeout):
    print("FAIL no AGENT_ADDED within %s s" % timeout, flush=True)
    sys.exit(1)
print("AGENT_ADDED %s" % operator.agent_id, flush=True)
driver.stop()
