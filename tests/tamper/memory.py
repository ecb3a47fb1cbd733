# Allocate 50 GB, first at once, then piece by piece.
import numpy as np

try:
    huge = np.ones(50 * 10**9 // 8)
except MemoryError:
    print("numpy: MemoryError")
chunks = []
while True:
    chunks.append(bytearray(10**9))
