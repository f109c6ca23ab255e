"""Calibration referee for EvaluationTests: scikit-learn's brier_score_loss and calibration_curve (uniform bins),
the expected calibration error from the same bins with numpy, and temperature scaling fitted by scipy's bounded
scalar minimiser on the mean negative log-likelihood. Prints one JSON document."""
import json

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

rng = np.random.default_rng(11)
N_BINS = 10


def two_class(p_positive):
    return np.stack([1 - p_positive, p_positive], axis=1)


def overconfident(n):
    """Labels from a true probability, predictions pushed towards 0 and 1 (as an overfitted network is)."""
    truth = rng.uniform(0, 1, n)
    labels = (rng.uniform(0, 1, n) < truth).astype(int)
    logit = np.log(truth / (1 - truth)) * 3
    return labels, two_class(1 / (1 + np.exp(-logit)))


cases = {
    "overconfident": overconfident(400),
    # Values on the bin edges, 0 and 1 exactly, and an empty bin.
    "edges": (np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1]),
              two_class(np.array([0.0, 0.1, 0.2, 0.3, 0.30000000000000004, 0.5, 0.7, 0.9, 1.0, 0.95]))),
    "underconfident": (lambda labels: (labels, two_class(np.clip(0.5 + (labels - 0.5) * rng.uniform(0.05, 0.3, 300)
                                                                 + rng.normal(0, 0.05, 300), 0.01, 0.99))))(rng.integers(0, 2, 300)),
}


def nll(probabilities, labels, temperature):
    logits = np.log(np.maximum(probabilities, np.finfo(np.float32).smallest_subnormal)) / temperature
    top = logits.max(axis=1, keepdims=True)
    log_sum = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_sum - logits[np.arange(len(labels)), labels]))


out = {}
for name, (labels, probabilities) in cases.items():
    p = probabilities[:, 1]
    prob_true, prob_pred = calibration_curve(labels, p, n_bins=N_BINS, strategy="uniform")
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=N_BINS)
    counts = counts[counts > 0]
    fit = minimize_scalar(lambda t: nll(probabilities, labels, t), bounds=(0.05, 20), method="bounded",
                          options={"xatol": 1e-10})
    out[name] = {
        "labels": labels.tolist(), "probabilities": probabilities.tolist(),
        "brier": float(brier_score_loss(labels, p)),
        "prob_true": prob_true.tolist(), "prob_pred": prob_pred.tolist(), "counts": counts.tolist(),
        "ece": float(np.sum(counts / len(p) * np.abs(prob_true - prob_pred))),
        "nll": nll(probabilities, labels, 1.0),
        "temperature": float(fit.x), "nll_at_temperature": float(fit.fun),
    }
print(json.dumps(out))
