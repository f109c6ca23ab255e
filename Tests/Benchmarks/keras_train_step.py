"""Keras peer of Launch/bench-train.sh: images per second of `train_on_batch` for keras.applications ResNet50 or
DenseNet201 (weights=None, include_top=False) with bc-train's head (GlobalAveragePooling2D, Dropout 0.5,
BatchNormalization, Dense softmax), Adam and categorical cross-entropy, on one fixed random batch, with N TensorFlow
threads. --precision mixed_bfloat16 sets Keras' mixed_bfloat16 global policy, with the softmax output layer in
float32 as Keras' mixed-precision guide recommends. Prints one JSON object: {"seconds_per_step": median, "images_per_second": batch / median, "peak_rss_mb": the
process's peak resident memory}."""
import argparse
import json
import os
import resource
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--architecture", choices=["resnet50", "densenet201"], default="resnet50")
    for name, default in [("size", 224), ("batch", 16), ("threads", 1), ("warmups", 2), ("repeats", 5)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32")
    args = parser.parse_args()
    # OpenMP and TensorFlow read these when they load, so they must be set before the import.
    os.environ.update(OMP_NUM_THREADS=str(args.threads), TF_NUM_INTRAOP_THREADS=str(args.threads),
                      TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    import keras
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    keras.mixed_precision.set_global_policy(args.precision)
    backbone = {"resnet50": keras.applications.ResNet50, "densenet201": keras.applications.DenseNet201}[args.architecture]
    inputs = keras.Input((args.size, args.size, 3))
    x = backbone(include_top=False, weights=None, input_tensor=inputs).output
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    x = keras.layers.BatchNormalization(name="bn_head")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])

    random = np.random.default_rng(0)
    images = random.uniform(-1, 1, (args.batch, args.size, args.size, 3)).astype("float32")
    labels = keras.utils.to_categorical(random.integers(0, 2, args.batch), 2)
    for _ in range(args.warmups):
        model.train_on_batch(images, labels)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.train_on_batch(images, labels)  # returns the loss as a number: the step has finished
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    print(json.dumps({"seconds_per_step": seconds, "images_per_second": args.batch / seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
