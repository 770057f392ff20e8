"""Labelled intent examples from the files a support team already has.

    read_intents("train.csv")                    # CSV/JSONL text,intent (BANKING77's text,category too)
    read_clinc150("data_full_trainval.json")     # {"train": ..., "validation": ...}, oos rows included
    read_rasa_nlu("nlu.yml")                      # Rasa NLU training data (import)
    read_oos_texts("oos.csv")                     # out-of-scope sentences, a text column is enough
    load_intents(path)                            # any of the first three, by file type

Out-of-scope examples carry the one label ``OUT_OF_SCOPE`` whatever their file called them
(CLINC150's ``oos``), so every later step has a single name to test for. Every problem with a
file is a ``DataError`` whose one-line message names the file and what is wrong. A bad row (an
empty text or intent, a broken line, a malformed CLINC150 pair or Rasa example) is skipped into
the ``RowReport`` a caller passes, with its line (or place) and reason; a caller that passes
none gets the error instead, so nothing is dropped unseen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from shared.datafiles import RowReport, read_labelled, read_texts
from shared.errors import DataError

OUT_OF_SCOPE = "out_of_scope"
# Labels that mean "none of our intents" in files we accept: CLINC150 says "oos".
OUT_OF_SCOPE_ALIASES = frozenset({OUT_OF_SCOPE, "oos", "out-of-scope"})


def normalise_label(label: str) -> str:
    """The label as stored: every alias of out-of-scope becomes ``OUT_OF_SCOPE``."""
    label = str(label).strip()
    return OUT_OF_SCOPE if label.lower() in OUT_OF_SCOPE_ALIASES else label


@dataclass
class IntentExamples:
    """Parallel lists of texts and intents; out-of-scope rows are labelled ``OUT_OF_SCOPE``."""

    texts: list[str]
    intents: list[str]
    source: str = ""

    def __post_init__(self):
        if len(self.texts) != len(self.intents):
            raise DataError(f"{self.source or 'examples'}: {len(self.texts)} texts but {len(self.intents)} intents")
        self.intents = [normalise_label(label) for label in self.intents]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labels(self) -> list[str]:
        """The in-scope intents present, sorted."""
        return sorted(set(self.intents) - {OUT_OF_SCOPE})

    def in_scope(self) -> IntentExamples:
        keep = [i for i, label in enumerate(self.intents) if label != OUT_OF_SCOPE]
        return IntentExamples([self.texts[i] for i in keep], [self.intents[i] for i in keep], self.source)

    @property
    def oos_texts(self) -> list[str]:
        return [t for t, label in zip(self.texts, self.intents) if label == OUT_OF_SCOPE]

    def __add__(self, other: IntentExamples) -> IntentExamples:
        source = " + ".join(s for s in (self.source, other.source) if s)
        return IntentExamples(self.texts + other.texts, self.intents + other.intents, source)


@dataclass
class IntentSplits:
    """What a file with several splits holds (CLINC150): train and validation, test when present."""

    train: IntentExamples
    validation: IntentExamples
    test: IntentExamples | None = None
    extra: dict = field(default_factory=dict)


def read_intents(path: str | Path, text_col: str | None = None, intent_col: str | None = None,
                 report: RowReport | None = None) -> IntentExamples:
    """A CSV (with a header) or JSONL file of ``text,intent`` rows; the column names are found as
    ``shared.datafiles`` finds them (``category`` and ``label`` work too). Bad rows (an empty text
    or intent, too few fields, a broken JSON line) go into ``report``, else they are errors."""
    texts, intents = read_labelled(path, text_col, intent_col, report)
    return IntentExamples(texts, intents, str(path))


def read_oos_texts(path: str | Path, text_col: str | None = None, report: RowReport | None = None) -> list[str]:
    """Out-of-scope sentences from a CSV/JSONL file; an intent column, if any, is ignored. Rows
    with an empty text go into ``report``, else they are errors."""
    return read_texts(path, text_col, report if report is not None else RowReport(str(path), strict=True))


# ---- CLINC150 -------------------------------------------------------------------------------

# Split names of the CLINC150 files (data_full.json and its variants) → our names.
_CLINC_SPLITS = {"train": ("train", "oos_train"), "validation": ("val", "oos_val"), "test": ("test", "oos_test")}


def _clinc_pairs(path: Path, data: dict, key: str, report: RowReport) -> IntentExamples:
    rows = data.get(key, [])
    if not isinstance(rows, list):
        raise DataError(f"{path}: {key!r} must be a list of [text, intent] pairs")
    texts, intents = [], []
    for i, row in enumerate(rows):
        # One JSON document has no useful line numbers: a bad pair is named by its split and index.
        if not (isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)):
            report.skip(f"{key}[{i}]", "not a [text, intent] pair of strings")
        elif not row[0].strip() or not row[1].strip():
            report.skip(f"{key}[{i}]", "empty text or intent")
        else:
            texts.append(row[0])
            intents.append(row[1])
    examples = IntentExamples(texts, intents, f"{path}:{key}")
    if key.startswith("oos_") and examples.labels:
        raise DataError(f"{path}: {key} should hold only out-of-scope rows, found intent {examples.labels[0]!r}")
    return examples


def read_clinc150(path: str | Path, report: RowReport | None = None) -> IntentSplits:
    """The CLINC150 JSON layout (``data_full.json`` or ``data_full_trainval.json``): lists of
    ``[text, intent]`` under ``train``/``val`` (in-scope) and ``oos_train``/``oos_val``; each split
    comes back with its out-of-scope rows appended under ``OUT_OF_SCOPE``. A malformed pair goes
    into ``report``, else it is an error."""
    path = Path(path)
    report = report if report is not None else RowReport(str(path), strict=True)
    data = _read_json(path)
    if not isinstance(data, dict) or "train" not in data or "val" not in data:
        found = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{path}: not the CLINC150 layout (expected keys train, val, oos_train, oos_val; found {found or 'nothing'})")
    splits = {}
    for name, (in_key, oos_key) in _CLINC_SPLITS.items():
        if in_key in data:
            splits[name] = _clinc_pairs(path, data, in_key, report) + _clinc_pairs(path, data, oos_key, report)
    if not len(splits["train"].in_scope()):
        raise DataError(f"{path}: the train split holds no in-scope examples")
    return IntentSplits(splits["train"], splits["validation"], splits.get("test"))


def _read_json(path: Path):
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


# ---- Rasa NLU ---------------------------------------------------------------------------------

# Rasa marks entities inside examples: "[Berlin](city)", '[Berlin]{"entity": "city"}' or
# "[Berlin](city:capital)". The classifier wants the plain sentence, so keep the bracketed words.
_ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def _strip_entities(text: str) -> str:
    return _ENTITY.sub(r"\1", text).strip()


def read_yaml(path: Path):
    """A YAML file's content, or a DataError with the line where parsing failed."""
    import yaml

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None


