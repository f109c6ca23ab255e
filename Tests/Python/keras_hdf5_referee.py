"""Real Keras as the referee for bc-train's Keras HDF5 reader and writer (KerasHDF5Tests).

Usage:
  python keras_hdf5_referee.py export OUTDIR ARCH...
      Builds keras.applications ARCH (resnet50, densenet121, densenet201; include_top=False, weights=None, 64x64)
      in Keras 3 and tf_keras with the same seeded random weights (BN statistics included), and writes
        tfk_ARCH_w.h5         tf_keras save_weights (DenseNet stem named conv1/conv, conv1/bn)
        k3_ARCH_m.h5          Keras 3 model.save (legacy full-model .h5, Keras 3 model_config)
        k3_ARCH.weights.h5    Keras 3 save_weights (new format)
        x.npy, ARCH_features.npy   inputs and Keras 3's backbone outputs in inference mode
        tfk_tiny_legacyadam_pred.npy  tf_keras' predictions of fixtures/tfk_tiny_m_legacyadam.h5 on tiny_X.npy
  python keras_hdf5_referee.py head-weights OUTDIR ARCH...
      Builds keras.applications ARCH (include_top=False, weights=None, 32x32) + the report's head
      (GlobalAveragePooling2D, Dropout, BatchNormalization, Dense softmax, 2 classes) in Keras 3 and writes its
      save_weights file OUTDIR/k3_ARCH_head.weights.h5 (class-keyed layers, no layer order: bc-inspect must still
      name the backbone).
  python keras_hdf5_referee.py check DIR FLAVOUR ARCH...
      FLAVOUR is tf_keras or keras (the test runs one process of each at once). Opens bc-train's DIR/bc_ARCH_head.h5
      (full model + bc_train_state) with FLAVOUR's models.load_model, and load_weights (topological and by_name)
      into an independently built keras.applications ARCH + head model; compares predictions on DIR/x.npy with
      DIR/bc_ARCH_pred.npy; runs one fit() step on the loaded model; reads DIR/chunks.h5 with FLAVOUR's
      load_attributes_from_hdf5_group. Writes DIR/results-FLAVOUR.json: {"ARCH/FLAVOUR how": max relative
      difference, loss, or the restored learning rate}.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import h5py
import numpy as np
import tensorflow as tf
import keras
import tf_keras

APPS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "densenet121": "DenseNet121", "densenet169": "DenseNet169",
        "densenet201": "DenseNet201"}
SHAPE = (64, 64, 3)


def relative_difference(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))))


def randomize(model, x, seed):
    """Seeded random weights whose BN statistics fit the data: one training-mode pass with momentum 0 sets every
    moving mean/variance to its batch statistics on x, which are then perturbed, and gamma is then scaled by 0.4
    so each layer damps its input. Without that, a random ResNet amplifies float32 round-off so much that even
    tf_keras and Keras 3 on the same TensorFlow differ by 2e-3 (with it: 7e-7)."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        shape, name = tuple(variable.shape), variable.name.split("/")[-1].split(":")[0]
        if name == "kernel":
            values.append(rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape))
        elif name == "gamma":
            values.append(rng.uniform(0.5, 1.5, shape))
        elif name == "moving_variance":
            values.append(rng.uniform(0.5, 1.5, shape))
        else:  # bias, beta, moving_mean
            values.append(rng.normal(0, 0.1, shape))
    model.set_weights([v.astype("f4") for v in values])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(x, training=True)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
            layer.moving_mean.assign(mean + rng.normal(0, 0.1, mean.shape).astype("f4") * np.sqrt(variance))
            # A floor: channels that are (nearly) constant on x would otherwise amplify round-off 300-fold.
            layer.moving_variance.assign(np.maximum(variance, 0.1) * rng.uniform(0.8, 1.25, variance.shape).astype("f4"))
            layer.momentum = 0.99
            layer.gamma.assign(layer.gamma.numpy() * 0.4)


