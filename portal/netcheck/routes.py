from __future__ import annotations

import os
import re

from flask import Response, abort, current_app, jsonify, request

from ..extensions import csrf, limiter
from . import bp

CHUNK = 64 * 1024
# speedtest-cli asks for these "images"; their size follows speedtest.net's (about 2·N² bytes).
MINI_SIZES = (350, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000)


MIB = 1024 * 1024


def _limit() -> str:
    return current_app.config["NETCHECK_RATE_LIMIT"]


def _volume_limit() -> str:
    return current_app.config["NETCHECK_VOLUME_LIMIT"]


def _asked_bytes() -> int | None:
    """The size a download asks for in ?bytes=N, or None when it is not a number."""
    raw = request.args.get("bytes", "")
    return int(raw) if re.fullmatch(r"[0-9]{1,12}", raw) else None


def _mini_size(n: int) -> int:
    # speedtest.net's "randomNxN.jpg" images are about 2·N² bytes.
    return min(2 * n * n, current_app.config["NETCHECK_DOWNLOAD_MAX_BYTES"])


def _requested_mib() -> int:
    """What a request will move, in MiB rounded up: the volume limit's cost.

    Caps per request alone would still let one address pull gigabytes a minute;
    counting requests alone would cut off a check on a fast line, which sends many.
    """
    if request.method == "POST":
        size = request.content_length
        if size is None:  # chunked: it may be as large as the cap
            size = current_app.config["NETCHECK_UPLOAD_MAX_BYTES"]
    elif request.view_args and "n" in request.view_args:
        size = _mini_size(request.view_args["n"])
    else:
        size = _asked_bytes() or 0
    size = min(size, current_app.config["NETCHECK_DOWNLOAD_MAX_BYTES"])
    return -(-size // MIB)


# One budget for all bulk endpoints of an address, counted in MiB.
_volume = limiter.shared_limit(_volume_limit, scope="netcheck-volume", cost=_requested_mib)


def _no_store(response: Response) -> Response:
    # no-transform: proxies must not compress or re-encode (random bytes would not shrink,
    # but a proxy that buffers to try would distort the timing).
    response.headers["Cache-Control"] = "no-store, no-transform"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass bytes on as they come
    return response


def random_stream(size: int):
    # Fresh random bytes per chunk: incompressible even for a proxy with a long window.
    remaining = size
    while remaining > 0:
        n = min(CHUNK, remaining)
        yield os.urandom(n)
        remaining -= n


def _download(size: int) -> Response:
    response = Response(random_stream(size), mimetype="application/octet-stream")
    response.content_length = size
    return _no_store(response)


def _read_upload() -> int:
    """Count the request body's bytes from the stream (never request.form), within the cap."""
    cap = current_app.config["NETCHECK_UPLOAD_MAX_BYTES"]
    if request.content_length is not None and request.content_length > cap:
        abort(413)
    total = 0
    stream = request.stream
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > cap:
            abort(413)
    return total


@bp.get("/netcheck/ping")
@limiter.limit(_limit)
def ping():
    return _no_store(Response(status=204))


@bp.get("/netcheck/download")
@limiter.limit(_limit)
@_volume
def download():
    size = _asked_bytes()
    if size is None or not 0 < size <= current_app.config["NETCHECK_DOWNLOAD_MAX_BYTES"]:
        abort(400)
    return _download(size)


@bp.post("/netcheck/upload")
@csrf.exempt  # carries no state change; random bytes in, a byte count out
@limiter.limit(_limit)
@_volume
def upload():
    return _no_store(jsonify(bytes=_read_upload()))


# ---- Speedtest Mini shape (speedtest-cli --mini https://PORTAL/) -----------------------

@bp.get("/speedtest/latency.txt")
@limiter.limit(_limit)
def mini_latency():
    return _no_store(Response("test=test\n", mimetype="text/plain"))


@bp.get("/speedtest/random<int:n>x<int:m>.jpg")
@limiter.limit(_limit)
@_volume
def mini_download(n: int, m: int):
    if n != m or n not in MINI_SIZES:
        abort(404)
    return _download(_mini_size(n))


@bp.route("/speedtest/upload.php", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit(_limit)
@_volume
def mini_upload():
    # A GET is speedtest-cli's probe for the upload endpoint: it wants one line "size=N".
    size = _read_upload() if request.method == "POST" else 0
    return _no_store(Response(f"size={size}\n", mimetype="text/plain"))
