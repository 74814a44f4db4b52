"""One long-lived renderer process for the service (``python -m reports.render``).

Why a process: WeasyPrint (60 MB) never gives its memory back once imported, and a render that
crashes (a font library, the OOM killer) must not take the service down. Since the charts are
drawn with Pillow, which the service already holds, the service draws them itself (+5 MB there
against a 33 MB process here, :data:`reports.isolated.HERE`): this process prints the PDFs
(escalation letters, bilan PDFs), and whatever a caller sends it with ``isolated=True``.
Why one long-lived process rather than one per report: each fresh child paid the imports again
(1 to 5 s of CPU per report) and, importing the whole domain to unpickle the figures, weighed 81 to 155 MB; this one imports only what renders (see
:func:`reports.render.lean_imports`), so it weighs 45 to 125 MB, and it is

- started lazily, at the first PDF, and reused by the next ones (a mailing of bilans);
- stopped after :data:`IDLE_SECONDS` without work, so its memory goes back to the system
  between batches, and recycled after :data:`MAX_RENDERS` renders or when it grew past
  :data:`MAX_RSS_MB` (fragmentation);
- restarted when a report does not need a library the running renderer holds: a letter's PDF
  (WeasyPrint only) weighs 60 MB, a bilan's charts (Pillow only) 33 MB; both in one process
  would keep WeasyPrint's 60 MB for every later chart: each kind of report runs in a process that holds only what
  it needs;
- fed one request at a time (a lock): callers in several threads queue, at most
  :data:`MAX_WAITING` of them; beyond, :class:`RenderFailed` says so at once and the caller
  (the outbox sender, the scheduler) retries later;
- restarted after a crash or a timeout: that render raises :class:`RenderFailed` with a French
  reason, never a hang, and the next render gets a fresh process;
- stopped by :func:`shutdown` when the service stops (and at interpreter exit); closing its
  stdin is what ends it, so even a killed service leaves no renderer behind.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from reports.render import HEADER

if TYPE_CHECKING:
    from reports.isolated import RenderedReport, RenderRequest

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
"""Seconds one render may take: an annual bilan of a whole territory renders in a few seconds;
a renderer stuck longer (fonts cache rebuilt, swap) is killed rather than blocking the sender."""
IDLE_SECONDS = 60.0
MAX_RENDERS = 50
MAX_RSS_MB = 160.0
MAX_WAITING = 8


class RenderFailed(RuntimeError):
    """The renderer could not render the report; ``str(exc)`` is a French reason for people."""


def _child_env() -> dict[str, str]:
    """The parent's environment, with this checkout first on the path (tests, bench copies)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("MALLOC_ARENA_MAX", "2")  # one thread renders: no need for more arenas
    return env


