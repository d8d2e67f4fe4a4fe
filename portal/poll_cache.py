"""What unchanged polls compare, kept in each worker process (PostgreSQL only).

Hundreds of people wait at once and each polls every few seconds, and every advisor's queue
polls too; reading from the database on every poll is what makes a poll cost several times a
bare request (docs/benchmarks.md). So each worker keeps what the polls compare and is told by
the database when it changes: triggers send NOTIFY in the writing transaction, whatever code
or tool writes, and a listener thread drops what changed. An unchanged poll reads nothing.

- The waiting room (migration 0005, channel portal_waiting_room, payload: appointment id):
  per participant, the row the poll compares (state, link, appointment time and message).
- The advisor's queue (migration 0007, channel portal_queue): per advisor, the rows of the
  queue's fingerprint (payload: the advisor's id, and the participant's when a participant
  changed) and the advisor's sign-in row that every request checks (payload: "a<id>").
  Presence is the one column that changes all the time; it comes on its own channel
  (portal_presence, payload: participant id and time) and is merged into the kept rows, so
  a waiting citizen's polls do not make the queue read again.

Rules that keep it correct:
- Nothing is served unless the listener is connected and listening. When its connection
  breaks, everything is dropped and polls read the database until it listens again.
- What was read while a notice about it arrived is not kept (the epoch checks in the put
  methods), so a change between the read and the keeping is never hidden.
- Presence (last_seen_at) is not a change the waiting room compares: the worker writes it in
  one batched UPDATE every FLUSH_SECONDS instead of from the poll.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

CHANNEL = "portal_waiting_room"
QUEUE_CHANNEL = "portal_queue"
PRESENCE_CHANNEL = "portal_presence"
FLUSH_SECONDS = 2.0  # presence writes wait at most this long; see presence_write_every()
RECONNECT_SECONDS = 1.0
# Rows of people whose appointment never changed again (an advisor who never pressed "end")
# would otherwise stay until the worker restarts; past this many, all go and are read anew.
MAX_ROWS = 20_000
MAX_QUEUES = 2_000  # queues (advisor, view) kept; past this, all go
# Presence times older than this no longer matter to anyone's "connection lost?" (the
# timeout is seconds): they are forgotten when many have piled up.
PRESENCE_HORIZON = timedelta(hours=1)
MAX_PRESENCE = 50_000

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
        # The queue: kept fingerprint rows per (advisor id, everyone's view), advisors' sign-in
        # rows, presence times told by the database, and epochs per advisor and for all.
        self._queues: dict[tuple[int, bool], Any] = {}
        self._advisors: dict[int, Any] = {}
        self._presence_told: dict[int, datetime] = {}
        self._advisor_epochs: dict[int, int] = defaultdict(int)
        self._queue_epoch = 0
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

    # -- used by the queue poll and the advisor's sign-in check ---------------------------------

    def queue_epoch(self, advisor_id: int, everyone: bool) -> tuple[int, int]:
        """Taken before reading; `put_queue` keeps the rows only if it is unchanged."""
        with self._lock:
            return (self._epoch, self._queue_epoch if everyone
                    else self._advisor_epochs[advisor_id])

    def get_queue(self, advisor_id: int, everyone: bool):
        if not self._listening:
            return None
        return self._queues.get((advisor_id, everyone))

    def put_queue(self, advisor_id: int, everyone: bool, value, epoch: tuple[int, int]) -> None:
        with self._lock:
            if not self._listening or epoch != (
                    self._epoch, self._queue_epoch if everyone
                    else self._advisor_epochs[advisor_id]):
                return
            if len(self._queues) >= MAX_QUEUES:
                self._queues.clear()
            self._queues[(advisor_id, everyone)] = value

    def get_advisor(self, advisor_id: int):
        if not self._listening:
            return None
        return self._advisors.get(advisor_id)

    def put_advisor(self, advisor_id: int, value, epoch: tuple[int, int]) -> None:
        with self._lock:
            if not self._listening or epoch != (self._epoch, self._advisor_epochs[advisor_id]):
                return
            if len(self._advisors) >= MAX_QUEUES:
                self._advisors.clear()
            self._advisors[advisor_id] = value

    def presence(self, participant_id: int, kept: datetime | None) -> datetime | None:
        """The newer of a kept row's presence time and the latest the database told of."""
        told = self._presence_told.get(participant_id)
        if told is None or (kept is not None and kept >= told):
            return kept
        return told

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
            self._queues.clear()
            self._advisors.clear()
            self._presence_told.clear()

    def _drop(self, appointment_id: int) -> None:
        with self._lock:
            self._epoch += 1
            for participant_id in self._by_appointment.pop(appointment_id, ()):
                self._rows.pop(participant_id, None)
                self._queued.pop(participant_id, None)

    def _queue_changed(self, payload: str) -> None:
        """"<advisor>" or "<advisor> <participant>": that advisor's queue and every
        everyone-view; "a<advisor>": the advisor's own row (its name shows in everyone-views)."""
        with self._lock:
            self._queue_epoch += 1
            if payload.startswith("a"):
                advisor_id = int(payload[1:])
                self._advisor_epochs[advisor_id] += 1
                self._advisors.pop(advisor_id, None)
                self._queues = {key: value for key, value in self._queues.items()
                                if key[0] != advisor_id and not key[1]}
                return
            advisor, _, participant = payload.partition(" ")
            advisor_id = int(advisor)
            self._advisor_epochs[advisor_id] += 1
            self._queues = {key: value for key, value in self._queues.items()
                            if key[0] != advisor_id and not key[1]}
            if participant:
                # A journey step may reset presence: what was told before it no longer holds.
                self._presence_told.pop(int(participant), None)

    def _presence_changed(self, payload: str) -> None:
        participant, _, epoch_seconds = payload.partition(" ")
        at = datetime.fromtimestamp(float(epoch_seconds), UTC)  # as UTCDateTime reads it
        participant_id = int(participant)
        with self._lock:
            told = self._presence_told.get(participant_id)
            if told is None or at > told:
                self._presence_told[participant_id] = at
            if len(self._presence_told) > MAX_PRESENCE:
                horizon = at - PRESENCE_HORIZON
                self._presence_told = {k: v for k, v in self._presence_told.items()
                                       if v >= horizon}

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
                    for channel in (CHANNEL, QUEUE_CHANNEL, PRESENCE_CHANNEL):
                        conn.execute(f"LISTEN {channel}")
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
                    if notice.channel == PRESENCE_CHANNEL:
                        self._presence_changed(notice.payload)
                    elif notice.channel == QUEUE_CHANNEL:
                        self._queue_changed(notice.payload)
                    else:
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


def for_app():
    """This worker's cache for the app's database (PostgreSQL with PORTAL_POLL_CACHE on), or
    None."""
    from flask import current_app

    from .extensions import db
    from .models import JourneyState

    settings = current_app.extensions.get("portal.poll_cache")
    if settings is None:  # worked out once per app
        config, url = current_app.config, db.engine.url
        settings = ()
        if config["POLL_CACHE"] and url.get_backend_name() == "postgresql":
            settings = (url.set(drivername="postgresql").render_as_string(hide_password=False),
                        int(config["DATABASE_CONNECT_TIMEOUT_SECONDS"]),
                        JourneyState.WAITING.value)
        current_app.extensions["portal.poll_cache"] = settings
    return cache_for(*settings) if settings else None
