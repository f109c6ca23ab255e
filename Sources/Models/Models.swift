// Keras applications architectures.
