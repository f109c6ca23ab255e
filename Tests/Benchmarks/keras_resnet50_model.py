"""Writes an untrained keras.applications ResNet50 with a 2-class top at a given input size as a full-model .h5
(tf_keras), a stand-in model for timing bc-serve (the weights do not change the work)."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tf_keras

path, size = sys.argv[1], int(sys.argv[2])
model = tf_keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=2)
model.save(path)
print(f"wrote {path}: ResNet50 at {size}x{size}")
