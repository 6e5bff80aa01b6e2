"""Queue names, retries, TTLs and deterministic job ids live here and nowhere else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rq import Queue, Retry
from rq.job import Job

QUEUE_BRAZE = "braze"
QUEUE_SYNC = "sync"
QUEUE_DEFAULT = "default"
ALL_QUEUES = (QUEUE_BRAZE, QUEUE_SYNC, QUEUE_DEFAULT)

WAITING = frozenset({"queued", "scheduled", "deferred"})
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600


class RQJobQueue:
    """Enqueues jobs on Redis; services call it only after their transaction committed."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.connection)
        return self._queues[name]

    def enqueue(
        self,
        func: Any,
        *args: Any,
        queue: str = QUEUE_DEFAULT,
        job_id: str | None = None,
        delay: float | None = None,
        retry: Retry | None = None,
        timeout: int = 600,
    ) -> Any:
        """Enqueue once per ``job_id``: a job already waiting with that id is left alone."""
        q = self.queue(queue)
        if job_id is not None:
            # One round trip (status and queue of the job hash) instead of loading the whole job:
            # this runs after every preference save.
            status, origin = (
                v.decode() if isinstance(v, bytes) else v
                for v in self.connection.hmget(Job.key_for(job_id), ["status", "origin"])
            )
            if status in WAITING and origin == q.name:
                return Job(job_id, connection=self.connection)
            if status is None:
                q.remove(job_id)  # a job id left in the queue without its job (as fetch_job does)
        options: dict[str, Any] = {
            "job_id": job_id,
            "result_ttl": RESULT_TTL,
            "failure_ttl": FAILURE_TTL,
            "job_timeout": timeout,
            "retry": retry,
        }
        if delay:
            return q.enqueue_in(timedelta(seconds=delay), func, *args, **options)
        return q.enqueue(func, *args, **options)
