import Layers

/// The tiny reference model of Tests/Fixtures/keras-reference (Conv2D+BN+ReLU+GAP+Dropout+BN+Dense softmax), built the
/// way Keras builds it.
public func tinyModel(seed: UInt64 = 1) throws -> Graph {
    let builder = GraphBuilder(seed: seed)
    var x = try builder.input(shape: [8, 8, 3], name: "input_1")
    x = try Conv2D(4, kernelSize: 3, padding: .same, name: "conv")(x)
    x = try BatchNormalization(epsilon: 1.001e-5, name: "bn")(x)
    x = try Activation(.relu, name: "relu")(x)
    x = try GlobalAveragePooling2D(name: "avg_pool")(x)
    x = try Dropout(0.5, name: "dropout")(x)
    x = try BatchNormalization(name: "bn_head")(x)
    x = try Dense(5, activation: .softmax, name: "predictions")(x)
    return try builder.build(output: x, name: "tiny")
}
