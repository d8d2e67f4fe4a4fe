"""deploy/coturn/turnserver.conf run by Debian's coturn: it starts with the file as shipped
(only addresses, ports, certificate and secret swapped for the test's), speaks TLS with the
agency's certificate, accepts the portal's credentials and no others, and relays nothing into
private networks unless an allowed-peer-ip opens an address."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from portal.call.turn import credentials

from .. import netlab
from ..coturn import TURNSERVER, running
from ..helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "coturn" / "turnserver.conf"
SECRET = "deploy-test-secret"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coturn-tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    folder / "privkey.pem", "-out", folder / "fullchain.pem", "-days", "2",
                    "-subj", "/CN=turn.agency.example"], check=True, capture_output=True)
    return folder


@pytest.fixture
def address():
    """A host address in 10.0.0.0/8: a stand-in for the agency's internal network."""
    reason = netlab.unavailable_reason()
    if reason:
        pytest.fail(reason)
    with netlab.service_address() as address:
        yield address


def _swap(text: str, pattern: str, replacement: str) -> str:
    text, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == 1, pattern
    return text


def deployed(tmp_path, certificate, address, *extra: str):
    """The shipped file with the test's secret, ports, certificate and addresses."""
    port, tls_port = free_port(), free_port()
    text = CONF.read_text()
    text = _swap(text, r"^static-auth-secret=.*$", f"static-auth-secret={SECRET}")
    text = _swap(text, r"^listening-port=3478$", f"listening-port={port}")
    text = _swap(text, r"^tls-listening-port=5349$", f"tls-listening-port={tls_port}")
    text = _swap(text, r"^cert=/etc/coturn/certs/fullchain.pem$",
                 f"cert={certificate / 'fullchain.pem'}")
    text = _swap(text, r"^pkey=/etc/coturn/certs/privkey.pem$",
                 f"pkey={certificate / 'privkey.pem'}")
    text = _swap(text, r"^syslog$", "log-file=stdout\nsimple-log")
    text += f"\nlistening-ip={address}\nrelay-ip={address}\n" + "".join(f"{e}\n" for e in extra)
    path = tmp_path / "turnserver.conf"
    path.write_text(text)
    return [TURNSERVER, "-c", str(path), "--pidfile="], port, tls_port


def relay_to(address: str, port: int, peer_port: int, username: str, password: str):
    """Allocate on the server with these credentials and send a few packets through the relay
    to a UDP echo peer on address:peer_port (coturn's own test client)."""
    return subprocess.run(
        ["turnutils_uclient", "-c", "-u", username, "-w", password, "-e", address,
         "-r", str(peer_port), "-p", str(port), "-n", "3", "-m", "1", "-l", "100", address],
        capture_output=True, text=True, timeout=30)


@pytest.fixture
def peer(address):
    port = free_port()
    process = subprocess.Popen(["turnutils_peer", "-L", address, "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield port
    process.terminate()
    process.wait(5)


def test_starts_with_the_shipped_file_and_speaks_tls_with_the_certificate(
        tmp_path, certificate, address):
    command, port, tls_port = deployed(tmp_path, certificate, address)
    with running(command, address, port) as log:
        context = ssl.create_default_context(cafile=certificate / "fullchain.pem")
        context.check_hostname = False
        with socket.create_connection((address, tls_port), 5) as raw, \
                context.wrap_socket(raw) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert dict(x[0] for x in tls.getpeercert()["subject"])["commonName"] == \
                "turn.agency.example"
        log.seek(0)
        text = log.read()
    assert "Black listing: 10.0.0.0-10.255.255.255" in text
    assert not re.search(r"CONFIG ERROR|Bad configuration|Unknown (argument|option)", text), text


def test_the_relay_refuses_private_peers_and_allowed_peer_ip_opens_one(
        tmp_path, certificate, address, peer):
    username, password = credentials(SECRET, 3600)
    command, port, _ = deployed(tmp_path, certificate, address)
    with running(command, address, port):
        refused = relay_to(address, port, peer, username, password)
    assert refused.returncode != 0
    assert "403 (Forbidden IP)" in refused.stdout + refused.stderr

    command, port, _ = deployed(tmp_path, certificate, address, f"allowed-peer-ip={address}")
    with running(command, address, port):
        relayed = relay_to(address, port, peer, username, password)
        wrong = relay_to(address, port, peer, *credentials("not-the-secret", 3600))
    assert relayed.returncode == 0, relayed.stdout + relayed.stderr
    assert "Total lost packets 0 " in relayed.stdout + relayed.stderr
    assert wrong.returncode != 0
    assert "Cannot complete Allocation" in wrong.stdout + wrong.stderr
