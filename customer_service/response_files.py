"""Answer templates per intent, from YAML or JSON.

Either the plain form, intent → one template or a list of them::

    card_arrival:
      - "Cards arrive within 5 working days. You can track yours under Cards > Delivery."
      - "Your card is on its way: delivery takes up to 5 working days."
    top_up: "Tap Add money, then choose a card or a bank transfer."

or the same under a top-level ``responses:`` key, where a template may also be written as
``{text: "..."}`` (the shape of Rasa's domain responses, so those files import as they are).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from shared.datafiles import RowReport
from shared.errors import DataError

from .intent_files import read_yaml


@dataclass
class Responses:
    templates: dict[str, list[str]]  # intent → one or more answer templates
    source: str = ""

    def __contains__(self, intent: str) -> bool:
        return intent in self.templates

    def answer(self, intent: str, rng: random.Random | None = None) -> str:
        """One of the intent's templates (a random one when several, so replies vary)."""
        if intent not in self.templates:
            raise DataError(f"no response for intent {intent!r}{' in ' + self.source if self.source else ''}")
        options = self.templates[intent]
        return options[0] if len(options) == 1 else (rng or random).choice(options)

    def missing(self, intents) -> list[str]:
        """Intents the classifier knows that have no template (to report before serving)."""
        return sorted(set(intents) - set(self.templates))


def _template(value) -> str | None:
    if isinstance(value, dict) and "text" in value:
        value = value["text"]
    return value.strip() if isinstance(value, str) and value.strip() else None


def read_responses(path: str | Path, report: RowReport | None = None) -> Responses:
    """Responses from a .yml/.yaml or .json file; a DataError names the file and the problem.

    A template that is not a non-empty string, or an intent with an empty list, is a bad entry:
    skipped into ``report`` under its intent's name (else an error). An intent left with no
    template has no answer, which ``Responses.missing`` then reports like any other."""
    path = Path(path)
    report = report if report is not None else RowReport(str(path), strict=True)
    suffix = path.suffix.lower()
    if suffix in (".yml", ".yaml"):
        data = read_yaml(path)
    elif suffix == ".json":
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    else:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'}; use .yml, .yaml or .json")
    if isinstance(data, dict) and isinstance(data.get("responses"), dict):
        data = data["responses"]
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a mapping of intent → answer template(s), got {type(data).__name__ if data else 'nothing'}")
    templates = {}
    for intent, value in data.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            report.skip(f"intent {str(intent)!r}", "empty list of templates")
        for template, given in zip(map(_template, values), values):
            if template is None:
                report.skip(f"intent {str(intent)!r}", f"each template must be a non-empty string, got {given!r}")
            else:
                templates.setdefault(str(intent), []).append(template)
    report.finish(len(templates))
    return Responses(templates, str(path))
