"""When Python's cycle collector runs: held back where it costs more than it finds.

Reference counting frees almost every object we make (rows, tuples, dicts); the cycle
collector is only needed for cycles, yet it runs every 700 allocations and now and then
walks the whole heap. A rating batch of a million records makes millions of short-lived
objects: the collector ran about 2,000-2,500 times in one such batch and took 12-17 % of it
(docs/usage-records.md, "Exactly once").
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_we_disabled = False

# A server makes many small objects per request. Collecting the youngest generation after
# 10,000 net allocations rather than 700 keeps its pauses rare; full walks stay as rare as
# Python makes them.
SERVER_THRESHOLD = 10_000


@contextmanager
def paused() -> Iterator[None]:
    """No automatic cycle collection inside the block (a bounded batch). Blocks may nest and
    run in several threads: the collector comes back when the last one leaves, unless it was
    off before the first came. Cycles made inside are collected by a later run."""
    global _holders, _we_disabled
    with _lock:
        _holders += 1
        if _holders == 1:
            _we_disabled = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _we_disabled:
                gc.enable()
                _we_disabled = False


def settle_server() -> None:
    """For a long-running server, once it has started: what exists now (modules, the app,
    table metadata) lives as long as the process, so the collector stops walking it
    (`gc.freeze`), and the youngest generation is collected less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(SERVER_THRESHOLD, middle, oldest)
