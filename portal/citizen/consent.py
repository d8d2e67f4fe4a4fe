"""The consent page ("Einwilligungserklärung"). Its text lives in replaceable files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from markupsafe import Markup

from .. import journey
from ..access import require_participant
from ..extensions import db
from ..journey import next_endpoint
from ..models import ConsentDecision, ConsentRecord
from . import bp


def consent_text(lang: str) -> Markup:
    """The consent text exactly as shown, rendered from CONSENT_DIR/<lang>.html."""
    folder = Path(current_app.config["CONSENT_DIR"])
    path = folder / f"{lang}.html"
    if not path.is_file():
        path = folder / f"{current_app.config['BABEL_DEFAULT_LOCALE']}.html"
    # The file is the operator's HTML; the values put into it are escaped (autoescape is on
    # for templates without a file name), so the result is safe to mark as markup.
    template = current_app.jinja_env.from_string(path.read_text(encoding="utf-8"))
    return Markup(template.render(  # noqa: S704
        agency=current_app.config["AGENCY_NAME"],
        contact=current_app.config["AGENCY_CONTACT"],
        retention_days=current_app.config["RETENTION_DAYS"],
        requirements_url=url_for("pages.requirements"),
        privacy_url=url_for("pages.privacy"),
    ))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@bp.route("/termin/einwilligung", methods=["GET", "POST"])
def consent():
    participant = require_participant()
    lang = str(get_locale())
    text = consent_text(lang)
    if request.method == "POST":
        decision = request.form.get("decision")
        if decision not in ("agree", "decline"):
            return render_template("citizen/consent.html", text=text,
                                   participant=participant, missing_choice=True), 422
        if decision == "decline":
            kind = journey.decline_or_withdraw(participant)
        else:
            journey.agree(participant)
            kind = ConsentDecision.AGREED
        db.session.add(ConsentRecord(participant_id=participant.id, decision=kind,
                                     text_sha256=text_hash(text), language=lang))
        db.session.commit()
        if decision == "decline":
            return redirect(url_for("citizen.declined"))
        return redirect(url_for(next_endpoint(participant)))
    return render_template("citizen/consent.html", text=text, participant=participant,
                           missing_choice=False)


@bp.get("/termin/abgelehnt")
def declined():
    participant = require_participant()
    return render_template("citizen/declined.html", participant=participant)
