"""Keras as the referee for bc-train's Grad-CAM (ServingTests/GradCAMRefereeTests).

Usage:
  python gradcam_referee.py DIR ARCH...
      Reads DIR/image_*.png (RGB, at the models' input size). For each ARCH (resnet50, densenet121):
      builds keras.applications ARCH (include_top=False, weights=None) + the report's head (GlobalAveragePooling2D,
      Dropout, BatchNormalization, Dense softmax, 2 classes) in Keras 3 at the images' size, with seeded random
      weights whose batch-norm statistics fit the images, and writes
        k3_ARCH.h5              model.save (legacy full-model .h5)
        ARCH_maps.npy           Grad-CAM maps, (images, classes, height, width): the output of the last layer with a
                                height and width, weighted per channel by the spatial mean of the gradient of the
                                class's pre-softmax score (tf.GradientTape, inference mode), ReLU, divided by the
                                map's maximum (zeros when nothing is positive), as in Keras' Grad-CAM example
        ARCH_peaks.npy          each map's maximum before that division, (images, classes)
        ARCH_layer.txt          the layer's name
"""
import glob
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import keras

from keras_hdf5_referee import randomize

APPS = {"resnet50": (keras.applications.ResNet50, keras.applications.resnet50.preprocess_input),
        "densenet121": (keras.applications.DenseNet121, keras.applications.densenet.preprocess_input)}


def model_with_head(arch, shape):
    base = APPS[arch][0](include_top=False, weights=None, input_shape=shape)
    y = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    y = keras.layers.Dropout(0.5, name="dropout")(y)
    y = keras.layers.BatchNormalization(name="bn_head")(y)
    y = keras.layers.Dense(2, activation="softmax", name="predictions")(y)
    return keras.Model(base.input, y)


def grad_cam(model, x, class_index):
    layer = [l for l in model.layers if len(l.output.shape) == 4][-1]
    dense = model.get_layer("predictions")
    inner = keras.Model(model.inputs, [layer.output, dense.input])
    with tf.GradientTape() as tape:
        activation, features = inner(x, training=False)
        score = (tf.matmul(features, dense.kernel) + dense.bias)[:, class_index]
    gradient = tape.gradient(score, activation)
    weights = tf.reduce_mean(gradient, axis=(1, 2))
    cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", activation, weights)).numpy()
    peaks = cam.max(axis=(1, 2))
    maps = np.where(peaks[:, None, None] > 0, cam / np.maximum(peaks, 1e-30)[:, None, None], 0)
    return layer.name, maps, peaks


def main(folder, archs):
    keras.utils.set_random_seed(11)  # randomize() runs the model once in training mode: dropout draws masks
    images = np.stack([tf.io.decode_png(tf.io.read_file(path), channels=3).numpy()
                       for path in sorted(glob.glob(os.path.join(folder, "image_*.png")))]).astype("f4")
    for arch in archs:
        x = APPS[arch][1](images.copy())
        model = model_with_head(arch, images.shape[1:])
        randomize(model, x, seed=len(arch) + 7)
        model.save(os.path.join(folder, f"k3_{arch}.h5"))
        results = [grad_cam(model, x, c) for c in range(2)]
        np.save(os.path.join(folder, f"{arch}_maps.npy"), np.stack([maps for _, maps, _ in results], axis=1).astype("f4"))
        np.save(os.path.join(folder, f"{arch}_peaks.npy"), np.stack([peaks for _, _, peaks in results], axis=1).astype("f4"))
        with open(os.path.join(folder, f"{arch}_layer.txt"), "w") as f:
            f.write(results[0][0])
        print(arch, results[0][0], "peaks", np.stack([peaks for _, _, peaks in results], axis=1).tolist())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
