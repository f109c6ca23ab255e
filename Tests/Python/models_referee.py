"""Keras as referee for the Swift Models tests (ModelsTests).

  python models_referee.py OUTDIR
      Writes, from Keras 3 (keras.applications, include_top=False, weights=None):
        architectures.json   per backbone at 224x224: model.layers order (name, class, weight shapes in file order,
                             key config values), count_params, output shape
        forward_<case>_{weights,input,output}.npy
                             random weights (all weighted layers in model.layers order, each layer's weights in
                             get_weights() order, flattened and concatenated), a batch of 2 inputs, Keras' inference output
        config_<case>.json   model.to_json() of small models from tf_keras ("tfk") and Keras 3 ("k3"), and
        config_<case>_layers.json  what that model's model.layers and count_params are
  python models_referee.py check-config OUT.json MODEL_CONFIG.json...
      Loads model_configs written by bc-train with tf_keras and with Keras 3 as load_model does and writes what each
      built, per file name: model.layers (name, class, weight shapes) and count_params.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras
import tf_keras

BACKBONES = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
             "densenet121": "DenseNet121", "densenet169": "DenseNet169", "densenet201": "DenseNet201"}
CONFIG_KEYS = ("epsilon", "momentum", "padding", "strides", "use_bias", "kernel_size", "pool_size", "axis", "activation")


def describe(model):
    return {"layers": [{"name": layer.name, "class": layer.__class__.__name__,
                        "weights": [list(map(int, w.shape)) for w in layer.get_weights()],
                        "config": {k: v for k, v in layer.get_config().items() if k in CONFIG_KEYS}}
                       for layer in model.layers],
            "count_params": int(model.count_params())}


def with_head(flavour, base, classes=2, rate=0.5):
    layers = flavour.layers
    x = layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    x = layers.Dropout(rate, name="dropout")(x)
    x = layers.BatchNormalization(name="bn_head")(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return flavour.Model(base.input, x, name=base.name)


def tiny(flavour):
    layers = flavour.layers
    inputs = layers.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    x = layers.BatchNormalization(name="bn_head")(x)
    x = layers.Dense(5, activation="softmax", name="predictions")(x)
    return flavour.Model(inputs, x, name="tiny")


def randomize(model, rng):
    """Weights that keep activations of order 1 through a deep net (He-scaled kernels, BN statistics near what a
    batch would give, residual branches damped), every array different so that a swapped pair would show."""
    for layer in model.layers:
        values = [rng.normal(0, 1, w.shape) for w in layer.get_weights()]
        if isinstance(layer, keras.layers.BatchNormalization):
            n = values[0].shape
            gamma = rng.uniform(0.5, 1.5, n) * (0.3 if layer.name.endswith("_3_bn") else 1)
            values = [gamma, rng.uniform(-0.2, 0.2, n), rng.uniform(-0.2, 0.2, n), rng.uniform(0.5, 2.0, n)]
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            values[0] = values[0] * np.sqrt(2.0 / np.prod(values[0].shape[:-1]))
            if len(values) == 2:
                values[1] = rng.uniform(-0.1, 0.1, values[1].shape)
        layer.set_weights([np.asarray(v, "f4") for v in values])


def write_forward(out, case, model, rng):
    randomize(model, rng)
    x = rng.uniform(-1, 1, (2,) + tuple(model.input.shape[1:])).astype("f4")
    if any(layer.name == "bn_head" for layer in model.layers):
        # Moving statistics of the head BN near the features' own, so that the softmax is not saturated.
        features = np.asarray(keras.Model(model.input, model.get_layer("avg_pool").output)(x, training=False))
        head = model.get_layer("bn_head")
        gamma, beta, _, _ = head.get_weights()
        head.set_weights([gamma, beta, features.mean(0) + rng.uniform(-0.1, 0.1, gamma.shape).astype("f4"),
                          features.var(0) + features.var() + 1e-3])
    weights = np.concatenate([w.ravel() for layer in model.layers for w in layer.get_weights()])
    y = np.asarray(model(x, training=False))
    for what, array in (("weights", weights), ("input", x), ("output", y)):
        np.save(os.path.join(out, f"forward_{case}_{what}.npy"), array.astype("f4"))
    print(f"models referee: forward_{case} output {y.shape}, |y| mean {np.abs(y).mean():.3g}, max {np.abs(y).max():.3g}")


def reference(out):
    os.makedirs(out, exist_ok=True)
    architectures = {}
    for key, constructor in BACKBONES.items():
        model = getattr(keras.applications, constructor)(include_top=False, weights=None, input_shape=(224, 224, 3))
        architectures[key] = describe(model) | {"output_shape": list(model.output.shape[1:])}
        keras.backend.clear_session()
    with open(os.path.join(out, "architectures.json"), "w") as f:
        json.dump(architectures, f)

    rng = np.random.default_rng(2024)
    write_forward(out, "resnet50", keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3)), rng)
    write_forward(out, "densenet121", keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(64, 64, 3)), rng)
    write_forward(out, "densenet201", keras.applications.DenseNet201(include_top=False, weights=None, input_shape=(64, 64, 3)), rng)
    resnet_head_k3 = with_head(keras, keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3)))
    write_forward(out, "resnet50_head_k3", resnet_head_k3, rng)

    configs = {
        "tiny_tfk": tiny(tf_keras), "tiny_k3": tiny(keras),
        "resnet50_head_tfk": with_head(tf_keras, tf_keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))),
        "resnet50_head_k3": resnet_head_k3,
        "densenet121_tfk": tf_keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(64, 64, 3)),
    }
    for case, model in configs.items():
        with open(os.path.join(out, f"config_{case}.json"), "w") as f:
            f.write(model.to_json())
        with open(os.path.join(out, f"config_{case}_layers.json"), "w") as f:
            json.dump(describe(model), f)
    print("models referee: wrote", len(os.listdir(out)), "files to", out)


def check_configs(out_path, config_paths):
    # The deserializers each Keras uses for the model_config of an .h5 file (load_model): tf_keras' model_from_json,
    # and Keras 3's legacy one (its model_from_json expects Keras 3 serialization with "module" keys).
    from keras.src.legacy.saving import saving_utils as keras3_legacy
    result = {}
    for path in config_paths:
        text = open(path).read()
        result[os.path.basename(path)] = {"tfk": describe(tf_keras.models.model_from_json(text)),
                                          "k3": describe(keras3_legacy.model_from_config(json.loads(text)))}
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    if sys.argv[1] == "check-config":
        check_configs(sys.argv[2], sys.argv[3:])
    else:
        reference(sys.argv[1])
