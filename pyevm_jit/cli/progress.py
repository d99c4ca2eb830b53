"""A small progress display for long commands.

On a terminal it redraws one bar line in place; otherwise (a log file, CI) it prints a plain
line now and then, so logs stay short. Messages printed through `Progress.write` appear above
the bar without garbling it.
"""

from __future__ import annotations

import shutil
import sys
import time
from types import TracebackType
from typing import TextIO


def _format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


class Progress:
    """Progress of `total` steps. Use as a context manager, call `advance()` per step."""

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        tty: bool | None = None,
        plain_interval: float = 30.0,
    ) -> None:
        self.total = max(0, total)
        self.label = label
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.enabled = enabled
        isatty = getattr(self.stream, "isatty", None)
        self.tty = tty if tty is not None else bool(isatty and isatty())
        self.plain_interval = plain_interval
        self.done = 0
        self.note = ""
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_plain = self.started
        self._bar_visible = False
        self._plain_done = -1  # `done` at the last plain line, -1 before the first

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def advance(self, steps: int = 1, note: str | None = None) -> None:
        self.done += steps
        if note is not None:
            self.note = note
        self._maybe_draw()

    def set_note(self, note: str) -> None:
        self.note = note
        self._maybe_draw()

    def write(self, line: str) -> None:
        """Print a message line (for example a failure) without breaking the bar."""
        self._clear()
        print(line, file=self.stream, flush=True)
        if self.tty and self.enabled:
            self._draw()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.tty:
            self._clear()
        elif self._plain_done >= 0 and self._plain_done != self.done:
            self._plain_line()

    # drawing -------------------------------------------------------------------------------

    def _status(self) -> str:
        elapsed = self.elapsed
        text = f"{self.done}/{self.total}"
        if self.done and self.total and self.done < self.total:
            remaining = elapsed / self.done * (self.total - self.done)
            text += f" {_format_duration(elapsed)}<{_format_duration(remaining)}"
        else:
            text += f" {_format_duration(elapsed)}"
        return text

    def _maybe_draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._draw()
        elif now - self._last_plain >= self.plain_interval:
            self._last_plain = now
            self._plain_line()

    def _plain_line(self) -> None:
        self._plain_done = self.done
        percent = 100.0 * self.done / self.total if self.total else 100.0
        label = f"{self.label}: " if self.label else ""
        note = f" {self.note}" if self.note else ""
        print(f"{label}{percent:5.1f}% {self._status()}{note}", file=self.stream, flush=True)

    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        width = shutil.get_terminal_size((80, 20)).columns
        label = f"{self.label} " if self.label else ""
        status = f" {self._status()}"
        note = f" {self.note}" if self.note else ""
        bar_width = max(10, min(40, width - len(label) - len(status) - len(note) - 4))
        fraction = self.done / self.total if self.total else 1.0
        filled = int(bar_width * min(1.0, fraction))
        bar = "#" * filled + "-" * (bar_width - filled)
        line = f"{label}[{bar}]{status}{note}"[: max(1, width - 1)]
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._bar_visible = True

    def _clear(self) -> None:
        if self.tty and self._bar_visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._bar_visible = False
