# Flood stdout, stderr and rich outputs.
import sys

from IPython.display import display, HTML

line = "x" * 10_000
for i in range(10**9):
    print(line)
    sys.stderr.write(line)
    if i % 100 == 0:
        display(HTML(line))
