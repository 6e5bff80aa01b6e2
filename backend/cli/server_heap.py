"""The garbage collector of a web worker, set for short requests on a large, long-lived heap.

Once the app is built, a worker holds about 140,000 objects (Flask, SQLAlchemy, the app's own)
that live as long as the process. CPython's full collection walks every one of them: 50–300 ms
during which no other thread of the process runs. When that process holds the SQLite write lock,
every save of every process waits as well, and a save's p95 is made of such pauses.

``settle`` freezes what start-up built (``gc.freeze``: it is never walked again) and lets the
older generations be collected less often. Objects made by requests are still collected: the
young generation as often as before, cycles among longer-lived ones at every full collection.
"""

from __future__ import annotations

import gc

GEN1_THRESHOLD = 20  # young collections between two collections of the middle generation
GEN2_THRESHOLD = 100  # middle-generation collections between two full ones


def settle() -> int:
    """Collect once, then freeze every object alive; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    gen0, _, _ = gc.get_threshold()
    gc.set_threshold(gen0, GEN1_THRESHOLD, GEN2_THRESHOLD)
    return gc.get_freeze_count()
