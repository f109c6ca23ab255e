"""Reference results for the Swift image tests (ImagesTests), computed by TensorFlow, Keras, PIL and scipy.

Usage: python images_referee.py OUTDIR SAMPLEDIR
Writes into OUTDIR:
  png/*.png            PNGs of every color type, bit depth and interlace, written by a plain encoder below
                       (and by PIL) so every variant is covered; png/*.npy is tf.io.decode_png(channels=3).
  huge.png             a valid header declaring 100000x100000 pixels.
  no_iend.png + .json  the first real sample without its IEND chunk, and whether tf.io.decode_png accepts it.
  sample_*.npy         tf.io.decode_png(channels=3) of each real sample.
  resize_*.npy         tf.image.resize bilinear, PIL nearest (through keras.utils.load_img), Keras preprocess_input.
  augment/*.npy + augment.json
                       ImageDataGenerator.apply_transform with fixed parameters on a crop of a real sample.
"""
import json
import os
import struct
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import keras
import tf_keras
from keras.src.legacy.preprocessing.image import ImageDataGenerator as Keras3ImageDataGenerator
from PIL import Image

out, sample_dir = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "png"), exist_ok=True)
os.makedirs(os.path.join(out, "augment"), exist_ok=True)
rng = np.random.default_rng(7)

ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """Rows of (H, W, C) integer samples as PNG scanlines (filter byte 0), for any bit depth."""
    rows = []
    for row in samples:
        flat = row.reshape(-1)
        if depth == 16:
            data = flat.astype(">u2").tobytes()
        elif depth == 8:
            data = flat.astype(np.uint8).tobytes()
        else:
            bits = np.unpackbits(flat.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:].reshape(-1)
            data = np.packbits(bits).tobytes()
        rows.append(b"\0" + data)
    return b"".join(rows)


def write_png(path, samples, color_type, depth, palette=None, trns=None, interlace=False):
    height, width = samples.shape[:2]
    if interlace:
        raw = b"".join(pack_rows(samples[r0::dr, c0::dc], depth) for r0, c0, dr, dc in ADAM7
                       if r0 < height and c0 < width)
    else:
        raw = pack_rows(samples, depth)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0,
                                                             int(interlace)))
    if palette is not None:
        png += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def samples(height, width, channels, depth):
    return rng.integers(0, 2 ** depth, (height, width, channels))


H, W = 23, 37   # odd sizes: partial bytes at low bit depths and partial Adam7 blocks
cases = {}
for depth in (1, 2, 4, 8, 16):
    cases[f"gray{depth}"] = dict(samples=samples(H, W, 1, depth), color_type=0, depth=depth)
cases["gray8_trns"] = dict(samples=samples(H, W, 1, 8), color_type=0, depth=8, trns=struct.pack(">H", 17))
cases["gray_alpha8"] = dict(samples=samples(H, W, 2, 8), color_type=4, depth=8)
cases["gray_alpha16"] = dict(samples=samples(H, W, 2, 16), color_type=4, depth=16)
cases["rgb8"] = dict(samples=samples(H, W, 3, 8), color_type=2, depth=8)
cases["rgb16"] = dict(samples=samples(H, W, 3, 16), color_type=2, depth=16)
cases["rgb8_trns"] = dict(samples=samples(H, W, 3, 8), color_type=2, depth=8, trns=struct.pack(">HHH", 1, 2, 3))
cases["rgba8"] = dict(samples=samples(H, W, 4, 8), color_type=6, depth=8)
cases["rgba16"] = dict(samples=samples(H, W, 4, 16), color_type=6, depth=16)
for depth in (1, 2, 4, 8):
    entries = 2 ** depth
    cases[f"palette{depth}"] = dict(samples=samples(H, W, 1, depth), color_type=3, depth=depth,
                                    palette=rng.integers(0, 256, (entries, 3)))
cases["palette8_trns"] = dict(samples=samples(H, W, 1, 8), color_type=3, depth=8,
                              palette=rng.integers(0, 256, (256, 3)), trns=bytes(rng.integers(0, 256, 100).tolist()))
for name in ["gray1", "gray4", "gray16", "gray_alpha8", "rgb8", "rgb16", "rgba8", "palette4", "palette8_trns"]:
    cases[name + "_adam7"] = dict(cases[name], interlace=True)
for name, case in cases.items():
    write_png(os.path.join(out, "png", name + ".png"), **case)

# PIL's encoder too (adaptive filters, real zlib streams), in the modes it writes.
crop = np.asarray(Image.open(os.path.join(sample_dir, "benign", "SOB_B_A-14-22549CD-400-006.png")).convert("RGB"))[:61, :83]
Image.fromarray(crop).save(os.path.join(out, "png", "pil_rgb.png"))
Image.fromarray(crop).convert("L").save(os.path.join(out, "png", "pil_gray.png"))
Image.fromarray(crop).convert("P", palette=Image.Palette.ADAPTIVE, colors=50).save(os.path.join(out, "png", "pil_palette.png"))
Image.fromarray(np.dstack([crop, crop[..., :1]])).save(os.path.join(out, "png", "pil_rgba.png"))
write_png(os.path.join(out, "png", "sample_crop_adam7.png"), crop, 2, 8, interlace=True)

for name in sorted(os.listdir(os.path.join(out, "png"))):
    if name.endswith(".png"):
        with open(os.path.join(out, "png", name), "rb") as f:
            decoded = tf.io.decode_png(f.read(), channels=3).numpy()
        np.save(os.path.join(out, "png", name[:-4] + ".npy"), decoded)

