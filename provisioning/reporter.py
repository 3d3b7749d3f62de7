"""Progress output: one line per resource with its action and elapsed time.

On a terminal a live table (rich) shows what is running; otherwise a plain line is printed as
each resource finishes, which is what logs and CI want. Safe to call from worker threads.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field


@dataclass
class _Row:
    name: str
    action: str
    detail: str = ""
    started: float = field(default_factory=time.monotonic)
    elapsed: float | None = None
    failed: bool = False


class Reporter:
    """Plain lines, one per finished resource."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._rows: dict[str, _Row] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start(self, name: str, action: str) -> None:
        with self._lock:
            self._rows[name] = _Row(name, action)

    def finish(self, name: str, action: str, detail: str = "", *, failed: bool = False) -> float:
        with self._lock:
            row = self._rows.setdefault(name, _Row(name, action))
            row.action, row.detail, row.failed = action, detail, failed
            row.elapsed = time.monotonic() - row.started
        self._finished(row)
        return row.elapsed

    def note(self, message: str) -> None:
        with self._lock:
            print(message, file=self.stream, flush=True)

    def _finished(self, row: _Row) -> None:
        with self._lock:
            print(self.line(row), file=self.stream, flush=True)

    @staticmethod
    def line(row: _Row) -> str:
        detail = f"  {row.detail}" if row.detail else ""
        return f"{row.name:<34} {row.action:<9} {row.elapsed:6.1f}s{detail}"


class LiveReporter(Reporter):
    """A live table on a terminal: running resources tick, finished ones keep their line."""

    COLOURS = {"create": "green", "update": "yellow", "delete": "red", "failed": "bold red",
               "no-op": "dim", "absent": "dim"}

    def __init__(self, stream=None):
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream)
        self._live = Live(get_renderable=self._render, console=self.console,
                          refresh_per_second=8, transient=False)

    def __enter__(self):
        self._live.__enter__()
        return self

    def __exit__(self, *exc):
        self._live.refresh()
        return self._live.__exit__(*exc)

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def _finished(self, row: _Row) -> None:
        pass  # the table shows it

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        with self._lock:
            rows = list(self._rows.values())
        for row in rows:
            running = row.elapsed is None
            elapsed = (now - row.started) if running else row.elapsed
            action = f"{row.action}…" if running else row.action
            style = "cyan" if running else self.COLOURS.get("failed" if row.failed else row.action, "")
            table.add_row(Text(row.name), Text(action, style=style), Text(f"{elapsed:5.1f}s"),
                          Text(row.detail, style="dim"))
        return table


def make_reporter(stream=None) -> Reporter:
    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return LiveReporter(stream)
    return Reporter(stream)
