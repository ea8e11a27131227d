#!/usr/bin/env python3
"""A framework written with the real PyPI client pymesos (v1 HTTP scheduler API).

Launches N tasks and exits 0 once all reached TASK_FINISHED. With --executor, each task
carries an ExecutorInfo running pymesos_executor.py (a pymesos v1 HTTP executor); otherwise
tasks are command tasks run by the agent's command executor.

Prints one line per status update and a summary:
  pymesos: N launched, N finished, 0 failed
"""
import argparse
import os
import sys
import threading
import time
import uuid

from pymesos import MesosSchedulerDriver, Scheduler, encode_data

HERE = os.path.dirname(os.path.abspath(__file__))
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


def scalar(resources, name):
    return sum(r.get("scalar", {}).get("value", 0.0) for r in resources if r["name"] == name)


class Framework(Scheduler):
    def __init__(self, args):
        self.args = args
        self.launched = 0
        self.finished = 0
        self.failed = 0
        self.done = threading.Event()
        self.ended = set()

    def registered(self, driver, framework_id, master_info):
        print("pymesos: registered as %s" % framework_id["value"], flush=True)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = scalar(offer["resources"], "cpus")
            mem = scalar(offer["resources"], "mem")
            tasks = []
            need_cpus = 0.1 + (0.1 if self.args.executor else 0.0)
            need_mem = 32 + (32 if self.args.executor else 0)
            while self.launched < self.args.tasks and cpus >= need_cpus and mem >= need_mem:
                tid = "pymesos-task-%d" % self.launched
                task = {
                    "task_id": {"value": tid},
                    "agent_id": {"value": offer["agent_id"]["value"]},
                    "name": tid,
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                    ],
                }
                if self.args.executor:
                    task["executor"] = {
                        "executor_id": {"value": "pymesos-executor-%s" % tid},
                        "name": "pymesos executor",
                        "command": {"value": "%s %s" % (sys.executable, os.path.join(HERE, "pymesos_executor.py"))},
                        "resources": [
                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                        ],
                    }
                    task["data"] = encode_data(self.args.command.encode())
                else:
                    task["command"] = {"value": self.args.command, "shell": True}
                tasks.append(task)
                self.launched += 1
                cpus -= need_cpus
                mem -= need_mem
            if tasks:
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 5})

    def statusUpdate(self, driver, update):
        state = update["state"]
        tid = update["task_id"]["value"]
        print("pymesos: task %s is %s %s" % (tid, state, update.get("message", "")), flush=True)
        if state in TERMINAL and tid not in self.ended:
            self.ended.add(tid)
            if state == "TASK_FINISHED":
                self.finished += 1
            else:
                self.failed += 1
        if self.finished + self.failed >= self.args.tasks:
            self.done.set()

    def error(self, driver, message):
        print("pymesos: error %s" % message, flush=True)
        self.done.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--tasks", type=int, default=5)
    p.add_argument("--command", default="echo hello from pymesos")
    p.add_argument("--executor", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    framework = Framework(args)
    info = {"user": "root", "name": "pymesos-interop-%s" % uuid.uuid4().hex[:6], "hostname": "localhost"}
    driver = MesosSchedulerDriver(framework, info, args.master, use_addict=False)
    driver.start()
    ok = framework.done.wait(args.timeout)
    driver.stop()
    print("pymesos: %d launched, %d finished, %d failed%s" % (
        framework.launched, framework.finished, framework.failed, "" if ok else " (timed out)"), flush=True)
    sys.exit(0 if ok and framework.finished == args.tasks else 1)


if __name__ == "__main__":
    main()