def export(out, archs):
    os.makedirs(out, exist_ok=True)
    x = np.random.default_rng(2024).uniform(0, 1, (2,) + SHAPE).astype("f4")
    np.save(os.path.join(out, "x.npy"), x)
    for arch in archs:
        k3 = getattr(keras.applications, APPS[arch])(include_top=False, weights=None, input_shape=SHAPE)
        tfk = getattr(tf_keras.applications, APPS[arch])(include_top=False, weights=None, input_shape=SHAPE)
        randomize(k3, x, seed=len(arch))
        tfk.set_weights(k3.get_weights())
        features = k3(x, training=False).numpy()
        assert relative_difference(tfk(x, training=False).numpy(), features) < 1e-4
        np.save(os.path.join(out, f"{arch}_features.npy"), features)
        tfk.save_weights(os.path.join(out, f"tfk_{arch}_w.h5"))
        k3.save(os.path.join(out, f"k3_{arch}_m.h5"))
        k3.save_weights(os.path.join(out, f"k3_{arch}.weights.h5"))
    fixtures = os.path.join(os.path.dirname(__file__), "../Fixtures/keras-reference/fixtures")
    tiny_x = np.load(os.path.join(fixtures, "tiny_X.npy"))
    legacy = tf_keras.models.load_model(os.path.join(fixtures, "tfk_tiny_m_legacyadam.h5"))
    np.save(os.path.join(out, "tfk_tiny_legacyadam_pred.npy"), legacy(tiny_x, training=False).numpy())


def head_weights(out, archs):
    os.makedirs(out, exist_ok=True)
    for arch in archs:
        base = getattr(keras.applications, APPS[arch])(include_top=False, weights=None, input_shape=(32, 32, 3))
        y = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
        y = keras.layers.Dropout(0.5, name="dropout")(y)
        y = keras.layers.BatchNormalization(name="bn_head")(y)
        y = keras.layers.Dense(2, activation="softmax", name="predictions")(y)
        keras.Model(base.input, y).save_weights(os.path.join(out, f"k3_{arch}_head.weights.h5"))


def head_config(path):
    """The head layers (after the backbone) from the file's model_config, to rebuild them independently."""
    config = json.loads(h5py.File(path, "r").attrs["model_config"])
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    return [layers[name]["config"] for name in ("avg_pool", "dropout", "bn_head", "predictions")]


def independent_model(flavour, arch, path):
    """keras.applications backbone + the report head, built by Keras itself (not from the file's config)."""
    gap, dropout, bn, dense = head_config(path)
    lib = keras if flavour == "keras" else tf_keras
    base = getattr(lib.applications, APPS[arch])(include_top=False, weights=None, input_shape=SHAPE)
    if flavour == "tf_keras":  # tf_keras names DenseNet's stem conv1/conv; by_name needs Keras 3's conv1_conv
        for layer in base.layers:
            layer._name = layer.name.replace("/", "_")
    y = lib.layers.GlobalAveragePooling2D(name=gap["name"])(base.output)
    y = lib.layers.Dropout(dropout["rate"], name=dropout["name"])(y)
    y = lib.layers.BatchNormalization(epsilon=bn["epsilon"], momentum=bn["momentum"], name=bn["name"])(y)
    y = lib.layers.Dense(dense["units"], activation="softmax", name=dense["name"])(y)
    return lib.Model(base.input, y)


def check(folder, flavour, archs):
    lib = {"tf_keras": tf_keras, "keras": keras}[flavour]
    results = {}
    x = np.load(os.path.join(folder, "x.npy"))
    for arch in archs:
        path = os.path.join(folder, f"bc_{arch}_head.h5")
        expected = np.load(os.path.join(folder, f"bc_{arch}_pred.npy"))
        labels = np.eye(expected.shape[1], dtype="f4")[np.arange(len(x)) % expected.shape[1]]
        model = lib.models.load_model(path)
        results[f"{arch}/{flavour} load_model"] = relative_difference(model(x, training=False).numpy(), expected)
        model.run_eagerly = True  # see training_referee.py
        history = model.fit(x, labels, batch_size=len(x), epochs=1, verbose=0)
        results[f"{arch}/{flavour} fit loss"] = float(history.history["loss"][0])
        results[f"{arch}/{flavour} learning_rate"] = float(np.asarray(model.optimizer.learning_rate))
        model = independent_model(flavour, arch, path)
        initial = model.get_weights()
        for how, source, by_name in (("topological", path, False), ("by_name", path, True),
                                     ("weights-only", os.path.join(folder, f"bc_{arch}_head_w.h5"), False)):
            model.set_weights(initial)  # so that a load that silently skips layers cannot pass
            model.load_weights(source, by_name=by_name)
            results[f"{arch}/{flavour} load_weights {how}"] = relative_difference(model(x, training=False).numpy(), expected)
    if flavour == "keras":
        from keras.src.legacy.saving.legacy_h5_format import load_attributes_from_hdf5_group as read_names
    else:
        from tf_keras.src.saving.legacy.hdf5_format import load_attributes_from_hdf5_group as read_names
    with h5py.File(os.path.join(folder, "chunks.h5"), "r") as chunks:
        results[f"chunks/{flavour}"] = float(read_names(chunks, "layer_names") == json.loads(chunks.attrs["expected"]))
    with open(os.path.join(folder, f"results-{flavour}.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "head-weights":
        head_weights(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
