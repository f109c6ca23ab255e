import Foundation
import Images
import KerasHDF5
import Layers
import Serving
import Tensors

/// A small residual network at 32x32 (stem, one residual block, head), saved as a bc-train checkpoint: a real
/// model file the predictor loads as it loads ResNet50, small enough for many requests in a debug build.
enum TestModel {
    static let preprocessing = Preprocessing.torch

    static func write(to path: String) throws {
        let builder = GraphBuilder(seed: 11)
        var x = try builder.input(shape: [32, 32, 3], name: "input_1")
        x = try Conv2D(8, kernelSize: 3, strides: 2, padding: .same, name: "conv1_conv")(x)
        x = try BatchNormalization(epsilon: 1.001e-5, name: "conv1_bn")(x)
        x = try Activation(.relu, name: "conv1_relu")(x)
        let shortcut = x
        x = try Conv2D(8, kernelSize: 3, padding: .same, name: "conv2_block1_1_conv")(x)
        x = try BatchNormalization(epsilon: 1.001e-5, name: "conv2_block1_1_bn")(x)
        x = try Activation(.relu, name: "conv2_block1_1_relu")(x)
        x = try Add(name: "conv2_block1_add")([shortcut, x])
        x = try Pooling2D(.max, poolSize: 2, name: "pool")(x)
        x = try GlobalAveragePooling2D(name: "avg_pool")(x)
        x = try Dense(2, activation: .softmax, name: "predictions")(x)
        let graph = try builder.build(output: x, name: "tiny_resnet")
        // Random weights call every sample benign with P(malignant) 0.04 to 0.08; a steeper, shifted head spreads
        // the real samples over both sides of 0.5.
        if let dense = graph.layer(named: "predictions") {
            let (kernel, bias) = (dense.weights[0], dense.weights[1])
            kernel.value = Tensor(shape: kernel.value.shape, scalars: kernel.value.scalars.map { $0 * 4 })
            bias.value = Tensor(shape: [2], scalars: [0, 11.2])
        }
        try writeKerasModel(graph, to: path, state: TrainingState(json: ["classNames": ["benign", "malignant"]]))
    }

    static func predictor(_ path: String, testTimeAugmentation: TestTimeAugmentation = .off, crops: CropGrid? = nil) throws -> Predictor {
        try Predictor(modelPath: path, threads: 1, preprocessing: preprocessing, testTimeAugmentation: testTimeAugmentation, crops: crops)
    }
}
