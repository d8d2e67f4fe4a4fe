"""The survey's questions: one TOML file per language in PORTAL_SURVEY_DIR (default: the
folder survey_texts/ beside this file), replaceable by the operator like the consent texts.
Shared by the survey (portal/survey/) and the statistics page (portal/reports/).

Every language asks the same questions (key and kind, in the same order): answers are counted
per key, whatever the wording. A question is a scale (1 to 5, five labels from bad to good) or
yes/no (two labels). Files that break these rules stop start-up with a message that says why.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from flask_babel import get_locale

DEFAULT_DIR = Path(__file__).parent / "survey_texts"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")  # survey_<key> fits a statistics dimension
VALUES = {"scale": ("1", "2", "3", "4", "5"), "yes_no": ("yes", "no")}
MAX_QUESTIONS = 10


@dataclass(frozen=True)
class Question:
    key: str
    kind: str
    text: str
    labels: tuple[str, ...]

    @property
    def options(self) -> list[tuple[str, str]]:
        """(value, label) in the order shown."""
        return list(zip(VALUES[self.kind], self.labels, strict=True))

    @property
    def values(self) -> tuple[str, ...]:
        return VALUES[self.kind]


@dataclass(frozen=True)
class Survey:
    lang: str
    title: str
    intro: str
    questions: tuple[Question, ...]

    @property
    def shape(self) -> tuple[tuple[str, str], ...]:
        return tuple((q.key, q.kind) for q in self.questions)


class SurveyFileError(RuntimeError):
    pass


def _text(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SurveyFileError(f"{where} must be a text that is not empty.")
    return value.strip()


def parse(path: Path, lang: str) -> Survey:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SurveyFileError(f"{path}: {error}") from None
    items = data.get("questions")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUESTIONS:
        raise SurveyFileError(f"{path}: [[questions]] must appear 1 to {MAX_QUESTIONS} times.")
    questions = []
    for number, item in enumerate(items, 1):
        where = f"{path}: question {number}"
        if not isinstance(item, dict):
            raise SurveyFileError(f"{where} is not a table.")
        key, kind, labels = item.get("key"), item.get("kind"), item.get("labels")
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise SurveyFileError(f"{where}: key must be lower-case letters, digits and _ "
                                  f"(at most 24), starting with a letter; got {key!r}.")
        if kind not in VALUES:
            raise SurveyFileError(f"{where}: kind must be \"scale\" or \"yes_no\"; got {kind!r}.")
        if not isinstance(labels, list) or len(labels) != len(VALUES[kind]):
            raise SurveyFileError(f"{where}: a {kind} question needs {len(VALUES[kind])} labels.")
        questions.append(Question(key, kind, _text(item.get("text"), f"{where}: text"),
                                  tuple(_text(label, f"{where}: a label") for label in labels)))
    if len({q.key for q in questions}) != len(questions):
        raise SurveyFileError(f"{path}: every question needs a key of its own.")
    return Survey(lang, _text(data.get("title"), f"{path}: title"),
                  _text(data.get("intro"), f"{path}: intro"), tuple(questions))


def load(app: Flask) -> dict[str, Survey]:
    """Read and check every language's file; stops start-up on a broken one."""
    folder = Path(app.config.get("SURVEY_DIR") or DEFAULT_DIR)
    default = app.config["BABEL_DEFAULT_LOCALE"]
    surveys = {lang: parse(folder / f"{lang}.toml", lang)
               for lang in app.config["LANGUAGES"] if (folder / f"{lang}.toml").is_file()}
    if default not in surveys:
        raise SurveyFileError(f"PORTAL_SURVEY_DIR: {folder / (default + '.toml')} is missing "
                              "(the default language's survey).")
    for lang, survey in surveys.items():
        if survey.shape != surveys[default].shape:
            raise SurveyFileError(f"PORTAL_SURVEY_DIR: {lang}.toml must ask the same questions "
                                  f"(key and kind, in order) as {default}.toml.")
    return surveys


def current_survey() -> Survey:
    """The survey in the page's language (the default language's if there is none)."""
    surveys = current_app.extensions["survey"]
    lang = str(get_locale() or "")
    return surveys.get(lang) or surveys[current_app.config["BABEL_DEFAULT_LOCALE"]]


def questions_of_default() -> tuple[Question, ...]:
    """The questions as counted (the default language's wording), for the statistics page."""
    return current_app.extensions["survey"][current_app.config["BABEL_DEFAULT_LOCALE"]].questions
