"""Keras as the referee for TrainingTests.

  python training_referee.py notop OUT.h5            ResNet50 notop weights (32x32, seeded), written by tf_keras
  python training_referee.py predict MODEL.h5 X.npy OUT_PREFIX
                                                     loads a bc-train checkpoint in tf_keras and Keras 3 and writes
                                                     OUT_PREFIX_tfk.npy and OUT_PREFIX_k3.npy with their predictions
  python training_referee.py predict-files MODEL.h5 caffe|torch OUT.json PNG...
                                                     what a Keras user does with a checkpoint and PNG files:
                                                     tf.io.decode_png, tf.image.resize (bilinear), the
                                                     keras.applications preprocess_input, predict in tf_keras
                                                     and Keras 3; OUT.json maps file -> {"tfk": [...], "k3": [...]}
  python training_referee.py train-steps MODEL.h5 SPEC.json OUT_PREFIX [THREADS]
                                                     a Keras user training the same model on the same batches:
                                                     load_model in tf_keras and Keras 3; per phase of SPEC, the
                                                     phase's layers frozen (trainable = False) and the model
                                                     compiled with the phase's optimizer and categorical
                                                     cross-entropy, then train_on_batch on the phase's batches of
                                                     SPEC (with its class_weight); writes OUT_PREFIX_{tfk,k3}.json
                                                     (the losses), OUT_PREFIX_{tfk,k3}_step1.h5 (the model after
                                                     the first step) and OUT_PREFIX_{tfk,k3}.h5 (after the last);
                                                     on THREADS TensorFlow threads when given (its default else)
  python training_referee.py replay-plan PLAN_DIR OUT_PREFIX
                                                     a Keras user replaying what `bc-train --write-plan` wrote:
                                                     initial.h5 compiled with its training_config's optimizer,
                                                     the files of every step read as the plan resizes them
                                                     (bilinear: tf.io.decode_png and tf.image.resize; nearest:
                                                     flow_from_directory's load_img), each sample warped with
                                                     ImageDataGenerator.apply_transform and the plan's parameters
                                                     for it, then the architecture's preprocess_input; the
                                                     dropout layer's random mask replaced by the plan's mask for
                                                     each sample (the model trains with the masks as a second
                                                     input, multiplied in where the Dropout layer was); the
                                                     backbone frozen for the
                                                     plan's first epochs and the model compiled again when it is
                                                     unfrozen (at the plan's fine-tuning rate); writes
                                                     OUT_PREFIX_{tfk,k3}.json (per-step and per-epoch losses,
                                                     epoch losses weighted by batch size as bc-train's history) and
                                                     OUT_PREFIX_{tfk,k3}_epochN.h5 (the model after each epoch)

Keras trains with run_eagerly=True: the same train_step, executed op by op instead of traced into a graph. Tracing a
from-scratch ResNet's or DenseNet's training step costs 15-40 s on 2 cores (Keras 3 traces it twice when the
optimizer creates its slots), far more than the few steps the tests take; the graph would only add TensorFlow's op
fusions, which round otherwise, as any other thread count does.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

command = sys.argv[1]


def make_optimizer(library, options):
    if options["name"] == "adam":
        return library.optimizers.Adam(learning_rate=options["learning_rate"], beta_1=options["beta_1"],
                                       beta_2=options["beta_2"], epsilon=options["epsilon"])
    return library.optimizers.SGD(learning_rate=options["learning_rate"], momentum=options["momentum"],
                                  nesterov=options["nesterov"])


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
elif command == "predict-files":
    import keras
    import tensorflow as tf
    import tf_keras
    model_path, mode, out, files = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    models = {"tfk": tf_keras.models.load_model(model_path), "k3": keras.models.load_model(model_path, compile=False)}
    height, width = models["tfk"].input_shape[1:3]
    images = [tf.image.resize(tf.io.decode_png(tf.io.read_file(f), channels=3), (height, width), method="bilinear",
                              antialias=False).numpy() for f in files]
    preprocess = tf_keras.applications.resnet50.preprocess_input if mode == "caffe" \
        else tf_keras.applications.densenet.preprocess_input
    x = preprocess(np.stack(images).astype(np.float32))
    predictions = {name: model.predict(x, verbose=0).astype(float) for name, model in models.items()}
    with open(out, "w") as f:
        json.dump({file: {name: p[i].tolist() for name, p in predictions.items()} for i, file in enumerate(files)}, f)
elif command == "train-steps":
    import keras
    import tensorflow as tf
    import tf_keras
    model_path, out = sys.argv[2], sys.argv[4]
    if len(sys.argv) > 5:
        tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[5]))
    with open(sys.argv[3]) as f:
        spec = json.load(f)
    class_weight = dict(enumerate(spec["class_weight"])) if spec.get("class_weight") else None
    for flavour, library in (("tfk", tf_keras), ("k3", keras)):
        model = library.models.load_model(model_path, compile=False)
        batches = iter(spec["batches"])
        losses = []
        for phase in spec["phases"]:
            for layer in model.layers:
                layer.trainable = layer.name not in phase["frozen"]
            model.compile(optimizer=make_optimizer(library, phase["optimizer"]), loss="categorical_crossentropy", run_eagerly=True)
            for _ in range(phase["steps"]):
                x, y = next(batches)
                losses.append(float(model.train_on_batch(np.load(x), np.load(y), class_weight=class_weight)))
                if len(losses) == 1:
                    model.save(f"{out}_{flavour}_step1.h5")
        with open(f"{out}_{flavour}.json", "w") as f:
            json.dump(losses, f)
        model.save(f"{out}_{flavour}.h5")
elif command == "replay-plan":
    import h5py
    import keras
    import tensorflow as tf
    import tf_keras
    plan_dir, out = sys.argv[2], sys.argv[3]
    with open(os.path.join(plan_dir, "plan.json")) as f:
        plan = json.load(f)
    model_path = os.path.join(plan_dir, "initial.h5")
    with h5py.File(model_path, "r") as f:
        training_config = json.loads(f.attrs["training_config"])
    optimizer_config = training_config["optimizer_config"]
    initial_options = dict(optimizer_config["config"], name=optimizer_config["class_name"].lower())
    class_weight = dict(enumerate(plan["class_weight"])) if plan.get("class_weight") else None
    if plan["augmentation"] and not plan["keras_transforms"]:
        sys.exit("replay-plan: the plan's augmentation has options Keras' apply_transform lacks (random_rotation_90, colour)")
    if plan["augmentation"] and plan["resize"] != "nearest":
        sys.exit("replay-plan: augmented plans replay with data.resize nearest (flow_from_directory's path); bc-train "
                 "composes bilinear resizing and the warp into one resampling, Keras does two")
    if len(plan["dropout_layers"]) > 1:
        sys.exit("replay-plan: one dropout layer at most (the report's head)")
    preprocess = {"caffe": tf_keras.applications.resnet50.preprocess_input,
                  "torch": tf_keras.applications.densenet.preprocess_input}[plan["preprocessing"]]
    height, width = plan["input_size"]
    generator = tf_keras.preprocessing.image.ImageDataGenerator(fill_mode=plan["fill_mode"], cval=plan["cval"])
    keras_parameters = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "flip_vertical")

    def read(step):
        if plan["resize"] == "nearest":
            images = [tf_keras.utils.img_to_array(tf_keras.utils.load_img(f, target_size=(height, width), interpolation="nearest"),
                                                  dtype="float32") for f in step["files"]]
        else:
            images = [tf.image.resize(tf.io.decode_png(tf.io.read_file(f), channels=3), (height, width), method="bilinear",
                                      antialias=False).numpy() for f in step["files"]]
        if step.get("transforms"):
            images = [generator.apply_transform(x, {key: t[key] for key in keras_parameters})
                      for x, t in zip(images, step["transforms"])]
        return preprocess(np.stack(images).astype(np.float32))

    def masks(step):
        layer = plan["dropout_layers"][0]
        keep = np.float32(1) / (np.float32(1) - np.float32(layer["rate"]))
        bits = [np.unpackbits(np.frombuffer(bytes.fromhex(h), np.uint8))[:layer["features"]]
                for h in step["dropout_masks"][layer["name"]]]
        return np.stack(bits).astype(np.float32) * keep

    def with_masks(library, model):
        """The model with the dropout layer's mask as a second input, multiplied in where the layer was (the layers
        after it are the same objects, so training this model trains `model`)."""
        if not plan["dropout_layers"]:
            return model
        dropout = model.get_layer(plan["dropout_layers"][0]["name"])
        mask = library.Input(shape=(plan["dropout_layers"][0]["features"],), name="dropout_mask")
        y = library.layers.Multiply(name="by_dropout_mask")([dropout.input, mask])
        for layer in model.layers[model.layers.index(dropout) + 1:]:
            y = layer(y)
        return library.Model([model.input, mask], y)

    def one_hot(labels):
        return np.eye(len(plan["class_names"]), dtype=np.float32)[labels]

    for flavour, library in (("tfk", tf_keras), ("k3", keras)):
        model = library.models.load_model(model_path, compile=False)
        trainer = with_masks(library, model)
        options = dict(initial_options)
        step_losses, epoch_losses = [], []
        for epoch, steps in enumerate(plan["epochs"]):
            frozen = epoch < plan["freeze_backbone_epochs"]
            if epoch == 0 or epoch == plan["freeze_backbone_epochs"]:
                for layer in model.layers:
                    layer.trainable = not frozen or layer.name in plan["head_layers"]
                if epoch > 0 and plan["fine_tune_learning_rate"] is not None:
                    options["learning_rate"] = plan["fine_tune_learning_rate"]
                trainer.compile(optimizer=make_optimizer(library, options), loss="categorical_crossentropy", run_eagerly=True)
            total, count = 0.0, 0
            for step in steps:
                x = [read(step), masks(step)] if plan["dropout_layers"] else read(step)
                loss = float(trainer.train_on_batch(x, one_hot(step["labels"]), class_weight=class_weight))
                step_losses.append(loss)
                total += loss * len(step["files"])
                count += len(step["files"])
            epoch_losses.append(total / count)
            model.save(f"{out}_{flavour}_epoch{epoch + 1}.h5")
        with open(f"{out}_{flavour}.json", "w") as f:
            json.dump({"step_losses": step_losses, "epoch_losses": epoch_losses}, f)
else:
    sys.exit(f"unknown command {command}")
