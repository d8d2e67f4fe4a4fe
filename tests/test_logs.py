"""Access logs never hold a personal link's token."""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request

from werkzeug.serving import make_server

from .helpers import free_port
from .journey_helpers import book


def test_access_log_masks_the_token_of_a_personal_link(app, advisor, caplog):
    _, paths = book(advisor)
    token = paths["citizen"].rsplit("/", 1)[1]
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            opener = urllib.request.build_opener(NoRedirect)
            for path in (paths["citizen"], "/t/" + "A" * 43):
                try:
                    opener.open(f"http://127.0.0.1:{port}{path}").close()
                except urllib.error.HTTPError as answer:  # 302 and 404 alike
                    answer.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    # Without the colours werkzeug adds on a terminal.
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", r.getMessage())
             for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /t/… HTTP/1.1" 302' in line for line in lines), lines
    assert any('"GET /t/… HTTP/1.1" 404' in line for line in lines), lines
    assert not any(token in line or "A" * 43 in line for line in lines)
