"""The stand-in's work queue of parents, with client-go's default per-item backoff."""

from __future__ import annotations

import threading
import time


def backoff_seconds(failures: int) -> float:
    """Delay before retrying after the n-th failure in a row (client-go's default item limiter)."""
    return min(0.005 * 2 ** (failures - 1), 1000.0)


class WorkQueue:
    """Parents to sync, each due at a time; a key is handed to one worker at a time."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._busy: set[str] = set()
        self._failures: dict[str, int] = {}
        self._cond = threading.Condition()

    def add_after(self, key: str, delay: float = 0.0) -> None:
        with self._cond:
            due = time.monotonic() + max(0.0, delay)
            if key not in self._due or due < self._due[key]:
                self._due[key] = due
                self._cond.notify_all()

    def add_rate_limited(self, key: str) -> None:
        with self._cond:
            self._failures[key] = self._failures.get(key, 0) + 1
            delay = backoff_seconds(self._failures[key])
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, stop: threading.Event) -> str | None:
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                ready = [(due, key) for key, due in self._due.items() if key not in self._busy]
                if ready:
                    due, key = min(ready)
                    if due <= now:
                        del self._due[key]
                        self._busy.add(key)
                        return key
                    self._cond.wait(min(due - now, 0.5))
                else:
                    self._cond.wait(0.5)
        return None

    def done(self, key: str) -> None:
        with self._cond:
            self._busy.discard(key)
            self._cond.notify_all()