# A valid header that declares 10^10 pixels, and nothing behind it worth reading.
with open(os.path.join(out, "huge.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))

# The real samples: TensorFlow's decode.
sample_paths = sorted(os.path.join(sample_dir, cls, name) for cls in ("benign", "malignant")
                      for name in os.listdir(os.path.join(sample_dir, cls)) if name.endswith(".png"))
for path in sample_paths:
    with open(path, "rb") as f:
        np.save(os.path.join(out, "sample_" + os.path.basename(path)[:-4] + ".npy"),
                tf.io.decode_png(f.read(), channels=3).numpy())

# A file cut short right before IEND (all image data intact): does TensorFlow call it damaged?
first = sample_paths[0]
with open(first, "rb") as f:
    whole = f.read()
assert whole.endswith(chunk(b"IEND", b""))
without_iend = whole[:-len(chunk(b"IEND", b""))]
with open(os.path.join(out, "no_iend.png"), "wb") as f:
    f.write(without_iend)
try:
    tf.io.decode_png(without_iend, channels=3).numpy()
    verdict = {"tensorflow_rejects": False, "message": ""}
except tf.errors.InvalidArgumentError as error:
    verdict = {"tensorflow_rejects": True, "message": error.message}
with open(os.path.join(out, "no_iend.json"), "w") as f:
    json.dump(verdict, f)

# Resizing and preprocessing of the first sample.
with open(first, "rb") as f:
    decoded = tf.io.decode_png(f.read(), channels=3)
np.save(os.path.join(out, "resize_bilinear_224.npy"),
        tf.image.resize(decoded, (224, 224), method="bilinear", antialias=False).numpy())
np.save(os.path.join(out, "resize_bilinear_up_500x900.npy"),
        tf.image.resize(decoded[:230, :350], (500, 900), method="bilinear", antialias=False).numpy())
nearest = keras.utils.img_to_array(keras.utils.load_img(first, target_size=(224, 224)), dtype="float32")
np.save(os.path.join(out, "resize_nearest_224.npy"), nearest)
np.save(os.path.join(out, "resize_nearest_up_500x900.npy"),
        np.asarray(Image.fromarray(decoded.numpy()[:230, :350]).resize((900, 500), Image.NEAREST), dtype=np.float32))
np.save(os.path.join(out, "preprocess_caffe.npy"), keras.applications.resnet.preprocess_input(nearest.copy()))
np.save(os.path.join(out, "preprocess_torch.npy"), keras.applications.densenet.preprocess_input(nearest.copy()))

# Augmentation: ImageDataGenerator.apply_transform with fixed parameters on a non-square crop (96 rows x 128
# columns, so Keras' axis-swap quirks show), for every fill mode.
augment_image = np.asarray(decoded.numpy()[100:196, 200:328], dtype=np.float32)
np.save(os.path.join(out, "augment", "input.npy"), augment_image.astype(np.uint8))
parameter_sets = [
    dict(theta=17.3),
    dict(tx=9.5, ty=-13.25),
    dict(shear=12.0),
    dict(zx=0.8, zy=1.25),
    dict(theta=-40.0, tx=-20.0, ty=30.0, shear=-8.0, zx=1.3, zy=0.7, flip_horizontal=True),
    dict(theta=123.0, tx=150.0, ty=-300.0, zx=2.5, zy=2.5, flip_vertical=True),
    dict(theta=5.0, zx=0.55, zy=0.6, flip_horizontal=True, flip_vertical=True),
]
augment_cases = []
for fill_mode in ("nearest", "reflect", "wrap", "constant"):
    # tf_keras' public ImageDataGenerator (TF 2's Keras); Keras 3 keeps the same code as a legacy class.
    generator = tf_keras.preprocessing.image.ImageDataGenerator(fill_mode=fill_mode, cval=37.5)
    keras3_generator = Keras3ImageDataGenerator(fill_mode=fill_mode, cval=37.5)
    for index, parameters in enumerate(parameter_sets):
        name = f"{fill_mode}_{index}"
        warped = generator.apply_transform(augment_image.copy(), parameters)
        assert np.array_equal(warped, keras3_generator.apply_transform(augment_image.copy(), parameters)), name
        np.save(os.path.join(out, "augment", name + ".npy"), warped)
        augment_cases.append(dict(name=name, fill_mode=fill_mode, cval=37.5, **parameters))

# flow_from_directory's whole path for one image: load_img(target_size) with PIL nearest, the warp, the flips,
# then ResNet's preprocess_input.
flow_cases = []
for index, parameters in enumerate([parameter_sets[4], parameter_sets[5]]):
    generator = tf_keras.preprocessing.image.ImageDataGenerator(
        fill_mode="reflect", preprocessing_function=keras.applications.resnet.preprocess_input)
    x = generator.apply_transform(nearest.copy(), parameters)
    name = f"flow_{index}"
    np.save(os.path.join(out, "augment", name + ".npy"), generator.standardize(x))
    flow_cases.append(dict(name=name, fill_mode="reflect", cval=0.0, **parameters))

# Bilinear resize then warp, in two resampling passes (TensorFlow, then Keras); ours composes them into one.
resized = tf.image.resize(decoded, (224, 224), method="bilinear", antialias=False).numpy()
for index, parameters in enumerate([parameter_sets[0], parameter_sets[4], parameter_sets[5]]):
    generator = tf_keras.preprocessing.image.ImageDataGenerator(fill_mode="reflect")
    name = f"two_pass_{index}"
    np.save(os.path.join(out, "augment", name + ".npy"), generator.apply_transform(resized.copy(), parameters))
    flow_cases.append(dict(name=name, fill_mode="reflect", cval=0.0, **parameters))

with open(os.path.join(out, "augment.json"), "w") as f:
    json.dump(dict(first_sample=first, warp=augment_cases, flow=flow_cases), f, indent=1)
