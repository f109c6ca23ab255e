"""The second task of Launch/bench-learning.sh, made of real images: the eight BreakHis samples of
Tests/Fixtures/breakhis-sample (700x460, 400X) cut into non-overlapping SIZE x SIZE tiles (10 x 7 = 70 per image at 64),
each labelled with its image's class and written into the BreakHis tree under OUT as a BreakHis name whose sequence
number carries the image's and the tile's (image 006, tile 12 -> 6012), so bc-train and keras_learning.py read it as
any BreakHis dataset.

  python breakhis_tiles.py OUT [--size 64]
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image

SUBTYPES = {"A": "adenosis", "F": "fibroadenoma", "PT": "phyllodes_tumor", "TA": "tubular_adenoma",
            "DC": "ductal_carcinoma", "LC": "lobular_carcinoma", "MC": "mucinous_carcinoma", "PC": "papillary_carcinoma"}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    samples = os.path.join(os.path.dirname(__file__), "../Fixtures/breakhis-sample/400X")
    count = 0
    for path in sorted(glob.glob(os.path.join(samples, "*", "*.png"))):
        stem = os.path.basename(path)[:-4]                      # SOB_B_TA-14-16184CD-400-024
        procedure, kind, rest = stem.split("_", 2)              # SOB, B, TA-14-16184CD-400-024
        subtype, year, slide, magnification, sequence = rest.split("-")
        folder = os.path.join(args.out, "BreaKHis_v1/histology_slides/breast", "malignant" if kind == "M" else "benign",
                              procedure, SUBTYPES[subtype], f"{procedure}_{kind}_{subtype}_{year}-{slide}", f"{magnification}X")
        os.makedirs(folder, exist_ok=True)
        image = np.asarray(Image.open(path).convert("RGB"))
        rows, columns = image.shape[0] // args.size, image.shape[1] // args.size
        for tile in range(rows * columns):
            y, x = (tile // columns) * args.size, (tile % columns) * args.size
            name = f"{procedure}_{kind}_{subtype}-{year}-{slide}-{magnification}-{int(sequence) * 1000 + tile}.png"
            Image.fromarray(image[y:y + args.size, x:x + args.size]).save(os.path.join(folder, name))
            count += 1
    print(f"{count} tiles of {args.size}x{args.size} in {args.out}")


if __name__ == "__main__":
    main()
