"""Computes scikit-learn metrics on fixed prediction sets for EvaluationTests. Prints one JSON document."""
import json
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

warnings.simplefilter("ignore", UndefinedMetricWarning)
rng = np.random.default_rng(7)
cases = {
    "random_with_ties": (rng.integers(0, 2, 200), np.round(rng.uniform(0, 1, 200), 2)),
    "perfect": (np.array([0, 0, 1, 1, 0, 1]), np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])),
    "all_tied": (np.array([0, 1, 0, 1, 1]), np.full(5, 0.5)),
    "inverted_with_ties": (np.array([1, 1, 0, 0, 1, 0, 0]), np.array([0.2, 0.2, 0.9, 0.6, 0.6, 0.6, 0.4])),
    "no_predicted_positive": (np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])),
}
out = {}
for name, (labels, scores) in cases.items():
    predicted = (scores >= 0.5).astype(int)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=[0, 1], zero_division=0)
    out[name] = {
        "labels": labels.tolist(), "scores": scores.tolist(), "predicted": predicted.tolist(),
        "fpr": fpr.tolist(), "tpr": tpr.tolist(),
        "thresholds": ["inf" if np.isinf(t) else float(t) for t in thresholds],
        "auc": roc_auc_score(labels, scores), "accuracy": accuracy_score(labels, predicted),
        "confusion": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
        "precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(), "support": support.tolist(),
    }
try:
    roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9])
    out["single_class_error"] = None
except ValueError as error:
    out["single_class_error"] = str(error)
print(json.dumps(out))
