import pytest

from shared.artifacts import ArtifactStore, atomic_dir, verify_manifest, write_manifest
from shared.errors import IntegrityError, NotFoundError


def make_artifact(path, content="v1"):
    with atomic_dir(path) as tmp:
        (tmp / "weights.json").write_text(content)
        write_manifest(tmp, "demo")
    return path


def test_manifest_round_trip_and_kind_check(tmp_path):
    path = make_artifact(tmp_path / "a")
    assert verify_manifest(path, kind="demo")["files"].keys() == {"weights.json"}
    with pytest.raises(IntegrityError, match="expected a 'model'"):
        verify_manifest(path, kind="model")


def test_modified_missing_and_unlisted_files_are_refused(tmp_path):
    path = make_artifact(tmp_path / "a")
    (path / "weights.json").write_text("v2")
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        verify_manifest(path)
    path = make_artifact(tmp_path / "b")
    (path / "extra.txt").write_text("surprise")
    with pytest.raises(IntegrityError, match="not listed"):
        verify_manifest(path)
    path = make_artifact(tmp_path / "c")
    (path / "weights.json").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        verify_manifest(path)


def test_pickles_are_never_written(tmp_path):
    (tmp_path / "head.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(IntegrityError, match="pickle"):
        write_manifest(tmp_path, "demo")


def test_a_failed_write_leaves_the_old_artifact_untouched(tmp_path):
    path = make_artifact(tmp_path / "a", "old")
    with pytest.raises(RuntimeError):
        with atomic_dir(path) as tmp:
            (tmp / "weights.json").write_text("half")
            raise RuntimeError("disk full")
    assert (path / "weights.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_store_activates_versions_and_rolls_back(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    assert store.active() is None
    first = make_artifact(store.new_version_dir(), "1")
    store.activate(first)
    second = make_artifact(store.new_version_dir(), "2")
    store.activate(second)
    assert store.active() == second
    assert store.rollback() == first
    assert store.active() == first
    with pytest.raises(NotFoundError):
        store.rollback()


def test_a_corrupted_version_is_never_activated(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    good = make_artifact(store.new_version_dir(), "1")
    store.activate(good)
    bad = make_artifact(store.new_version_dir(), "2")
    (bad / "weights.json").write_text("tampered")
    with pytest.raises(IntegrityError):
        store.activate(bad)
    assert store.active() == good
