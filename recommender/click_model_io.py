"""Saving and loading a ``ClickModel`` as a manifest-verified directory (no pickle anywhere)::

    MODEL/
      manifest.json          sha256 of every file below; checked before anything is read
      encoder/               the fine-tuned sentence-transformers item encoder (safetensors)
      item_vectors.safetensors   one unit row per item, in items.json order
      items.json             the catalogue the vectors belong to (id, title, text, categories, time)
      model.json             config, chosen half-life, click and blender weights, text prior, tuning figures
      stats.json             behaviour statistics (popularity, mean feedback, transitions, disliked items)

The format lives here and the class in ``click_model``, which calls these two functions from
``ClickModel.save`` and ``ClickModel.load``; so this module never imports the class (the
loader is handed the class's constructor from a saved config).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from shared.artifacts import atomic_dir, verify_manifest, write_manifest
from shared.errors import IntegrityError

from .click_signals import BehaviourStats
from .linear import LinearScorer, RidgeScorer
from .records import Item

MANIFEST_KIND = "rec-click-model"
FORMAT_VERSION = 1


def save_click_model(model, directory) -> Path:
    """Write the fitted ``model`` (a ``ClickModel``) to ``directory``, whole or not at all."""
    from safetensors.numpy import save_file

    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        model.encoder_.save(str(tmp / "encoder"), create_model_card=False, safe_serialization=True)
        save_file({"vectors": np.ascontiguousarray(model.vectors_, dtype=np.float32)}, str(tmp / "item_vectors.safetensors"))
        items = [[i.id, i.title, i.text, list(i.categories), i.timestamp] for i in (model.items_[k] for k in model.item_ids_)]
        (tmp / "items.json").write_text(json.dumps(items, ensure_ascii=False))
        state = {
            "format_version": FORMAT_VERSION, "protocol": model.protocol_, "config": asdict(model.config),
            "half_life": model.half_life_, "click": model.click_.to_json(), "blender": model.blender_.to_json(),
            "ridge": model.ridge_.to_json() if model.ridge_ is not None else None,
            "tuning": model.tuning_, "encoder": model.encoder_metrics_, "fit_seconds": getattr(model, "fit_seconds_", None),
            "timings": getattr(model, "timings_", {}),
        }
        (tmp / "model.json").write_text(json.dumps(state, indent=1))
        stats = model.stats_.to_json()
        stats["histories"] = model.histories_
        (tmp / "stats.json").write_text(json.dumps(stats, ensure_ascii=False))
        write_manifest(tmp, MANIFEST_KIND, extra={"items": len(model.item_ids_), "protocol": model.protocol_})
    return directory


def load_click_model(directory, new_model: Callable[[dict], Any]) -> Any:
    """The model saved in ``directory``; ``new_model`` builds an unfitted one from the saved config (a dict)."""
    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer

    directory = Path(directory)
    verify_manifest(directory, kind=MANIFEST_KIND)
    try:
        state = json.loads((directory / "model.json").read_text())
        if state.get("format_version") != FORMAT_VERSION:
            raise IntegrityError(f"{directory}: click model format {state.get('format_version')!r}, this troika reads {FORMAT_VERSION}")
        model = new_model(state["config"])
        items = [Item(str(i), str(t), str(x), tuple(c), None if ts is None else float(ts))
                 for i, t, x, c, ts in json.loads((directory / "items.json").read_text())]
        vectors = load_file(str(directory / "item_vectors.safetensors"))["vectors"]
        if vectors.shape[0] != len(items):
            raise IntegrityError(f"{directory}: {vectors.shape[0]} item vectors for {len(items)} items")
        model.protocol_, model.half_life_ = state["protocol"], state["half_life"]
        model.click_, model.blender_ = LinearScorer.from_json(state["click"]), LinearScorer.from_json(state["blender"])
        model.ridge_ = RidgeScorer.from_json(state["ridge"]) if state["ridge"] is not None else None
        model.tuning_, model.encoder_metrics_, model.fit_seconds_ = state["tuning"], state["encoder"], state.get("fit_seconds")
        stats_state = json.loads((directory / "stats.json").read_text())
        model.histories_ = {str(u): [str(i) for i in h] for u, h in stats_state.pop("histories", {}).items()}
        model.stats_ = BehaviourStats.from_json(stats_state, items)
    except IntegrityError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{directory} is not a readable click model: {exc}") from None
    model.items_ = {i.id: i for i in items}
    model.item_ids_ = [i.id for i in items]
    model.rows_ = {item: k for k, item in enumerate(model.item_ids_)}
    model.vectors_ = np.array(vectors, dtype=np.float32)
    if model.ridge_ is not None:
        model.text_rating_ = model.ridge_.predict(model.vectors_)
    else:
        model.text_rating_ = np.full(len(items), float(np.mean(model.stats_.mean_feedback)) if model.stats_.has_values else 0.0)
    model.encoder_ = SentenceTransformer(str(directory / "encoder"), device="cpu", local_files_only=True, trust_remote_code=False)
    return model
