"""Values that travel over the wire, shared by the wire and remote tests."""

import numpy as np

ARRAYS = [
    np.arange(6, dtype=np.int8).reshape(2, 3),
    np.arange(5, dtype=np.uint64) * (2**60),
    np.linspace(-1, 1, 7, dtype=np.float32),
    np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]),
    np.array([True, False, True]),
    np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
    np.zeros((0, 3)),
    np.array(2.5),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::2, 1:],
    np.array(["a", "бв"]),
    np.arange(4, dtype=">f8"),
    np.array(["2026-11-27", "NaT"], dtype="datetime64[D]"),
    np.array([1, -2], dtype="timedelta64[ms]"),
    np.array([b"ab", b""], dtype="S2"),
    np.array([1.5, -0.25], dtype=">c16"),
    np.arange(3, dtype=np.float16),
    np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)),
    np.arange(10.0)[::3],
    np.zeros((2, 0, 3), dtype="<U3"),
]

SCALARS = [
    0,
    -7,
    2**80,
    1.5,
    float("nan"),
    float("inf"),
    -float("inf"),
    True,
    None,
    "строка",
    np.float64(0.25),
    np.float32(-1.5),
    np.int64(-3),
    np.bool_(True),
    np.float64("nan"),
    (1, (2.0, [np.int16(3)])),
    [np.zeros(2), {"k": np.float64(1)}],
]
