"""``python -m reports.render``: the child process of :mod:`reports.isolated`.

Reads one pickled :class:`~reports.isolated.RenderRequest` on stdin, writes the pickled
:class:`~reports.isolated.RenderedReport` on stdout and exits; on any error it prints the
traceback on stderr (the parent logs it and keeps the last line as the reason) and exits 1.
This process is the only one that imports matplotlib and WeasyPrint; its memory goes back to
the system when it exits.
"""

from __future__ import annotations

import pickle
import sys
import traceback


def main() -> int:
    from reports.isolated import RenderRequest, render_here

    try:
        request = pickle.loads(sys.stdin.buffer.read())
        if not isinstance(request, RenderRequest):
            raise TypeError(f"expected a RenderRequest, got {type(request).__name__}")
        report = render_here(request)
        sys.stdout.buffer.write(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))
        sys.stdout.buffer.flush()
    except BaseException as exc:
        traceback.print_exc(file=sys.stderr)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
