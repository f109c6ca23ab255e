"""Keras as the referee for TrainingTests.

  python training_referee.py notop OUT.h5            ResNet50 notop weights (32x32, seeded), written by tf_keras
  python training_referee.py predict MODEL.h5 X.npy OUT_PREFIX
                                                     loads a bc-train checkpoint in tf_keras and Keras 3 and writes
                                                     OUT_PREFIX_tfk.npy and OUT_PREFIX_k3.npy with their predictions
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

command = sys.argv[1]
if command == "notop":
    import tf_keras
    tf_keras.utils.set_random_seed(3)
    tf_keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(sys.argv[2])
elif command == "predict":
    import keras
    import tf_keras
    x = np.load(sys.argv[3])
    np.save(sys.argv[4] + "_tfk.npy", tf_keras.models.load_model(sys.argv[2]).predict(x, verbose=0))
    np.save(sys.argv[4] + "_k3.npy", keras.models.load_model(sys.argv[2], compile=False).predict(x, verbose=0))
else:
    sys.exit(f"unknown command {command}")