def needs(request: RenderRequest) -> frozenset[str]:
    """The heavy libraries a request loads: ``charts`` (Pillow and its fonts), ``weasyprint``."""
    if request.html_pdf is not None:
        return frozenset({"weasyprint"})
    heavy = set()
    if "html" in request.outputs or "pdf" in request.outputs:
        heavy.add("charts")
    if "pdf" in request.outputs:
        heavy.add("weasyprint")
    return frozenset(heavy)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Renderer:
    """A client of one renderer process; thread-safe. The service uses :func:`shared`."""

    def __init__(self, *, executable: str | None = None, idle_seconds: float = IDLE_SECONDS,
                 max_renders: int = MAX_RENDERS, max_rss_mb: float = MAX_RSS_MB,
                 max_waiting: int = MAX_WAITING) -> None:
        self.executable = executable
        self.idle_seconds = idle_seconds
        self.max_renders = max_renders
        self.max_rss_mb = max_rss_mb
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._waiting = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._renders = 0
        self._loaded: frozenset[str] = frozenset()
        self._last_used = 0.0
        self._timer: threading.Timer | None = None
        self.started = 0
        """Processes started so far (tests and the bench read it)."""

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def render(self, request: RenderRequest, *, timeout: float = DEFAULT_TIMEOUT) -> RenderedReport:
        """Render in the renderer process; raise :class:`RenderFailed` with a French reason."""
        from reports.isolated import RenderedReport

        try:
            payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a figure that is not plain data: a programming error, say so
            raise RenderFailed(f"données du rapport non transmissibles au moteur de rendu ({exc})") from exc
        with self._count_lock:
            if self._waiting >= self.max_waiting:
                raise RenderFailed(f"trop de rapports en attente de rendu ({self._waiting}) : "
                                   "nouvel essai plus tard")
            self._waiting += 1
        try:
            with self._lock:
                answer = self._exchange(payload, needs(request), timeout)
        finally:
            with self._count_lock:
                self._waiting -= 1
        kind, value = answer
        if kind == "error":
            raise RenderFailed(f"échec du moteur de rendu : {value}")
        if kind != "ok" or not isinstance(value, RenderedReport):
            raise RenderFailed("réponse inattendue du moteur de rendu")
        return value

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the renderer process (closing its stdin ends it); the next render starts one."""
        with self._lock:
            self._stop(timeout)

    # -- under self._lock ---------------------------------------------------------------------

    def _exchange(self, payload: bytes, heavy: frozenset[str], timeout: float) -> tuple[str, object]:
        if self._proc is not None and not self._loaded <= heavy:
            self._stop(10.0)  # it holds a library this report does not need: start afresh
        proc = self._ensure_started()
        self._loaded |= heavy
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(HEADER.pack(len(payload)) + payload)
            proc.stdin.flush()
            raw = self._read_answer(proc, timeout)
        except TimeoutError as exc:
            self._kill()
            raise RenderFailed(f"le moteur de rendu n'a pas répondu en {timeout:.0f} s (arrêté)") from exc
        except (OSError, EOFError) as exc:
            reason = self._crash_reason()
            self._kill()
            raise RenderFailed(f"échec du moteur de rendu : {reason}") from exc
        try:
            answer = pickle.loads(raw)
        except Exception as exc:
            self._kill()
            raise RenderFailed(f"réponse illisible du moteur de rendu ({exc})") from exc
        self._renders += 1
        self._last_used = time.monotonic()
        if self._renders >= self.max_renders or _rss_mb(proc.pid) > self.max_rss_mb:
            self._stop(10.0)  # recycled: the next render starts a fresh one
        else:
            self._arm_idle_timer()
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise RenderFailed("réponse inattendue du moteur de rendu")
        return answer

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            self._kill()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _kill/_stop
        try:
            self._proc = subprocess.Popen(
                [self.executable or sys.executable, "-m", "reports.render"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                env=_child_env(), close_fds=True)
        except OSError as exc:
            self._stderr.close()
            self._stderr = None
            raise RenderFailed(f"moteur de rendu impossible à lancer ({exc})") from exc
        self._renders = 0
        self._loaded = frozenset()
        self.started += 1
        log.info("report renderer started (pid %s)", self._proc.pid)
        return self._proc

    def _read_answer(self, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        need = HEADER.size
        header_done = False
        while True:
            while need > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    raise TimeoutError
                chunk = os.read(fd, min(need, 1 << 20))
                if not chunk:
                    raise EOFError("renderer closed its output")
                chunks.append(chunk)
                need -= len(chunk)
            data = b"".join(chunks)
            if header_done:
                return data
            (need,) = HEADER.unpack(data)
            chunks, header_done = [], True
            if need == 0:
                return b""

    def _crash_reason(self) -> str:
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(2)
        text = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace")
            if text:
                log.error("report renderer failed (exit %s): %s", code, text[-2000:])
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
        if code is not None and code < 0:
            return f"processus arrêté par le signal {-code}"
        return f"processus arrêté (code de sortie {code})"

    def _arm_idle_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.idle_seconds, self._stop_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _stop_if_idle(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # busy: the render under way re-arms the timer
        try:
            if time.monotonic() - self._last_used >= self.idle_seconds - 0.01:
                self._stop(10.0)
        finally:
            self._lock.release()

    def _stop(self, timeout: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    if stream is not None:
                        stream.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


_shared: Renderer | None = None
_shared_lock = threading.Lock()


def shared() -> Renderer:
    """The process's renderer, created at first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Renderer()
            atexit.register(_shared.shutdown)
        return _shared


def shutdown() -> None:
    """Stop the shared renderer if one runs (the service calls it when it stops)."""
    with _shared_lock:
        renderer = _shared
    if renderer is not None:
        renderer.shutdown()
