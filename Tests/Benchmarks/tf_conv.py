"""TensorFlow peer of `bc-bench conv`: times one Keras-style Conv2D (NHWC input, HWIO kernel, bias) forward,
backward (gradients of input, kernel and bias) and both, and prints one JSON object of median milliseconds."""
import argparse
import json
import os
import statistics
import time


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in [("batch", 16), ("height", 56), ("width", 56), ("channels", 64), ("filters", 64),
                          ("kernel", 3), ("stride", 1), ("threads", 1), ("warmups", 2), ("repeats", 5)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--padding", choices=["same", "valid"], default="same")
    return parser.parse_args()


def median_milliseconds(function, arguments, warmups, repeats):
    for _ in range(warmups):
        function(*arguments)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*arguments)  # eager execution on the CPU is synchronous: the results exist on return
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    args = parse_arguments()
    # OpenMP and TensorFlow read these when they load, so they must be set before the import.
    os.environ.update(OMP_NUM_THREADS=str(args.threads), TF_NUM_INTRAOP_THREADS=str(args.threads),
                      TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    def convolve(x, kernel, bias):
        y = tf.nn.conv2d(x, kernel, strides=args.stride, padding=args.padding.upper())
        return tf.nn.bias_add(y, bias)

    def gradients(x, kernel, bias, output_gradient):
        """Returns (y, dx, dkernel, dbias) with the gradient of y seeded to output_gradient
        (the same as differentiating reduce_sum(y * output_gradient), without the extra multiply)."""
        with tf.GradientTape() as tape:
            tape.watch([x, kernel, bias])
            y = convolve(x, kernel, bias)
        return (y, *tape.gradient(y, [x, kernel, bias], output_gradients=output_gradient))

    forward = tf.function(convolve, jit_compile=False)
    # Returning only the gradients lets TensorFlow prune the forward convolution, whose output they do not use.
    backward = tf.function(lambda *tensors: gradients(*tensors)[1:], jit_compile=False)
    forward_backward = tf.function(gradients, jit_compile=False)

    random = np.random.default_rng(0)
    def uniform(*shape):
        return tf.constant(random.uniform(-0.5, 0.5, shape).astype(np.float32))
    x = uniform(args.batch, args.height, args.width, args.channels)
    kernel = uniform(args.kernel, args.kernel, args.channels, args.filters)
    bias = uniform(args.filters)
    output_gradient = uniform(*forward(x, kernel, bias).shape)

    def time_it(function, *arguments):
        return median_milliseconds(function, arguments, args.warmups, args.repeats)
    print(json.dumps({
        "tensorflow": tf.__version__,
        "forward_ms": time_it(forward, x, kernel, bias),
        "backward_ms": time_it(backward, x, kernel, bias, output_gradient),
        "forward_backward_ms": time_it(forward_backward, x, kernel, bias, output_gradient),
    }))


if __name__ == "__main__":
    main()
