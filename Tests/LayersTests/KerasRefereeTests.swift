import Foundation
import Layers
import OneDNN
import Tensors
import XCTest

/// Real TensorFlow/Keras as the independent referee: Tests/Python/keras_referee.py computes forward passes,
/// gradients, moving statistics and optimizer trajectories; both backends and the layers must agree.
final class KerasRefereeTests: XCTestCase {
    /// Runs the referee once per test process; its outputs are `.npy` files in a temporary folder.
    static let referenceFolder: Result<URL, Error> = Result {
        let python = ProcessInfo.processInfo.environment["BC_PYTHON"] ?? "/opt/bc-train-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "referee", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "no Python referee at \(python): run ./Launch/test.sh (it installs TensorFlow/Keras) or set BC_PYTHON"])
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bc-keras-referee-\(getpid())")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Python/keras_referee.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, folder.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["TF_CPP_MIN_LOG_LEVEL": "3"]) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "referee", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(script.path) exited with \(process.terminationStatus)"])
        }
        return folder
    }

    func reference(_ name: String) throws -> Tensor {
        try readNumpy(try Self.referenceFolder.get().appendingPathComponent(name + ".npy"))
    }

    let backends: [Backend] = [ReferenceBackend(), OneDNNBackend(threads: 1)]

    func testConvolutionWithAsymmetricSamePadding() throws {
        let x = try reference("conv_x"), kernel = try reference("conv_kernel"), bias = try reference("conv_bias")
        let geometry = WindowGeometry(kernel: (3, 3), strides: (2, 2), padding: .same, inputHeight: 8, inputWidth: 7)
        for backend in backends {
            assertClose(backend.conv2D(x, kernel: kernel, bias: bias, geometry: geometry), try reference("conv_y"), tolerance: 1e-5, backend.name)
            let gradients = backend.conv2DBackward(x, kernel: kernel, outputGradient: try reference("conv_probe"),
                                                   geometry: geometry, withBias: true, inputGradient: true)
            assertClose(gradients.input!, try reference("conv_dx"), tolerance: 1e-5, "\(backend.name) dx")
            assertClose(gradients.kernel, try reference("conv_dkernel"), tolerance: 1e-5, "\(backend.name) dkernel")
            assertClose(gradients.bias!, try reference("conv_dbias"), tolerance: 1e-5, "\(backend.name) dbias")
        }
    }

    func testMaxAndAveragePoolingWithSamePadding() throws {
        let x = try reference("pool_x"), probe = try reference("pool_probe")
        let geometry = WindowGeometry(kernel: (3, 3), strides: (2, 2), padding: .same, inputHeight: 7, inputWidth: 9)
        for backend in backends {
            for (kind, name) in [(PoolKind.max, "max"), (.average, "avg")] {
                assertClose(backend.pool2D(x, kind: kind, geometry: geometry), try reference("pool_\(name)_y"), tolerance: 1e-6, "\(backend.name) \(name)")
                assertClose(backend.pool2DBackward(x, outputGradient: probe, kind: kind, geometry: geometry),
                            try reference("pool_\(name)_dx"), tolerance: 1e-6, "\(backend.name) \(name) dx")
            }
        }
    }

    func testBatchNormalizationTrainingStepMatchesKeras() throws {
        for backend in backends {
            let builder = GraphBuilder()
            let layer = BatchNormalization(momentum: 0.9, epsilon: 1.001e-5, name: "bn")
            let model = try builder.build(output: try layer(try builder.input(shape: [3, 3, 6])), name: "m")
            layer.weights[0].value = try reference("bn_gamma")
            layer.weights[1].value = try reference("bn_beta")
            let context = RunContext(backend: backend, training: true, sampleKeys: [0, 1, 2, 3])
            assertClose(try model.forward(try reference("bn_x"), context: context), try reference("bn_y"), tolerance: 1e-5, "\(backend.name) y")
            assertClose(layer.weights[2].value, try reference("bn_moving_mean"), tolerance: 1e-6, "\(backend.name) moving_mean")
            assertClose(layer.weights[3].value, try reference("bn_moving_variance"), tolerance: 1e-6, "\(backend.name) moving_variance")
            let dx = model.backward(outputGradient: try reference("bn_probe"), context: context)
            assertClose(dx, try reference("bn_dx"), tolerance: 1e-4, "\(backend.name) dx")
            assertClose(layer.weights[0].gradient!, try reference("bn_dgamma"), tolerance: 1e-5, "\(backend.name) dgamma")
            assertClose(layer.weights[1].gradient!, try reference("bn_dbeta"), tolerance: 1e-5, "\(backend.name) dbeta")
        }
    }

    func testWeightedCrossEntropyThroughSoftmaxDense() throws {
        let labels = try reference("ce_labels").scalars.map { Int($0) }
        let loss = CategoricalCrossentropy(classWeights: try reference("ce_class_weights").scalars)
        for backend in backends {
            let builder = GraphBuilder()
            let dense = Dense(3, activation: .softmax, name: "predictions")
            let model = try builder.build(output: try dense(try builder.input(shape: [4])), name: "m")
            dense.weights[0].value = try reference("ce_kernel")
            dense.weights[1].value = try reference("ce_bias")
            let context = RunContext(backend: backend, training: true, sampleKeys: Array(0..<6))
            let probabilities = try model.forward(try reference("ce_x"), context: context)
            assertClose(probabilities, try reference("ce_probabilities"), tolerance: 1e-6, "\(backend.name) p")
            XCTAssertEqual(loss.loss(probabilities: probabilities, labels: labels, globalBatchSize: 6),
                           try reference("ce_loss")[0], accuracy: 1e-6)
            let dx = model.backward(logitGradient: loss.logitGradient(probabilities: probabilities, labels: labels, globalBatchSize: 6),
                                    context: context)
            assertClose(dx, try reference("ce_dx"), tolerance: 1e-6, "\(backend.name) dx")
            assertClose(dense.weights[0].gradient!, try reference("ce_dkernel"), tolerance: 1e-6, "\(backend.name) dkernel")
            assertClose(dense.weights[1].gradient!, try reference("ce_dbias"), tolerance: 1e-6, "\(backend.name) dbias")
        }
    }

    func testAdamAndNesterovSGDTrajectories() throws {
        for (name, optimizer) in [("adam", Adam(learningRate: 0.01, beta1: 0.8, beta2: 0.95) as Optimizer),
                                  ("sgd", SGD(learningRate: 0.05, momentum: 0.9, nesterov: true))] {
            let weight = Weight(name: "w", value: try reference("\(name)_initial"))
            let gradients = try reference("\(name)_gradients")
            for step in 0..<gradients.shape[0] {
                weight.gradient = Tensor(shape: [5], scalars: Array(gradients.scalars[step * 5..<(step + 1) * 5]))
                optimizer.apply(to: [("layer/w", weight)])
            }
            assertClose(weight.value, try reference("\(name)_final"), tolerance: 1e-6, name)
        }
    }
}
