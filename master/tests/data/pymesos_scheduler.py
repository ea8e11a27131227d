"""A small pymesos (real PyPI client, v1 HTTP scheduler API) framework for the master tests.

usage: pymesos_scheduler.py MASTER NTASKS TIMEOUT
Launches NTASKS `echo ok` command tasks (cpus 0.1, mem 32), declines what it cannot use,
prints one line per status update and a summary `pymesos: N launched, F finished, X failed`.
Exit status 0 iff every task reached TASK_FINISHED.
"""
import getpass
import socket
import sys
import threading

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


def scalar(offer, name):
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Tasks(Scheduler):
    def __init__(self, n):
        self.n, self.launched, self.finished, self.failed = n, 0, 0, 0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        print("pymesos: registered", framework_id.value, flush=True)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
            tasks = []
            with self.lock:
                while self.launched < self.n and cpus >= 0.1 and mem >= 32:
                    task = Dict()
                    task.task_id.value = "py-task-%d" % self.launched
                    task.agent_id.value = offer.agent_id.value
                    task.name = task.task_id.value
                    task.command.value = "echo ok"
                    task.resources = [
                        dict(name="cpus", type="SCALAR", scalar={"value": 0.1}),
                        dict(name="mem", type="SCALAR", scalar={"value": 32}),
                    ]
                    tasks.append(task)
                    self.launched += 1
                    cpus -= 0.1
                    mem -= 32
            if tasks:
                driver.launchTasks(offer.id, tasks)
            else:
                driver.declineOffer(offer.id, filters={"refuse_seconds": 5})

    def statusUpdate(self, driver, update):
        print("pymesos: update", update.task_id.value, update.state, flush=True)
        if update.state not in TERMINAL:
            return
        with self.lock:
            if update.state == "TASK_FINISHED":
                self.finished += 1
            else:
                self.failed += 1
            if self.finished + self.failed >= self.n:
                self.done.set()


def main():
    master, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    framework = Dict(user=getpass.getuser(), name="pymesos-interop", hostname=socket.gethostname())
    sched = Tasks(n)
    driver = MesosSchedulerDriver(sched, framework, master, use_addict=True)
    driver.start()
    sched.done.wait(timeout)
    driver.stop()
    driver.join()
    print("pymesos: %d launched, %d finished, %d failed" % (sched.launched, sched.finished, sched.failed), flush=True)
    sys.exit(0 if sched.finished == n else 1)


if __name__ == "__main__":
    main()
