"""Setting up appointments and walking participants through the journey without a browser."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from portal.models import ParticipantRole, utcnow
from portal.scheduling import ParticipantSpec, create_appointment

from .helpers import csrf_token

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.39 Mobile Safari/537.36")


def book(advisor, *, starts_in=timedelta(minutes=10), duration=30, interpreter=False):
    others = [ParticipantSpec(ParticipantRole.INTERPRETER, "Ivan Dolmetscher",
                              "ivan@example.org")] if interpreter else []
    outcome = create_appointment(
        advisor=advisor, starts_at=utcnow() + starts_in, duration_minutes=duration,
        language="de", others=others,
        citizen=ParticipantSpec(ParticipantRole.CITIZEN, "Erika Mustermann",
                                "erika@example.org", "123D456789"))
    appointment = outcome.appointment
    paths = {p.role.value: urlsplit(outcome.links[p.id]).path for p in appointment.participants}
    return appointment, paths


def consent(client, agree=True):
    token = csrf_token(client, "/termin/einwilligung")
    return client.post("/termin/einwilligung",
                       data={"csrf_token": token, "decision": "agree" if agree else "decline"})


GOOD_LINK = {"download_kbps": "5000", "upload_kbps": "3000", "rtt_ms": "20.5",
             "jitter_ms": "2.1", "speaker": "ok"}


def device_check(client, camera="ok", microphone="ok", confirm=False, ua=PHONE_UA, **measured):
    token = csrf_token(client, "/termin/technik")
    data = {"csrf_token": token, "camera": camera, "microphone": microphone,
            **GOOD_LINK, **measured}
    if confirm:
        data["confirm"] = "1"
    return client.post("/termin/technik", data=data, headers={"User-Agent": ua},
                       environ_base={"REMOTE_ADDR": "198.51.100.23"})


def to_waiting_room(client, path):
    client.get(path)
    consent(client)
    device_check(client)
    return client.get("/termin/wartebereich")
