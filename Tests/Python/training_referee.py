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
"""
import json
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
else:
    sys.exit(f"unknown command {command}")
