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


def test_an_encoder_exports_to_int8_and_keeps_its_neighbours(tmp_path):
    from shared.embeddings import Embedder
    from shared.onnx_runtime import OnnxEncoder, export_onnx_encoder

    texts = ["my card never arrived", "where is my new card", "how do I top up my account", "add money to my account",
             "the exchange rate is wrong", "you converted my currency at a bad rate"]
    exported = export_onnx_encoder(None, tmp_path / "enc")  # None: the packaged all-MiniLM-L6-v2
    fast = OnnxEncoder.load(tmp_path / "enc")
    torch_vectors = Embedder().encode(texts)
    onnx_vectors = fast.encode(texts)
    assert onnx_vectors.shape == torch_vectors.shape == (len(texts), exported.dim)
    np.testing.assert_allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    # int8 moves each vector a little but keeps it near the torch one, and each paraphrase's nearest
    # neighbour is still its pair
    assert (np.sum(onnx_vectors * torch_vectors, axis=1) > 0.97).all()
    nearest = (onnx_vectors @ onnx_vectors.T - 2 * np.eye(len(texts))).argmax(axis=1)
    assert nearest.tolist() == [1, 0, 3, 2, 5, 4]
    assert fast.encode([]).shape == (0, exported.dim)


def test_a_classifier_encoder_exports_the_vectors_its_head_reads(fast_clf, tmp_path):
    from shared.onnx_runtime import export_onnx_encoder

    encoder = export_onnx_encoder(fast_clf, tmp_path / "clf-enc", quantize=False)
    vectors = encoder.encode(QUERIES)
    weight, bias = fast_clf.model_.head.weight.detach().numpy(), fast_clf.model_.head.bias.detach().numpy()
    np.testing.assert_allclose(vectors @ weight.T + bias, fast_clf.decision_function(QUERIES), atol=1e-3)


def test_an_encoder_without_mean_pooling_is_refused(tmp_path):
    from shared.errors import ConfigError
    from shared.onnx_runtime import export_onnx_encoder

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "modules.json").write_text('[{"path": "", "type": "sentence_transformers.models.Transformer"}]')
    with pytest.raises(ConfigError, match="mean-pooling"):
        export_onnx_encoder(str(tmp_path), tmp_path / "out")


def test_onnxruntimes_quantisation_info_stays_out_of_the_log_but_its_warnings_do_not(caplog):
    import logging

    import onnxruntime.quantization.onnx_quantizer as quantizer  # logs through the root logger

    caplog.set_level(logging.INFO)
    for level in (logging.INFO, logging.WARNING):
        logging.root.handle(logging.root.makeRecord("root", level, quantizer.__file__, 1, "quantisation note", (), None))
    logging.info("the server's own INFO line")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.WARNING, "quantisation note"),
                                                                    (logging.INFO, "the server's own INFO line")]
