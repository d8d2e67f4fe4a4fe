"""Small response helpers for htmx (one URL serves a page or a fragment)."""

from __future__ import annotations

from flask import Response, make_response, request


def is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def vary(response: Response) -> Response:
    """Pages and fragments share URLs, so caches must key on the HX-Request header."""
    response.vary.add("HX-Request")
    return response


def no_change() -> Response:
    """204: nothing to swap. Costs one tiny response on every unchanged poll."""
    return vary(make_response("", 204))


def client_redirect(url: str) -> Response:
    response = make_response("", 200)
    response.headers["HX-Redirect"] = url
    return vary(response)
