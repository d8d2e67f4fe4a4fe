"""The one way the portal calls a provider over HTTPS: a timeout on every network step
(PORTAL_PROVIDER_TIMEOUT_SECONDS), one retry for calls that may be repeated, the agency's own
CA (PORTAL_PROVIDER_CA_FILE) trusted besides the system's, and every failure turned into a
ProviderError with a reason. Logs name the address without its query (it may hold a
checksum)."""

from __future__ import annotations

import functools
import logging
import ssl
import time

import certifi
import httpx
from flask import current_app

from .errors import ProviderError

log = logging.getLogger(__name__)

ATTEMPTS = 2  # a failed idempotent call is tried once more
RETRY_PAUSE_SECONDS = 0.3
RETRY_STATUSES = {502, 503, 504}


@functools.lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _reason(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    cause = error.__cause__ or error.__context__
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "certificate"
        cause = cause.__cause__ or cause.__context__
    return "unreachable"


def request(provider: str, method: str, url: str, *, idempotent: bool = True,
            **kwargs) -> httpx.Response:
    """The provider's answer with a 2xx status, or ProviderError."""
    config = current_app.config
    timeout = float(config["PROVIDER_TIMEOUT_SECONDS"])
    where = url.split("?", 1)[0]
    attempts = ATTEMPTS if idempotent else 1
    with httpx.Client(verify=_ssl_context(config.get("PROVIDER_CA_FILE")), timeout=timeout,
                      follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = client.request(method, url, **kwargs)
            except httpx.TransportError as error:
                failure = ProviderError(_reason(error), provider,
                                        f"{method} {where}: {type(error).__name__}")
            else:
                if response.is_success:
                    return response
                status = response.status_code
                reason = ("unauthorized" if status in (401, 403) else
                          "server_error" if status >= 500 else "rejected")
                failure = ProviderError(reason, provider, f"{method} {where}: HTTP {status}")
                if status not in RETRY_STATUSES:
                    attempts = attempt
            if attempt < attempts:
                log.info("Provider call failed, trying again: %s", failure)
                time.sleep(RETRY_PAUSE_SECONDS)
    log.warning("Provider call failed: %s", failure)
    raise failure
