"""Computes reference results with TensorFlow/Keras for the Swift tests (KerasRefereeTests).

Usage: python keras_referee.py OUTDIR. Writes inputs and Keras' outputs as .npy files named CASE_WHAT.npy.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import keras

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1234)


def save(name, array):
    np.save(os.path.join(out, name + ".npy"), np.asarray(array, dtype=np.float32))


def gradients(fn, variables, probe):
    with tf.GradientTape() as tape:
        tape.watch(variables)
        y = fn()
        objective = tf.reduce_sum(y * probe)
    return y, tape.gradient(objective, variables)


# Conv2D with TensorFlow's asymmetric 'same' padding (3x3, stride 2 on even input), forward and all gradients.
x = tf.constant(rng.uniform(-1, 1, (2, 8, 7, 3)), tf.float32)
k = tf.constant(rng.uniform(-1, 1, (3, 3, 3, 5)), tf.float32)
b = tf.constant(rng.uniform(-1, 1, (5,)), tf.float32)
probe = tf.constant(rng.uniform(-1, 1, (2, 4, 4, 5)), tf.float32)
y, (dx, dk, db) = gradients(lambda: tf.nn.bias_add(tf.nn.conv2d(x, k, 2, "SAME"), b), [x, k, b], probe)
for name, value in dict(x=x, kernel=k, bias=b, probe=probe, y=y, dx=dx, dkernel=dk, dbias=db).items():
    save("conv_" + name, value)

# Max and average pooling, 3x3 stride 2 'same' on odd input (average excludes padding), forward and gradient.
x = tf.constant(rng.uniform(-1, 1, (2, 7, 9, 4)), tf.float32)
probe = tf.constant(rng.uniform(-1, 1, (2, 4, 5, 4)), tf.float32)
save("pool_x", x)
save("pool_probe", probe)
for kind, layer in (("max", keras.layers.MaxPooling2D(3, 2, "same")), ("avg", keras.layers.AveragePooling2D(3, 2, "same"))):
    y, (dx,) = gradients(lambda: layer(x), [x], probe)
    save(f"pool_{kind}_y", y)
    save(f"pool_{kind}_dx", dx)

# BatchNormalization in training mode: output, gradients, and the moving statistics after one step.
bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1.001e-5)
x = tf.constant(rng.uniform(-2, 3, (4, 3, 3, 6)), tf.float32)
bn.build(x.shape)
bn.gamma.assign(rng.uniform(0.5, 1.5, 6).astype("f4"))
bn.beta.assign(rng.uniform(-0.5, 0.5, 6).astype("f4"))
probe = tf.constant(rng.uniform(-1, 1, x.shape), tf.float32)
save("bn_gamma", bn.gamma.numpy())
save("bn_beta", bn.beta.numpy())
y, (dx, dgamma, dbeta) = gradients(lambda: bn(x, training=True), [x, bn.gamma.value, bn.beta.value], probe)
for name, value in dict(x=x, probe=probe, y=y, dx=dx, dgamma=dgamma, dbeta=dbeta,
                        moving_mean=bn.moving_mean, moving_variance=bn.moving_variance).items():
    save("bn_" + name, value)

# Dense softmax + categorical cross-entropy with class weights (Keras' class_weight = per-sample weights,
# loss reduced as sum over batch size), gradients of the loss.
x = tf.constant(rng.uniform(-1, 1, (6, 4)), tf.float32)
dense = keras.layers.Dense(3, activation="softmax")
dense.build(x.shape)
labels = np.array([0, 2, 1, 1, 0, 2])
class_weights = np.array([1.0, 3.0, 0.5], np.float32)
loss_fn = keras.losses.CategoricalCrossentropy()
with tf.GradientTape() as tape:
    tape.watch(x)
    p = dense(x)
    loss = loss_fn(tf.one_hot(labels, 3), p, sample_weight=class_weights[labels])
dx, dkernel, dbias = tape.gradient(loss, [x, dense.kernel.value, dense.bias.value])
for name, value in dict(x=x, kernel=dense.kernel, bias=dense.bias, labels=labels, class_weights=class_weights,
                        probabilities=p, loss=[loss], dx=dx, dkernel=dkernel, dbias=dbias).items():
    save("ce_" + name, value)

# Adam and SGD (Nesterov momentum) on a fixed sequence of gradients.
for name, optimizer in (("adam", keras.optimizers.Adam(0.01, beta_1=0.8, beta_2=0.95)),
                        ("sgd", keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True))):
    w = keras.Variable(rng.uniform(-1, 1, (5,)).astype("f4"))
    save(f"{name}_initial", w.numpy())
    grads = rng.uniform(-1, 1, (7, 5)).astype("f4")
    save(f"{name}_gradients", grads)
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), w)])
    save(f"{name}_final", w.numpy())
print("keras referee: wrote", len(os.listdir(out)), "files to", out)
