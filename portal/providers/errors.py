"""ProviderError: what failed at a conferencing provider, as a stable reason code and a
translated sentence for the advisor. Never carries a secret (no checksum, token or cipher)."""

from __future__ import annotations

from flask_babel import gettext as _

#: reason code -> advisor-facing message (formatted with the provider's label).
REASONS = {
    "unreachable": lambda p: _("%(provider)s could not be reached.", provider=p),
    "timeout": lambda p: _("%(provider)s did not answer in time.", provider=p),
    "certificate": lambda p: _("The certificate of %(provider)s is not trusted. Please tell "
                               "the operator.", provider=p),
    "server_error": lambda p: _("%(provider)s had an internal error.", provider=p),
    "rejected": lambda p: _("%(provider)s refused the request.", provider=p),
    "unauthorized": lambda p: _("%(provider)s did not accept the portal's credentials. Please "
                                "tell the operator.", provider=p),
    "bad_answer": lambda p: _("%(provider)s gave an answer the portal does not understand.",
                              provider=p),
    "misconfigured": lambda p: _("%(provider)s is not set up for this portal. Please tell the "
                                 "operator.", provider=p),
    "no_personal_room": lambda p: _("You have not entered the link to your personal meeting "
                                    "room yet. Add it in your profile first."),
    "not_available": lambda p: _("%(provider)s cannot be chosen on this portal.", provider=p),
    "already_prepared": lambda p: _("The meeting has already been prepared with %(provider)s; "
                                    "it cannot change any more.", provider=p),
}


class ProviderError(Exception):
    """A provider call failed. `reason` is one of REASONS; `message` the advisor's text;
    `detail` is for the log only."""

    def __init__(self, reason: str, provider: str, detail: str = ""):
        assert reason in REASONS, reason
        super().__init__(f"{provider}: {reason}" + (f": {detail}" if detail else ""))
        self.reason = reason
        self.provider = provider
        self.detail = detail

    @property
    def message(self) -> str:
        from . import label_of

        return REASONS[self.reason](label_of(self.provider))
