# Never return, and refuse to be interrupted.
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
