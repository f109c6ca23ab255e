// Image decoding, resizing, preprocessing, augmentation.
