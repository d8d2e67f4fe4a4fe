"""A shaped network link on this machine: a network namespace joined to the host by a veth
pair, with a token-bucket filter (tc tbf) limiting each direction. Needs root and iproute2.

The portal is served on the host end's address; a client run inside the namespace
(`ip netns exec`) reaches it only through the shaped link. Only private test addresses on
links this code creates are used, and everything is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass


def unavailable_reason() -> str | None:
    """Why shaped links cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network shaping needs root (ip netns, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} (iproute2) is not installed"
    return None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


@dataclass
class ShapedLink:
    namespace: str
    host_address: str
    client_address: str
    rate_kbit: int

    def command(self, *args: str) -> list[str]:
        """A command line that runs `args` inside the namespace (behind the shaped link)."""
        return ["ip", "netns", "exec", self.namespace, *args]


@contextlib.contextmanager
def shaped_link(rate_kbit: int, *, burst: str = "16k", latency: str = "400ms"):
    tag = secrets.token_hex(3)
    namespace, host_if, ns_if = f"vtc{tag}", f"vth{tag}", f"vtn{tag}"
    octet = int(tag[:2], 16)  # 10.213.<octet>.0/30, private and ours alone
    host_address, client_address = f"10.213.{octet}.1", f"10.213.{octet}.2"
    rate = f"{rate_kbit}kbit"
    try:
        _run("ip", "netns", "add", namespace)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", namespace)
        # IPv4 only: IPv6 address set-up finishing later would make Chromium see a "network
        # change" mid-test and abort its requests (net::ERR_NETWORK_CHANGED).
        _run("sysctl", "-q", "-w", f"net.ipv6.conf.{host_if}.disable_ipv6=1")
        _run("ip", "netns", "exec", namespace, "sysctl", "-q", "-w",
             "net.ipv6.conf.all.disable_ipv6=1")
        _run("ip", "addr", "add", f"{host_address}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{client_address}/30",
             "dev", ns_if)
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", ns_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        # Host → namespace (the client's downloads) and namespace → host (its uploads).
        _run("tc", "qdisc", "add", "dev", host_if, "root", "tbf", "rate", rate, "burst", burst,
             "latency", latency)
        _run("ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", ns_if, "root", "tbf",
             "rate", rate, "burst", burst, "latency", latency)
        time.sleep(0.5)  # let the links settle before anyone uses them
        yield ShapedLink(namespace, host_address, client_address, rate_kbit)
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
