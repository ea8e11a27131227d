#!/usr/bin/env python3
"""A custom executor written with the real PyPI client pymesos (v1 HTTP executor API).

Runs the shell command carried in TaskInfo.data and reports TASK_RUNNING then
TASK_FINISHED / TASK_FAILED; exits when the agent tells it to shut down.
"""
import subprocess
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data


class CommandInData(Executor):
    def launchTask(self, driver, task):
        def run():
            tid = task["task_id"]
            driver.sendStatusUpdate({"task_id": tid, "state": "TASK_RUNNING", "timestamp": time.time()})
            command = decode_data(task["data"]).decode() if task.get("data") else "true"
            code = subprocess.call(["/bin/sh", "-c", command])
            state = "TASK_FINISHED" if code == 0 else "TASK_FAILED"
            driver.sendStatusUpdate({"task_id": tid, "state": state, "timestamp": time.time(),
                                     "message": "Command exited with status %d" % code})
        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    MesosExecutorDriver(CommandInData(), use_addict=False).run()
