"""A shaped network link on this machine: a network namespace joined to the host by a veth
pair, with a token-bucket filter (tc tbf) limiting each direction. Needs root and iproute2.

The portal is served on the host end's address; a client run inside the namespace
(`ip netns exec`) reaches it only through the shaped link. Only private test addresses on
links this code creates are used, and everything is removed afterwards.

Two such links cannot reach each other (the host does not forward between them). A service
both must reach listens on a host address of its own (`service_address`), which each link
routes to (`reach=`); `ShapedLink.drop_udp` then makes that namespace's UDP to the host vanish.
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

    def cut_off(self, address: str) -> None:
        """The namespace loses its route to this host address (sends to it fail)."""
        _run(*self.command("ip", "route", "replace", "blackhole", f"{address}/32"))

    def reconnect(self, address: str) -> None:
        """The route to this host address (one of `reach`) is back."""
        _run(*self.command("ip", "route", "replace", f"{address}/32", "via", self.host_address))

    def drop_udp(self) -> None:
        """From now on every UDP packet the namespace sends off its loopback is dropped (a
        policy rule sends UDP to a blackhole route): only TCP reaches the host."""
        _run(*self.command("ip", "route", "add", "blackhole", "default", "table", "100"))
        _run(*self.command("ip", "rule", "add", "ipproto", "udp", "lookup", "100",
                           "pref", "100"))


def _octets_in_use() -> set[int]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return {int(word.split(".")[2]) for word in out.split()
            if word.startswith(("10.213.", "10.214."))}


def _free_tag() -> tuple[str, int]:
    """A random name tag whose first byte is a third octet no link of ours uses yet."""
    in_use = _octets_in_use()
    while True:
        tag = secrets.token_hex(3)
        if int(tag[:2], 16) not in in_use:
            return tag, int(tag[:2], 16)


@contextlib.contextmanager
def service_address():
    """A host address (10.214.<n>.1 on an interface of its own: one end of a veth pair whose
    other end stays unused on the host, as the kernel may lack dummy interfaces) for services
    that shaped links reach through `reach=`."""
    tag, octet = _free_tag()
    interface, address = f"vts{tag}", f"10.214.{octet}.1"
    try:
        _run("ip", "link", "add", interface, "type", "veth", "peer", "name", f"vtp{tag}")
        for end in (interface, f"vtp{tag}"):
            _run("sysctl", "-q", "-w", f"net.ipv6.conf.{end}.disable_ipv6=1")
            _run("ip", "link", "set", end, "up")
        _run("ip", "addr", "add", f"{address}/32", "dev", interface)
        yield address
    finally:
        subprocess.run(["ip", "link", "del", interface], capture_output=True)


@contextlib.contextmanager
def shaped_link(rate_kbit: int, *, burst: str = "16k", latency: str = "400ms",
                reach: tuple[str, ...] = ()):
    """`reach`: host addresses (from service_address) the namespace routes to as well."""
    tag, octet = _free_tag()  # 10.213.<octet>.0/30, private and ours alone
    namespace, host_if, ns_if = f"vtc{tag}", f"vth{tag}", f"vtn{tag}"
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
        for address in reach:
            _run("ip", "netns", "exec", namespace, "ip", "route", "add", f"{address}/32",
                 "via", host_address)
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
