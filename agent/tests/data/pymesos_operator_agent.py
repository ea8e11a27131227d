"""Drives our agent's v1 operator API with pymesos.operator_v1, unmodified.

Usage: pymesos_operator_agent.py HOST:PORT SANDBOX TEXT

Calls every read call pymesos offers for an agent and checks each answer's `type`; then
GET_CONTAINERS must list a container, LIST_FILES of SANDBOX must list `stdout`, and
READ_FILE of its stdout must contain TEXT. Prints one line per step; exits non-zero on any
failure.
"""
import base64
import sys

from pymesos.operator_v1 import MesosOperatorAgentDriver

agent, sandbox, text = sys.argv[1], sys.argv[2], sys.argv[3]
driver = MesosOperatorAgentDriver(agent)


def fail(why):
    print("FAIL %s" % why, flush=True)
    sys.exit(1)


calls = [
    ("getHealth", (), "GET_HEALTH"),
    ("getVersion", (), "GET_VERSION"),
    ("getFlags", (), "GET_FLAGS"),
    ("getMetrics", (1000000000,), "GET_METRICS"),
    ("getLoggingLevel", (), "GET_LOGGING_LEVEL"),
    ("getState", (), "GET_STATE"),
    ("getFrameworks", (), "GET_FRAMEWORKS"),
    ("getExecutors", (), "GET_EXECUTORS"),
    ("getTasks", (), "GET_TASKS"),
    ("getContainers", (), "GET_CONTAINERS"),
    ("listFiles", (sandbox,), "LIST_FILES"),
    ("readFile", (sandbox + "/stdout", 4096, 0), "READ_FILE"),
]
answers = {}
for name, args, want in calls:
    answer = driver.__getattribute__(name)(*args)
    if answer.get("type") != want:
        fail("%s answered %r" % (name, answer))
    answers[name] = answer
    print("OK %s" % name, flush=True)

# SET_LOGGING_LEVEL answers 200 with no body (pymesos reads it as {}).
if driver.setLoggingLevel(1, 1000000000) != {}:
    fail("setLoggingLevel")
print("OK setLoggingLevel", flush=True)

containers = answers["getContainers"]["get_containers"].get("containers", [])
if not containers or "container_id" not in containers[0]:
    fail("no container in %r" % answers["getContainers"])
print("CONTAINER %s executor=%s" % (
    containers[0]["container_id"]["value"],
    containers[0].get("executor_id", {}).get("value")), flush=True)

paths = [f["path"] for f in answers["listFiles"]["list_files"].get("file_infos", [])]
if sandbox + "/stdout" not in paths:
    fail("stdout not listed in %r" % paths)

data = base64.b64decode(answers["readFile"]["read_file"].get("data", ""))
if text.encode() not in data:
    fail("stdout %r does not contain %r" % (data, text))
print("READ %d bytes of %d" % (len(data), int(answers["readFile"]["read_file"]["size"])),
      flush=True)
print("DONE", flush=True)
