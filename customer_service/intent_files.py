"""Labelled intent examples from the files a support team already has.

    read_intents("train.csv")                    # CSV/JSONL text,intent (BANKING77's text,category too)
    read_clinc150("data_full_trainval.json")     # {"train": ..., "validation": ...}, oos rows included
    read_rasa_nlu("nlu.yml")                      # Rasa NLU training data (import)
    read_oos_texts("oos.csv")                     # out-of-scope sentences, a text column is enough
    load_intents(path)                            # any of the first three, by file type

Out-of-scope examples carry the one label ``OUT_OF_SCOPE`` whatever their file called them
(CLINC150's ``oos``), so every later step has a single name to test for. Every problem with a
file is a ``DataError`` whose one-line message names the file and what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from shared.datafiles import read_labelled, read_texts
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


def read_intents(path: str | Path, text_col: str | None = None, intent_col: str | None = None) -> IntentExamples:
    """A CSV (with a header) or JSONL file of ``text,intent`` rows; the column names are found as
    ``shared.datafiles`` finds them (``category`` and ``label`` work too)."""
    texts, intents = read_labelled(path, text_col, intent_col)
    return IntentExamples(texts, intents, str(path))


def read_oos_texts(path: str | Path, text_col: str | None = None) -> list[str]:
    """Out-of-scope sentences from a CSV/JSONL file; an intent column, if any, is ignored."""
    texts = read_texts(path, text_col)
    for number, text in enumerate(texts, 2 if Path(path).suffix.lower() == ".csv" else 1):
        if not text.strip():
            raise DataError(f"{path}: row {number} has an empty text")
    return texts


# ---- CLINC150 -------------------------------------------------------------------------------

# Split names of the CLINC150 files (data_full.json and its variants) → our names.
_CLINC_SPLITS = {"train": ("train", "oos_train"), "validation": ("val", "oos_val"), "test": ("test", "oos_test")}


def _clinc_pairs(path: Path, data: dict, key: str) -> IntentExamples:
    rows = data.get(key, [])
    if not isinstance(rows, list):
        raise DataError(f"{path}: {key!r} must be a list of [text, intent] pairs")
    texts, intents = [], []
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)):
            raise DataError(f"{path}: {key}[{i}] is not a [text, intent] pair of strings")
        if not row[0].strip() or not row[1].strip():
            raise DataError(f"{path}: {key}[{i}] has an empty text or intent")
        texts.append(row[0])
        intents.append(row[1])
    examples = IntentExamples(texts, intents, f"{path}:{key}")
    if key.startswith("oos_") and examples.labels:
        raise DataError(f"{path}: {key} should hold only out-of-scope rows, found intent {examples.labels[0]!r}")
    return examples


def read_clinc150(path: str | Path) -> IntentSplits:
    """The CLINC150 JSON layout (``data_full.json`` or ``data_full_trainval.json``): lists of
    ``[text, intent]`` under ``train``/``val`` (in-scope) and ``oos_train``/``oos_val``; each split
    comes back with its out-of-scope rows appended under ``OUT_OF_SCOPE``."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or "train" not in data or "val" not in data:
        found = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{path}: not the CLINC150 layout (expected keys train, val, oos_train, oos_val; found {found or 'nothing'})")
    splits = {}
    for name, (in_key, oos_key) in _CLINC_SPLITS.items():
        if in_key in data:
            splits[name] = _clinc_pairs(path, data, in_key) + _clinc_pairs(path, data, oos_key)
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


def _rasa_examples(path: Path, intent: str, examples) -> list[str]:
    if isinstance(examples, str):  # the block form: "examples: |" then "- text" lines
        lines = [line.strip() for line in examples.splitlines() if line.strip()]
        bad = [line for line in lines if not line.startswith("- ")]
        if bad:
            raise DataError(f"{path}: intent {intent!r}: example line {bad[0]!r} does not start with '- '")
        return [_strip_entities(line[2:]) for line in lines]
    if isinstance(examples, list):  # the long form: a list of {"text": ..., "metadata": ...}
        texts = []
        for item in examples:
            if not (isinstance(item, dict) and isinstance(item.get("text"), str)):
                raise DataError(f"{path}: intent {intent!r}: each example in the list form needs a 'text' string")
            texts.append(_strip_entities(item["text"]))
        return texts
    raise DataError(f"{path}: intent {intent!r} has no examples (expected 'examples: |' and '- text' lines)")


def read_rasa_nlu(path: str | Path) -> IntentExamples:
    """Intent examples of a Rasa ``nlu.yml`` (Rasa 2/3 format). Synonyms, regexes and lookup
    tables are skipped (they carry no labelled sentences); entity markup is removed."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("nlu"), list):
        raise DataError(f"{path}: not Rasa NLU data (expected a top-level 'nlu:' list)")
    texts, intents = [], []
    for item in data["nlu"]:
        if not isinstance(item, dict):
            raise DataError(f"{path}: each 'nlu' entry must be a mapping, got {item!r}")
        if "intent" not in item:
            continue
        intent = str(item["intent"]).strip()
        if not intent:
            raise DataError(f"{path}: an 'nlu' entry has an empty intent name")
        for text in _rasa_examples(path, intent, item.get("examples")):
            if text:
                texts.append(text)
                intents.append(intent)
    if not texts:
        raise DataError(f"{path}: no intent examples found")
    return IntentExamples(texts, intents, str(path))


def load_intents(path: str | Path) -> IntentExamples | IntentSplits:
    """Dispatch on the file type: .csv/.jsonl → ``read_intents``, .json → CLINC150 layout,
    .yml/.yaml → Rasa NLU."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return read_clinc150(path)
    if suffix in (".yml", ".yaml"):
        return read_rasa_nlu(path)
    return read_intents(path)
