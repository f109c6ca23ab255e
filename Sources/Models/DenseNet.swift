import Layers

// DenseNet as keras.applications builds it (keras/src/applications/densenet.py): growth rate 32, bottleneck
// width 4 x 32, transitions halving the channels, convolutions without bias, BN epsilon 1.001e-5.

private let denseNetEpsilon: Float = 1.001e-5
private let growthRate = 32

/// Stem, four dense blocks with transitions between them, and a final BN + ReLU.
func denseNet(_ input: SymbolicTensor, blocksPerStage: [Int]) throws -> SymbolicTensor {
    // Keras leaves the two ZeroPadding2D layers unnamed (auto names depend on what was built before in the
    // process); these are the names a fresh Keras process gives them. Nothing relies on them.
    var x = try ZeroPadding2D(3, name: "zero_padding2d")(input)
    x = try Conv2D(64, kernelSize: 7, strides: 2, useBias: false, name: "conv1_conv")(x)
    x = try BatchNormalization(epsilon: denseNetEpsilon, name: "conv1_bn")(x)
    x = try Activation(.relu, name: "conv1_relu")(x)
    x = try ZeroPadding2D(1, name: "zero_padding2d_1")(x)
    x = try Pooling2D(.max, poolSize: 3, strides: 2, name: "pool1")(x)
    for (stage, blocks) in blocksPerStage.enumerated() {
        for block in 1...blocks { x = try denseLayer(x, name: "conv\(stage + 2)_block\(block)") }
        if stage < blocksPerStage.count - 1 { x = try transition(x, name: "pool\(stage + 2)") }
    }
    x = try BatchNormalization(epsilon: denseNetEpsilon, name: "bn")(x)
    return try Activation(.relu, name: "relu")(x)
}

/// Keras' `conv_block`: BN -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv, whose `growthRate` new channels are
/// appended to the input's.
private func denseLayer(_ input: SymbolicTensor, name: String) throws -> SymbolicTensor {
    var x = try BatchNormalization(epsilon: denseNetEpsilon, name: name + "_0_bn")(input)
    x = try Activation(.relu, name: name + "_0_relu")(x)
    x = try Conv2D(4 * growthRate, kernelSize: 1, useBias: false, name: name + "_1_conv")(x)
    x = try BatchNormalization(epsilon: denseNetEpsilon, name: name + "_1_bn")(x)
    x = try Activation(.relu, name: name + "_1_relu")(x)
    x = try Conv2D(growthRate, kernelSize: 3, padding: .same, useBias: false, name: name + "_2_conv")(x)
    return try Concatenate(name: name + "_concat")([input, x])
}

/// Keras' `transition_block` with reduction 0.5: BN -> ReLU -> 1x1 conv to half the channels -> AvgPool 2x2/2.
private func transition(_ input: SymbolicTensor, name: String) throws -> SymbolicTensor {
    var x = try BatchNormalization(epsilon: denseNetEpsilon, name: name + "_bn")(input)
    x = try Activation(.relu, name: name + "_relu")(x)
    x = try Conv2D(input.shape[2] / 2, kernelSize: 1, useBias: false, name: name + "_conv")(x)
    return try Pooling2D(.average, poolSize: 2, strides: 2, name: name + "_pool")(x)
}
