"""Runs Keras' ReduceLROnPlateau and EarlyStopping on fixed metric sequences; prints JSON for CallbackTests."""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras

sequences = {
    "noisy_loss": [1.0, 0.8, 0.81, 0.79, 0.80, 0.80, 0.78, 0.90, 0.95, 0.77, 0.77, 0.77, 0.77, 0.6],
    "accuracy": [0.5, 0.6, 0.6, 0.61, 0.6, 0.59, 0.7, 0.7, 0.7, 0.7, 0.71],
}
out = {}
for name, values in sequences.items():
    monitor = "val_accuracy" if name == "accuracy" else "val_loss"
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    mode = "max" if name == "accuracy" else "min"
    reduce = keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=2, min_delta=0.005, cooldown=1, min_lr=0.02)
    stop = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=3, min_delta=0.001)
    for callback in (reduce, stop):
        callback.set_model(model)
        callback.on_train_begin()
    rates, stops = [], []
    for epoch, value in enumerate(values):
        reduce.on_epoch_end(epoch, {monitor: value})
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        model.stop_training = False
        stop.on_epoch_end(epoch, {monitor: value})
        stops.append(bool(model.stop_training))
    out[name] = {"monitor": monitor, "values": values, "learning_rates": rates, "stop": stops}
json.dump(out, sys.stdout)
