"""Keras peer of `bc-bench-images`: images per second of ImageDataGenerator.flow_from_directory (read, decode,
PIL nearest resize to 224x224, one random warp, flips, ResNet preprocessing) with N fetching threads.
Prints one JSON object: {"images_per_second": median}."""
import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import tf_keras
    from keras.applications.resnet import preprocess_input

    generator = tf_keras.preprocessing.image.ImageDataGenerator(
        rotation_range=20, width_shift_range=0.1, height_shift_range=0.1, shear_range=10, zoom_range=0.2,
        horizontal_flip=True, vertical_flip=True, fill_mode="nearest", preprocessing_function=preprocess_input)
    # Batches of one image, so N threads split the images as evenly as ours do.
    flow = generator.flow_from_directory(args.data, target_size=(224, 224), batch_size=1, class_mode="binary",
                                         shuffle=False, seed=0)
    images = flow.n * args.passes

    def one_run():
        with ThreadPoolExecutor(args.threads) as pool:
            for _ in pool.map(lambda index: flow[index % flow.n], range(images)):
                pass

    one_run()  # warm-up: imports, first-call costs
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        one_run()
        rates.append(images / (time.perf_counter() - start))
    print(json.dumps({"images_per_second": statistics.median(rates)}))


if __name__ == "__main__":
    main()
