"""Keras peer of `bc-bench infer`: the same model (keras.applications backbone, include_top=False, then the
report's head: GlobalAveragePooling2D, Dropout, BatchNormalization, Dense softmax) built in tf_keras with random
weights, timed with `model.predict` on one fixed random batch; prints one JSON object."""
import argparse
import json
import os
import statistics
import time

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--architecture", default="resnet50")
for name, default in [("batch", 32), ("size", 224), ("threads", 1), ("warmups", 1), ("repeats", 3)]:
    parser.add_argument(f"--{name}", type=int, default=default)
arguments = parser.parse_args()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tf_keras

tf.config.threading.set_intra_op_parallelism_threads(arguments.threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
backbones = {"resnet50": tf_keras.applications.ResNet50, "resnet101": tf_keras.applications.ResNet101,
             "resnet152": tf_keras.applications.ResNet152, "densenet121": tf_keras.applications.DenseNet121,
             "densenet169": tf_keras.applications.DenseNet169, "densenet201": tf_keras.applications.DenseNet201}
shape = (arguments.size, arguments.size, 3)
backbone = backbones[arguments.architecture](include_top=False, weights=None, input_shape=shape)
x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(backbone.output)
x = tf_keras.layers.Dropout(0.5, name="dropout")(x)
x = tf_keras.layers.BatchNormalization(name="bn_head")(x)
model = tf_keras.Model(backbone.input, tf_keras.layers.Dense(2, activation="softmax", name="predictions")(x))
images = np.random.default_rng(2).uniform(-128, 127, (arguments.batch,) + shape).astype(np.float32)

for _ in range(arguments.warmups):
    model.predict(images, batch_size=arguments.batch, verbose=0)
times = []
for _ in range(arguments.repeats):
    start = time.perf_counter()
    model.predict(images, batch_size=arguments.batch, verbose=0)
    times.append(time.perf_counter() - start)
print(json.dumps({"tensorflow": tf.__version__, "images_per_second": arguments.batch / statistics.median(times)}))
