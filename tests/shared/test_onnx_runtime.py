import numpy as np
import pytest

from shared.errors import IntegrityError
from shared.onnx_runtime import OnnxClassifier, top1_agreement

QUERIES = ["my card never arrived", "refund please", "top up failed", "dollar rate today", ""]


@pytest.fixture(scope="module")
def onnx_dir(fast_clf, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "fast-onnx"
    fast_clf.export_onnx(path)
    return path


def test_int8_model_has_the_same_api_and_agrees_with_torch(fast_clf, onnx_dir, tiny_data):
    fast = OnnxClassifier.load(onnx_dir)
    texts, labels = tiny_data
    assert fast.labels_ == fast_clf.labels_
    assert top1_agreement(fast_clf, fast, texts + QUERIES) >= 0.95
    probs = fast.predict_proba(QUERIES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert fast.evaluate(texts, labels)["accuracy"] >= 0.9


def test_full_model_exports_too(full_clf, tmp_path):
    fast = full_clf.export_onnx(tmp_path / "full-onnx", quantize=False)
    np.testing.assert_allclose(fast.predict_proba(QUERIES), full_clf.predict_proba(QUERIES), atol=1e-4)


def test_a_tampered_onnx_file_is_refused(onnx_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_dir, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-100] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        OnnxClassifier.load(copy)
