// Datasets, splits, loader.
