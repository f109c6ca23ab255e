// Keras HDF5 files.