def _rasa_examples(intent: str, examples, report: RowReport) -> list[str]:
    """The intent's sentences; a malformed example (or none at all) is a bad row named by its intent."""
    where = f"intent {intent!r}"
    if isinstance(examples, str):  # the block form: "examples: |" then "- text" lines
        texts = []
        for line in (line.strip() for line in examples.splitlines()):
            if line.startswith("- "):
                texts.append(_strip_entities(line[2:]))
            elif line:
                report.skip(where, f"example line {line!r} does not start with '- '")
        return texts
    if isinstance(examples, list):  # the long form: a list of {"text": ..., "metadata": ...}
        texts = []
        for item in examples:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                texts.append(_strip_entities(item["text"]))
            else:
                report.skip(where, f"each example in the list form needs a 'text' string, got {item!r}")
        return texts
    report.skip(where, "no examples (expected 'examples: |' and '- text' lines)")
    return []


def read_rasa_nlu(path: str | Path, report: RowReport | None = None) -> IntentExamples:
    """Intent examples of a Rasa ``nlu.yml`` (Rasa 2/3 format). Synonyms, regexes and lookup
    tables are skipped (they carry no labelled sentences); entity markup is removed. A malformed
    entry or example goes into ``report``, else it is an error."""
    path = Path(path)
    report = report if report is not None else RowReport(str(path), strict=True)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("nlu"), list):
        raise DataError(f"{path}: not Rasa NLU data (expected a top-level 'nlu:' list)")
    texts, intents = [], []
    for number, item in enumerate(data["nlu"], 1):
        if not isinstance(item, dict):
            report.skip(f"nlu entry {number}", f"not a mapping: {item!r}")
            continue
        if "intent" not in item:
            continue
        intent = str(item["intent"]).strip()
        if not intent:
            report.skip(f"nlu entry {number}", "empty intent name")
            continue
        for text in _rasa_examples(intent, item.get("examples"), report):
            if text:
                texts.append(text)
                intents.append(intent)
    if not texts and report.count:
        report.finish(0)
    if not texts:
        raise DataError(f"{path}: no intent examples found")
    return IntentExamples(texts, intents, str(path))


def load_intents(path: str | Path, report: RowReport | None = None) -> IntentExamples | IntentSplits:
    """Dispatch on the file type: .csv/.jsonl → ``read_intents``, .json → CLINC150 layout,
    .yml/.yaml → Rasa NLU; ``report`` collects the bad rows, as each reader says."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return read_clinc150(path, report)
    if suffix in (".yml", ".yaml"):
        return read_rasa_nlu(path, report)
    return read_intents(path, report=report)
