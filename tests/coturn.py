"""A real TURN server for tests: Debian's coturn (`turnserver`) with the TURN REST API secret
(use-auth-secret), as deploy/coturn/turnserver.conf runs it, on an address of the test's choice."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from .helpers import free_port

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"


@dataclass
class TurnServer:
    address: str
    port: int
    secret: str
    log: object  # the server's log file

    def urls(self, *transports: str) -> list[str]:
        return [f"turn:{self.address}:{self.port}?transport={t}" for t in transports or ("udp",)]


@contextlib.contextmanager
def turnserver(address: str = "127.0.0.1", secret: str = "turn-test-secret"):
    """coturn listening (UDP and TCP) and relaying on `address`; stopped afterwards."""
    port = free_port()
    low = random.randrange(40000, 59000, 200)  # relay ports of this server alone
    command = [TURNSERVER, "-n", f"--listening-ip={address}", f"--relay-ip={address}",
               f"--listening-port={port}", "--use-auth-secret", f"--static-auth-secret={secret}",
               "--realm=videotermin.test", "--fingerprint", "--no-cli", "--no-tls", "--no-dtls",
               f"--min-port={low}", f"--max-port={low + 199}", "--log-file=stdout",
               "--simple-log", "--no-software-attribute"]
    with running(command, address, port) as log:
        yield TurnServer(address, port, secret, log)


@contextlib.contextmanager
def running(command: list[str], address: str, port: int):
    """Run a turnserver command line until the block ends, once it accepts TCP on
    address:port; yields its log file (stdout and stderr)."""
    log = tempfile.NamedTemporaryFile("w+", prefix="turnserver-", suffix=".log")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection((address, port), 0.5):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"turnserver did not start: {log.read()[-2000:]}")
            time.sleep(0.1)
        yield log
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
