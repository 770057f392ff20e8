from pathlib import Path

import pytest

from shared.encoder import default_encoder, resolve_encoder
from shared.errors import ConfigError


def test_default_is_the_packaged_minilm():
    path = Path(default_encoder())
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert resolve_encoder(None) == resolve_encoder("all-MiniLM-L6-v2") == str(path)


def test_a_local_model_directory_is_used_as_it_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_encoder(tmp_path) == str(tmp_path)


def test_missing_directory_and_offline_hub_id_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_encoder(str(tmp_path / "nowhere" / "model"))
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_encoder(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        resolve_encoder("bert-base-uncased")
