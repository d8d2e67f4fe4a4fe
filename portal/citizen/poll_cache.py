"""What an unchanged waiting-room poll compares, kept in each worker process.

Hundreds of people wait at once and each polls every few seconds; reading their row from the
database on every poll is what makes a poll cost twice a bare request (docs/benchmarks.md).
On PostgreSQL each worker keeps the row the poll compares (state, link, appointment time and
message) and is told by the database when it changes: a trigger (migration 0005) sends
NOTIFY with the appointment's id in the writing transaction, whatever code or tool writes,
and a listener thread drops that appointment's rows. So an unchanged poll reads nothing.

Rules that keep it correct:
- Rows are served only while the listener is connected and listening. When its connection
  breaks, everything is dropped and polls read the database until it listens again.
- A row read while a notice arrived is not kept (the epoch check in `put`), so a change
  between the read and the keeping is never hidden.
- Presence (last_seen_at) is not a change the poll compares: the worker writes it in one
  batched UPDATE every FLUSH_SECONDS instead of from the poll.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import psycopg

CHANNEL = "portal_waiting_room"
FLUSH_SECONDS = 2.0  # presence writes wait at most this long; see presence_write_every()
RECONNECT_SECONDS = 1.0
# Rows of people whose appointment never changed again (an advisor who never pressed "end")
# would otherwise stay until the worker restarts; past this many, all go and are read anew.
MAX_ROWS = 20_000

log = logging.getLogger(__name__)

# Presence is written only while the participant still waits, and never backwards. (IN rather
# than "=": a search for assignments to journey_state then finds only portal/journey.py.)
_PRESENCE_FLUSH = """
UPDATE participant SET last_seen_at = seen.at
FROM unnest(%(ids)s::integer[], %(ats)s::timestamp[]) AS seen(id, at)
WHERE participant.id = seen.id AND participant.journey_state IN (%(waiting)s)
  AND (participant.last_seen_at IS NULL OR participant.last_seen_at < seen.at)
"""


class PollCache:
    def __init__(self, conninfo: str, connect_timeout: int, waiting: str):
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._waiting = waiting  # JourneyState.WAITING as stored
        self._lock = threading.Lock()
        self._rows: dict[int, Any] = {}
        self._by_appointment: dict[int, set[int]] = defaultdict(set)
        self._epoch = 0
        self._listening = False
        self._presence: dict[int, datetime] = {}  # to write with the next flush
        self._queued: dict[int, datetime] = {}  # when this worker last queued a presence
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poll-cache", daemon=True)

    # -- used by the poll ---------------------------------------------------------------------

    def start(self) -> PollCache:
        self._thread.start()
        return self

    @property
    def listening(self) -> bool:
        return self._listening

    def epoch(self) -> int:
        return self._epoch

    def get(self, participant_id: int):
        if not self._listening:
            return None
        return self._rows.get(participant_id)

    def put(self, participant_id: int, appointment_id: int, row, epoch: int) -> None:
        """Keep a row read from the database, unless a notice came since `epoch` was taken
        (it may be about this row) or the listener is not listening."""
        with self._lock:
            if not self._listening or epoch != self._epoch:
                return
            if len(self._rows) >= MAX_ROWS:
                self._rows.clear()
                self._by_appointment.clear()
            self._rows[participant_id] = row
            self._by_appointment[appointment_id].add(participant_id)

    def seen(self, participant_id: int, at: datetime, every) -> None:
        """Record presence, at most once per `every` from this worker; the listener thread
        writes it within FLUSH_SECONDS."""
        queued = self._queued.get(participant_id)
        if queued is not None and at - queued < every:
            return
        with self._lock:
            self._queued[participant_id] = at
            self._presence[participant_id] = at

    def stop(self, wait: float = 0) -> None:
        self._stop.set()
        if wait:
            self._thread.join(wait)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the listener thread ------------------------------------------------------------------

    def _drop_all(self, listening: bool) -> None:
        with self._lock:
            self._listening = listening
            self._epoch += 1
            self._rows.clear()
            self._by_appointment.clear()
            self._queued.clear()

    def _drop(self, appointment_id: int) -> None:
        with self._lock:
            self._epoch += 1
            for participant_id in self._by_appointment.pop(appointment_id, ()):
                self._rows.pop(participant_id, None)
                self._queued.pop(participant_id, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # A connection that dies silently (a network cut without a reset) would keep
                # "listening" while no notice arrives: keepalives, a heartbeat every
                # FLUSH_SECONDS and a TCP user timeout find it within seconds.
                with psycopg.connect(self._conninfo, autocommit=True,
                                     connect_timeout=self._connect_timeout,
                                     keepalives=1, keepalives_idle=5, keepalives_interval=2,
                                     keepalives_count=2, tcp_user_timeout=5000,
                                     application_name="videotermin poll cache") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._drop_all(listening=True)  # what was missed meanwhile is gone
                    self._listen(conn)
            except Exception as error:  # noqa: BLE001 - any failure: drop all, reconnect
                if self._listening:
                    log.warning("Waiting-room poll cache lost its database connection (%s); "
                                "polls read the database until it is back.", error)
            finally:
                self._drop_all(listening=False)
            self._stop.wait(RECONNECT_SECONDS)

    def _listen(self, conn: psycopg.Connection) -> None:
        next_flush = time.monotonic() + FLUSH_SECONDS
        while not self._stop.is_set():
            timeout = max(0.0, next_flush - time.monotonic())
            for notice in conn.notifies(timeout=timeout):
                try:
                    self._drop(int(notice.payload))
                except ValueError:  # not ours: drop everything rather than guess
                    self._drop_all(listening=True)
            if time.monotonic() >= next_flush:
                self._flush(conn)
                next_flush = time.monotonic() + FLUSH_SECONDS

    def _flush(self, conn: psycopg.Connection) -> None:
        with self._lock:
            pending, self._presence = self._presence, {}
        if not pending:
            conn.execute("SELECT 1")  # the heartbeat: fails on a dead connection
            return
        try:
            conn.execute(_PRESENCE_FLUSH, {
                "waiting": self._waiting, "ids": list(pending),
                "ats": [at.replace(tzinfo=None) for at in pending.values()]})
        except Exception:
            with self._lock:  # written with the next flush, unless a newer time came meanwhile
                for participant_id, at in pending.items():
                    self._presence.setdefault(participant_id, at)
            raise


_caches: dict[tuple[int, str], PollCache] = {}
_caches_lock = threading.Lock()


def cache_for(conninfo: str, connect_timeout: int, waiting: str) -> PollCache:
    """This process's cache for this database, started on first use (after a fork, anew:
    threads do not survive it)."""
    key = (os.getpid(), conninfo)
    cache = _caches.get(key)
    if cache is None or cache.stopped:
        with _caches_lock:
            cache = _caches.get(key)
            if cache is None or cache.stopped:
                cache = _caches[key] = PollCache(conninfo, connect_timeout, waiting).start()
    return cache
