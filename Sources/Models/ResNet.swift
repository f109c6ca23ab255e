import Layers

// ResNet v1 as keras.applications builds it (keras/src/applications/resnet.py): the Caffe layout, with the stride
// of a stage's first block on its first 1x1 convolution, biases on every convolution, and BN epsilon 1.001e-5.

private let resNetEpsilon: Float = 1.001e-5

/// Stem and four stages of bottleneck blocks with 64, 128, 256 and 512 filters (stage 2 does not downsample).
func resNet(_ input: SymbolicTensor, blocksPerStage: [Int]) throws -> SymbolicTensor {
    var x = try ZeroPadding2D(3, name: "conv1_pad")(input)
    x = try Conv2D(64, kernelSize: 7, strides: 2, name: "conv1_conv")(x)
    x = try BatchNormalization(epsilon: resNetEpsilon, name: "conv1_bn")(x)
    x = try Activation(.relu, name: "conv1_relu")(x)
    x = try ZeroPadding2D(1, name: "pool1_pad")(x)
    x = try Pooling2D(.max, poolSize: 3, strides: 2, name: "pool1_pool")(x)
    for (stage, blocks) in blocksPerStage.enumerated() {
        x = try residualStack(x, filters: 64 << stage, blocks: blocks, firstStride: stage == 0 ? 1 : 2,
                              name: "conv\(stage + 2)")
    }
    return x
}

/// Keras' `stack_residual_blocks_v1`: a block with a convolutional shortcut, then identity-shortcut blocks.
private func residualStack(_ input: SymbolicTensor, filters: Int, blocks: Int, firstStride: Int,
                           name: String) throws -> SymbolicTensor {
    var x = try residualBlock(input, filters: filters, stride: firstStride, convolutionShortcut: true, name: name + "_block1")
    for block in stride(from: 2, through: blocks, by: 1) {
        x = try residualBlock(x, filters: filters, stride: 1, convolutionShortcut: false, name: name + "_block\(block)")
    }
    return x
}

/// Keras' `residual_block_v1`: 1x1 (stride) -> 3x3 same -> 1x1 (4 x filters), each with BN, added to the shortcut.
private func residualBlock(_ input: SymbolicTensor, filters: Int, stride: Int, convolutionShortcut: Bool,
                           name: String) throws -> SymbolicTensor {
    var shortcut = input
    if convolutionShortcut {
        shortcut = try Conv2D(4 * filters, kernelSize: 1, strides: stride, name: name + "_0_conv")(input)
        shortcut = try BatchNormalization(epsilon: resNetEpsilon, name: name + "_0_bn")(shortcut)
    }
    var x = try Conv2D(filters, kernelSize: 1, strides: stride, name: name + "_1_conv")(input)
    x = try BatchNormalization(epsilon: resNetEpsilon, name: name + "_1_bn")(x)
    x = try Activation(.relu, name: name + "_1_relu")(x)
    x = try Conv2D(filters, kernelSize: 3, padding: .same, name: name + "_2_conv")(x)
    x = try BatchNormalization(epsilon: resNetEpsilon, name: name + "_2_bn")(x)
    x = try Activation(.relu, name: name + "_2_relu")(x)
    x = try Conv2D(4 * filters, kernelSize: 1, name: name + "_3_conv")(x)
    x = try BatchNormalization(epsilon: resNetEpsilon, name: name + "_3_bn")(x)
    x = try Add(name: name + "_add")([shortcut, x])
    return try Activation(.relu, name: name + "_out")(x)
}
