"""Keras side of Launch/bench-learning.sh: trains keras.applications ResNet50 (weights=None) with bc-train's head
(GlobalAveragePooling2D, Dropout, BatchNormalization, Dense softmax) from scratch on the split a bc-train run used
(its split.json), with that run's recipe (Launch/quickstart.json): Adam, balanced class weights, horizontal and
vertical flips and a random multiple of 90 degrees per image, `caffe` preprocessing, the same epochs and batch size.
Prints one JSON object: per-epoch val_accuracy and val_loss, and their best and last values."""
import argparse
import json
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="the dataset root the split's paths are relative to")
    parser.add_argument("--split", required=True, help="a bc-train run's split.json")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.update(OMP_NUM_THREADS=str(args.threads), TF_NUM_INTRAOP_THREADS=str(args.threads),
                      TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    import keras
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)

    split = json.load(open(args.split))
    classes = split["classNames"]

    def load(part):
        paths = split["parts"][part]
        # The class is the folder under breast/ in the BreakHis tree (benign or malignant), in classNames' order.
        labels = np.array([classes.index(path.split("/")[3]) for path in paths])
        images = np.stack([tf.image.resize(tf.io.decode_png(tf.io.read_file(os.path.join(args.data, path)), channels=3),
                                           (args.size, args.size)).numpy() for path in paths])
        return keras.applications.resnet50.preprocess_input(images.astype("float32")), labels

    train_x, train_y = load("train")
    val_x, val_y = load("validation")
    counts = np.bincount(train_y, minlength=len(classes))
    class_weight = {c: len(train_y) / (len(classes) * counts[c]) for c in range(len(classes))}

    inputs = keras.Input((args.size, args.size, 3))
    x = keras.applications.ResNet50(include_top=False, weights=None, input_tensor=inputs).output
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(args.dropout, name="dropout")(x)
    x = keras.layers.BatchNormalization(name="bn_head")(x)
    outputs = keras.layers.Dense(len(classes), activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])

    random = np.random.default_rng(args.seed)

    def augmented(images):
        out = images.copy()
        for i in range(len(out)):
            if random.random() < 0.5:
                out[i] = out[i][:, ::-1]
            if random.random() < 0.5:
                out[i] = out[i][::-1]
            out[i] = np.rot90(out[i], random.integers(0, 4))
        return out

    history = {"val_accuracy": [], "val_loss": []}
    one_hot = keras.utils.to_categorical
    for _ in range(args.epochs):
        order = random.permutation(len(train_x))
        for start in range(0, len(order), args.batch):
            batch = order[start:start + args.batch]
            model.train_on_batch(augmented(train_x[batch]), one_hot(train_y[batch], len(classes)),
                                 class_weight=class_weight)
        loss, accuracy = model.evaluate(val_x, one_hot(val_y, len(classes)), batch_size=64, verbose=0)
        history["val_accuracy"].append(float(accuracy))
        history["val_loss"].append(float(loss))
    print(json.dumps({**history, "best_val_accuracy": max(history["val_accuracy"]),
                      "last_val_accuracy": history["val_accuracy"][-1], "best_val_loss": min(history["val_loss"]),
                      "last_val_loss": history["val_loss"][-1]}))


if __name__ == "__main__":
    main()
