import pytest

from shared.artifacts import ArtifactStore, add_to_manifest, atomic_dir, export_quantized, onnx_dir, served_with, verify_manifest, write_manifest
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


def test_an_export_written_into_a_saved_version_is_verified_with_it_once_added_to_its_manifest(tmp_path):
    version = make_artifact(tmp_path / "v1")
    export = onnx_dir(version)
    assert export == version / "onnx"  # the one rule every app follows
    make_artifact(export, "int8")
    with pytest.raises(IntegrityError, match="not listed"):
        verify_manifest(version)
    add_to_manifest(version, export.name)
    assert verify_manifest(version, kind="demo")["files"].keys() == {"weights.json", "onnx/weights.json"}
    (export / "weights.json").write_text("tampered")
    with pytest.raises(IntegrityError, match="onnx/weights.json does not match"):
        verify_manifest(version)


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


def test_pruning_keeps_the_newest_versions_and_always_the_active_one(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    versions = [make_artifact(store.new_version_dir(), str(k)) for k in range(5)]
    store.activate(versions[0])  # rolled back to the oldest: it must survive
    removed = store.prune(keep=2)
    assert removed == [v.name for v in versions[1:3]]
    assert store.versions() == [versions[0].name, versions[3].name, versions[4].name]
    assert store.active() == versions[0]
    with pytest.raises(ValueError):
        store.prune(keep=0)


def test_a_corrupted_version_is_never_activated(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    good = make_artifact(store.new_version_dir(), "1")
    store.activate(good)
    bad = make_artifact(store.new_version_dir(), "2")
    (bad / "weights.json").write_text("tampered")
    with pytest.raises(IntegrityError):
        store.activate(bad)
    assert store.active() == good


def test_a_watcher_loads_each_promotion_once_and_keeps_serving_through_a_bad_one(tmp_path):
    import time

    from shared.artifacts import ActiveWatcher

    store = ArtifactStore(tmp_path / "store")
    first = store.activate(make_artifact(store.new_version_dir(), "1"))
    loaded = []

    def load(path):
        if (path / "weights.json").read_text() == "broken":
            raise ValueError("cannot read this one")
        loaded.append(path.name)

    watcher = ActiveWatcher(store, load)
    assert watcher.check() is False  # the version it started with is already serving
    second = store.activate(make_artifact(store.new_version_dir(), "2"))
    assert watcher.check() is True and watcher.check() is False
    broken = store.activate(make_artifact(store.new_version_dir(), "broken"))
    assert watcher.check() is False  # logged; the second version keeps serving
    assert loaded == [second.name] and watcher.current == broken

    watcher = ActiveWatcher(store, load, interval=0.05, current=first).start()  # the thread does the polling
    try:
        deadline = time.monotonic() + 5
        store.activate(second)
        while loaded[-1:] != [second.name] or len(loaded) < 2:
            assert time.monotonic() < deadline, "the watcher never loaded the promoted version"
            time.sleep(0.02)
    finally:
        watcher.stop()


def test_a_check_racing_the_watcher_thread_returns_once_the_new_version_serves(tmp_path):
    import threading

    from shared.artifacts import ActiveWatcher

    store = ArtifactStore(tmp_path / "store")
    first = store.activate(make_artifact(store.new_version_dir(), "1"))
    loading, release, loaded = threading.Event(), threading.Event(), []

    def slow_load(path):
        loading.set()
        release.wait(5)
        loaded.append(path.name)

    watcher = ActiveWatcher(store, slow_load, current=first)
    second = store.activate(make_artifact(store.new_version_dir(), "2"))
    poller = threading.Thread(target=watcher.check)  # the watcher thread, mid-load
    poller.start()
    assert loading.wait(5)
    threading.Timer(0.2, release.set).start()
    assert watcher.check() is False  # the other poll loaded it ...
    assert loaded == [second.name]  # ... once, and before this check returned
    poller.join(5)


def test_what_serves_an_export_is_read_from_its_own_metadata(tmp_path):
    int8, fp32 = tmp_path / "int8", tmp_path / "fp32"
    int8.mkdir(), fp32.mkdir()
    (int8 / "onnx_encoder.json").write_text('{"quantized": true, "dim": 384}')
    (fp32 / "onnx_classifier.json").write_text('{"quantized": false, "labels": ["a"]}')
    assert served_with(int8) == "onnx-int8"
    assert served_with(fp32) == "onnx-fp32"
    assert served_with(tmp_path) == "torch"  # no export here: the torch model serves
    # A torch-served model asked for an export later gets the default, int8; fp32 only where chosen.
    assert [export_quantized(serve) for serve in ("onnx-int8", "onnx-fp32", "torch")] == [True, False, True]
