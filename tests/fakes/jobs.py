"""A JobQueue that records what would be enqueued; tests assert on ``.calls``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EnqueuedCall:
    func: Any
    args: tuple[Any, ...]
    queue: str
    job_id: str | None
    delay: float | None


@dataclass
class RecordingJobQueue:
    calls: list[EnqueuedCall] = field(default_factory=list)
    run_inline: bool = False

    def enqueue(
        self,
        func: Any,
        *args: Any,
        queue: str = "default",
        job_id: str | None = None,
        delay: float | None = None,
        **_: Any,
    ) -> None:
        self.calls.append(EnqueuedCall(func, args, queue, job_id, delay))
        if self.run_inline and callable(func):
            func(*args)

    def names(self) -> list[str]:
        return [getattr(c.func, "__name__", str(c.func)) for c in self.calls]
