"""Pausing Python's cyclic garbage collector around bulk work of the domain.

Why: a bulk operation (a bilan, a declaration file of 10,000 lines) allocates a few objects
per row it reads or writes, hundreds of thousands in all, which reference counting frees as
usual since none of them sits in a reference cycle. Meanwhile the cyclic collector would walk
them, and every other object of the process, several times over: a full collection of the
service's heap costs 50-150 ms, and a 10,000-line import triggered four to six of them (a
quarter of its time, measured: docs/benchmarks.md, k20bilan2 and k21imp). The collector is
paused for that work only; whatever cycles it leaves are collected at the next automatic
collection once it is resumed.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """No automatic cyclic collection inside the block; left alone when it was paused already
    (by the caller, or by bulk work running in another thread, which resumes it when done)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
