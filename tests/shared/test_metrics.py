import numpy as np
import pytest
from scipy.special import softmax

from shared.metrics import calibrated_softmax, classification_report, expected_calibration_error, fit_temperature


def test_report_counts_accuracy_f1_and_the_most_confused_pair():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "b", "c"]
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_label"]["a"] == {"precision": 1.0, "recall": pytest.approx(1 / 3), "f1": 0.5, "support": 3}
    assert report["confused_pairs"][0] == {"true": "a", "predicted": "b", "count": 2}


def test_perfect_confidence_on_right_answers_has_zero_ece():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probs, np.array([0, 1])) == 0.0


def test_overconfident_wrong_answers_have_high_ece():
    probs = np.array([[0.99, 0.01]] * 10)
    y = np.array([1] * 5 + [0] * 5)
    assert expected_calibration_error(probs, y) == pytest.approx(0.49, abs=1e-6)


def test_temperature_scaling_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 4
    y = np.array([rng.choice(5, p=p) for p in softmax(logits / 2.0, axis=1)])
    temperature = fit_temperature(logits, y)
    assert temperature == pytest.approx(2.0, rel=0.1)
    before = expected_calibration_error(softmax(logits, axis=1), y)
    after = expected_calibration_error(calibrated_softmax(logits, temperature), y)
    assert after < before / 2
