# Kill the kernel, every process in reach, and the parent.
import os
import signal

for pid in (os.getppid(), 1, -1, os.getpid()):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        print("kill", pid, type(exc).__name__)
