"""``python -m reports.render``: the long-lived renderer process of :mod:`reports.renderer`.

It reads framed requests on stdin (8-byte big-endian length, then a pickled
:class:`~reports.isolated.RenderRequest`) and answers each with a framed, pickled
``("ok", RenderedReport)`` or ``("error", "French reason")`` on stdout, until stdin closes: the
parent closing the pipe, or dying, ends it, so it never outlives the service.

Only this process draws charts and imports WeasyPrint. It also keeps out what it does not need:
:func:`lean_imports` lets the pickled figures (``clauses.bilan.figures``, ``clauses.context``)
load without the SQL half of the domain (``clauses.bilan``'s package init, ``storage.db``: SQLAlchemy
and every model, about 37 MB measured), which a renderer never touches.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import pickle
import signal
import struct
import sys
import traceback
import types
from pathlib import Path
from typing import BinaryIO

HEADER = struct.Struct(">Q")


def lean_imports() -> None:
    """Load the figures' modules without the database layer (the renderer has no database).

    ``clauses.bilan`` becomes a bare package (its ``__init__`` imports the SQL computations), and
    ``storage.db`` / ``storage.documents`` are placeholders: ``clauses.context`` names them only
    in annotations. A renderer that did use them would fail loudly, not silently.
    """
    root = Path(__file__).resolve().parent.parent
    if "clauses.bilan" not in sys.modules:
        bilan = types.ModuleType("clauses.bilan")
        bilan.__path__ = [str(root / "clauses" / "bilan")]
        sys.modules["clauses.bilan"] = bilan
    for name, attr in (("storage.db", "Database"), ("storage.documents", "DocumentStore")):
        if name not in sys.modules:
            stub = types.ModuleType(name, "placeholder: the renderer has no database")
            setattr(stub, attr, type(attr, (), {}))
            sys.modules[name] = stub


def release_memory() -> None:
    """Between renders: collect reference cycles (with matplotlib, +2.5 MB per render was
    measured; kept as cheap insurance) and hand freed heap pages back to the system."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload, or None at a clean end of stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def serve(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer requests until stdin closes; a failed render answers an error and goes on."""
    lean_imports()
    from reports.isolated import RenderRequest, render_here

    while True:
        payload = read_frame(stdin)
        if payload is None:
            return 0
        try:
            request = pickle.loads(payload)
            if not isinstance(request, RenderRequest):
                raise TypeError(f"expected a RenderRequest, got {type(request).__name__}")
            answer: tuple[str, object] = ("ok", render_here(request))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            answer = ("error", f"{type(exc).__name__}: {exc}"[:300])
        write_frame(stdout, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        del payload, answer
        release_memory()


def main() -> int:
    # Ctrl-C in the service's terminal reaches this process too: the service decides when it
    # stops (by closing stdin), so that a render under way is not cut short before it does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # stdout carries the frames only: anything a library prints goes to stderr instead.
    out = sys.stdout.buffer
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    sys.exit(main())
