"""Small response helpers for htmx (one URL serves a page or a fragment)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def vary(response: Response) -> Response:
    """Pages and fragments share URLs, so caches must key on the HX-Request header."""
    response.vary.add("HX-Request")
    return response


def no_change() -> Response:
    """204: nothing to swap. Costs one tiny response on every unchanged poll."""
    return vary(make_response("", 204))


def page_or_fragment(page: str, fragment: str,
                     context: Mapping | Callable[[], Mapping],
                     version: str | None = None) -> Response:
    """The one answer for a URL that serves both: 204 when an htmx poll already shows
    `version` (a fingerprint of the data, compared before rendering), the fragment for htmx,
    else the whole page (which includes the fragment's template). `context` may be a function,
    so a 204 loads nothing."""
    if version is not None and is_htmx() and request.args.get("v") == version:
        return no_change()
    values = context() if callable(context) else context
    return vary(make_response(render_template(fragment if is_htmx() else page, **values)))


def client_redirect(url: str) -> Response:
    response = make_response("", 200)
    response.headers["HX-Redirect"] = url
    return vary(response)
