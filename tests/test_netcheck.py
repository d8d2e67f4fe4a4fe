"""The measurement endpoints, their limits, and speedtest-cli's engine against them."""

from __future__ import annotations

import json
import socket
import threading
import zlib

import pytest
from werkzeug.serving import make_server

from .helpers import free_port


def test_ping_is_tiny_and_never_cached(client):
    response = client.get("/netcheck/ping")
    assert response.status_code == 204 and response.data == b""
    assert "no-store" in response.headers["Cache-Control"]


def test_download_streams_incompressible_bytes_of_the_asked_size(client):
    response = client.get("/netcheck/download?bytes=300000")
    assert response.status_code == 200
    body = response.data
    assert len(body) == 300000 and response.headers["Content-Length"] == "300000"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert "no-store" in response.headers["Cache-Control"]
    assert "Content-Encoding" not in response.headers
    assert len(zlib.compress(body, 9)) > 0.99 * len(body)  # random: does not compress
    assert client.get("/netcheck/download?bytes=300000").data != body


def test_upload_answers_the_bytes_it_received(client):
    response = client.post("/netcheck/upload", data=b"\x00" * 123457,
                           content_type="application/octet-stream")
    assert response.status_code == 200
    assert response.get_json() == {"bytes": 123457}


@pytest.mark.parametrize("query", ["", "bytes=", "bytes=-5", "bytes=0", "bytes=abc",
                                   "bytes=1e6", "bytes=99999999999999", "bytes=33554433"])
def test_bad_download_sizes_are_400(client, query):
    assert client.get(f"/netcheck/download?{query}").status_code == 400


def test_wrong_methods_are_405(client):
    assert client.post("/netcheck/ping").status_code == 405
    assert client.post("/netcheck/download?bytes=10").status_code == 405
    assert client.get("/netcheck/upload").status_code == 405
    assert client.delete("/speedtest/upload.php").status_code == 405


@pytest.fixture
def served(app):
    """The app on a real HTTP server, for raw requests the test client cannot make."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    thread.join(5)


def raw_request(port: int, head: bytes, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + b"\r\n" + body)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    return answer


def test_oversized_upload_is_413(app, client, served):
    app.config["NETCHECK_UPLOAD_MAX_BYTES"] = 1000
    assert client.post("/netcheck/upload", data=b"x" * 1001).status_code == 413
    # Without a Content-Length (chunked), the limit holds while reading.
    chunk = b"258\r\n" + b"x" * 600 + b"\r\n"
    answer = raw_request(served, b"POST /netcheck/upload HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n",
                         chunk * 3 + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413")


def test_truncated_upload_is_a_client_error(served):
    answer = raw_request(served, b"POST /netcheck/upload HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 100000\r\nConnection: close\r\n", b"x" * 100)
    assert answer.startswith(b"HTTP/1.1 400")


def test_endpoints_are_rate_limited(app, client):
    app.config["NETCHECK_RATE_LIMIT"] = "5 per minute"
    codes = [client.get("/netcheck/ping").status_code for _ in range(6)]
    assert codes == [204] * 5 + [429]


def test_bulk_endpoints_share_a_volume_budget(app, client):
    app.config["NETCHECK_VOLUME_LIMIT"] = "3 per minute"  # MiB per address
    mib = 1024 * 1024
    assert client.get(f"/netcheck/download?bytes={2 * mib}").status_code == 200
    assert client.post("/netcheck/upload", data=b"x" * mib,
                       content_type="application/octet-stream").status_code == 200
    # The budget is spent, whichever way the bytes would flow; pings still answer.
    assert client.get("/netcheck/download?bytes=1000").status_code == 429
    assert client.post("/speedtest/upload.php", data=b"x" * 10).status_code == 429
    assert client.get("/speedtest/random350x350.jpg").status_code == 429
    assert client.get("/netcheck/ping").status_code == 204


def test_speedtest_mini_shape(client):
    assert client.get("/speedtest/latency.txt").data.startswith(b"test=test")
    assert client.get("/speedtest/upload.php").data.strip() == b"size=0"
    posted = client.post("/speedtest/upload.php", data={"content1": "x" * 5000})
    assert posted.data.strip() == f"size={len('content1=') + 5000}".encode()
    image = client.get("/speedtest/random350x350.jpg")
    assert image.status_code == 200 and len(image.data) == 2 * 350 * 350
    assert client.get("/speedtest/random351x351.jpg").status_code == 404
    assert client.get("/speedtest/random350x500.jpg").status_code == 404


def test_speedtest_cli_engine_measures_the_portal(served, runner):
    """speedtest-cli's own engine, pointed at the portal's Speedtest-Mini endpoints."""
    result = runner.invoke(args=["netcheck", f"http://127.0.0.1:{served}/", "--seconds", "2",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # Over loopback both directions run far above a video call's needs.
    assert data["download_bps"] > 10e6 and data["upload_bps"] > 10e6
    assert 0 < data["ping_ms"] < 1000


def test_netcheck_reports_an_unreachable_portal(runner):
    result = runner.invoke(args=["netcheck", f"http://127.0.0.1:{free_port()}/", "--seconds",
                                 "1"])
    assert result.exit_code != 0 and "Could not measure" in result.output
