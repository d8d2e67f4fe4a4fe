"""Render deploy/nginx/videotermin.conf.template for one site.

    python deploy/nginx/render.py --server-name video.agency.example \
        --certificate /etc/ssl/… --certificate-key /etc/ssl/… \
        --static-root /opt/videotermin/app/static \
        --instance 127.0.0.1:8001 --instance 127.0.0.1:8002 > /etc/nginx/sites-available/videotermin

Only the {{NAME}} placeholders are replaced; nginx's own $variables are left alone.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

TEMPLATE = Path(__file__).with_name("videotermin.conf.template")
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def render(*, server_name: str, certificate: str, certificate_key: str, static_root: str,
           instances: list[str], https_port: int = 443, http_port: int = 80,
           access_log: str = "/var/log/nginx/videotermin.access.log",
           upstream: str = "videotermin", listen_address: str = "",
           text: str | None = None) -> str:
    prefix = f"{listen_address}:" if listen_address else ""
    values = {
        "SERVER_NAME": server_name,
        "CERTIFICATE": certificate,
        "CERTIFICATE_KEY": certificate_key,
        "STATIC_ROOT": str(static_root).rstrip("/"),
        "UPSTREAM": upstream,
        "UPSTREAM_SERVERS": "\n".join(f"    server {i};" for i in instances),
        "HTTPS_LISTEN": f"{prefix}{https_port}",
        "HTTP_LISTEN": f"{prefix}{http_port}",
        "HTTPS_PORT_SUFFIX": "" if https_port == 443 else f":{https_port}",
        "ACCESS_LOG": access_log,
    }
    source = TEMPLATE.read_text() if text is None else text
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], source)


def section(text: str, name: str) -> str:
    """One marked section (`# BEGIN name` … `# END name`) of the template."""
    match = re.search(rf"^# BEGIN {name}\n(.*?)^# END {name}\n", text, re.S | re.M)
    if match is None:
        raise KeyError(name)
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--certificate", required=True)
    parser.add_argument("--certificate-key", required=True)
    parser.add_argument("--static-root", required=True)
    parser.add_argument("--instance", action="append", required=True,
                        help="host:port of a gunicorn instance (repeat)")
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--access-log", default="/var/log/nginx/videotermin.access.log")
    args = parser.parse_args()
    print(render(server_name=args.server_name, certificate=args.certificate,
                 certificate_key=args.certificate_key, static_root=args.static_root,
                 instances=args.instance, https_port=args.https_port,
                 http_port=args.http_port, access_log=args.access_log), end="")


if __name__ == "__main__":
    main()
