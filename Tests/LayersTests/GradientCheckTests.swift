import Layers
import OneDNN
import Tensors
import XCTest

/// Every layer's backward against central finite differences of its forward, run on the reference backend
/// (which accumulates in Double). The loss is sum(output * R) for a fixed random R, so dLoss/dOutput = R.
/// Linear layers are checked with a large step (their differences are exact but for rounding); nonlinear ones
/// with a small step whose truncation error, O(step^2), stays far below the tolerance.
final class GradientCheckTests: XCTestCase {
    let backend = ReferenceBackend()

    func graph(inputShape: [Int], _ body: (SymbolicTensor) throws -> SymbolicTensor) throws -> Graph {
        let builder = GraphBuilder(seed: 7)
        let output = try body(try builder.input(shape: inputShape))
        return try builder.build(output: output, name: "check")
    }

    func checkGradients(_ model: Graph, input: Tensor, step: Float, tolerance: Double, entries: Int = 10,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let keys = (0..<input.shape[0]).map { UInt64($0) * 7919 + 13 }
        let context = RunContext(backend: backend, training: true, sampleKeys: keys)
        let probe = randomTensor([input.shape[0]] + model.outputShape, seed: 99)
        func loss(_ x: Tensor) throws -> Double {
            let y = try model.forward(x, context: context)
            return zip(y.scalars, probe.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try model.forward(input, context: context)
        let inputGradient = model.backward(outputGradient: probe, context: context)
        let weightGradients = model.namedWeights.compactMap { entry in entry.weight.gradient.map { (entry.path, entry.weight, $0) } }

        func compare(_ analytic: Float, _ perturb: (Float) throws -> Double, _ what: String) throws {
            let numeric = (try perturb(step) - perturb(-step)) / (2 * Double(step))
            let error = abs(numeric - Double(analytic)) / max(1, abs(numeric))
            XCTAssertLessThanOrEqual(error, tolerance, "\(what): analytic \(analytic), numeric \(numeric)", file: file, line: line)
        }
        var generator = SplitMix64(seed: 5)
        for _ in 0..<entries {
            let i = Int(generator.next() % UInt64(input.count))
            try compare(inputGradient[i], { delta in var x = input; x[i] += delta; return try loss(x) }, "input[\(i)]")
        }
        for (path, weight, gradient) in weightGradients {
            for _ in 0..<min(entries, gradient.count) {
                let i = Int(generator.next() % UInt64(gradient.count))
                let original = weight.value
                try compare(gradient[i], { delta in
                    weight.value[i] += delta
                    defer { weight.value = original }
                    return try loss(input)
                }, "\(path)[\(i)]")
            }
        }
    }

    /// Random values at least 0.1 away from zero, and pairwise distinct by a margin, so that ReLU kinks and
    /// max-pooling ties stay out of reach of the finite-difference step.
    func separatedInput(_ shape: [Int], seed: UInt64) -> Tensor {
        let count = shape.reduce(1, *)
        var generator = SplitMix64(seed: seed)
        let ranks = (0..<count).shuffled(using: &generator)
        return Tensor(shape: shape, scalars: ranks.map { rank in
            let magnitude = 0.1 + Float(rank / 2) / Float(count)
            return rank % 2 == 0 ? magnitude : -magnitude
        })
    }

    func testConv2DSameStrideTwoWithBias() throws {
        let model = try graph(inputShape: [6, 5, 3]) { try Conv2D(4, kernelSize: 3, strides: 2, padding: .same, name: "c")($0) }
        try checkGradients(model, input: randomTensor([2, 6, 5, 3], seed: 1), step: 0.25, tolerance: 1e-4)
    }

    func testConv2DValidWithoutBiasRectangularKernel() throws {
        let model = try graph(inputShape: [7, 6, 5]) {
            try Conv2D(3, kernelSize: (3, 2), strides: (1, 2), padding: .valid, useBias: false, name: "c")($0)
        }
        try checkGradients(model, input: randomTensor([1, 7, 6, 5], seed: 2), step: 0.25, tolerance: 1e-4)
    }

    func testConv2DWithReluActivation() throws {
        let model = try graph(inputShape: [5, 5, 2]) { try Conv2D(3, kernelSize: 1, activation: .relu, name: "c")($0) }
        try checkGradients(model, input: separatedInput([2, 5, 5, 2], seed: 3), step: 1e-3, tolerance: 2e-3)
    }

    func testDense() throws {
        let model = try graph(inputShape: [7]) { try Dense(3, name: "d")($0) }
        try checkGradients(model, input: randomTensor([4, 7], seed: 4), step: 0.25, tolerance: 1e-4)
    }

    func testBatchNormalizationTraining4DAnd2D() throws {
        let conv = try graph(inputShape: [4, 3, 5]) { try BatchNormalization(epsilon: 1.001e-5, name: "bn")($0) }
        try checkGradients(conv, input: randomTensor([3, 4, 3, 5], seed: 5), step: 1e-2, tolerance: 2e-3)
        let flat = try graph(inputShape: [6]) { try BatchNormalization(name: "bn")($0) }
        try checkGradients(flat, input: randomTensor([5, 6], seed: 6), step: 1e-2, tolerance: 2e-3)
    }

    func testFrozenBatchNormalizationIsAffine() throws {
        let model = try graph(inputShape: [3, 3, 4]) { x in
            let layer = BatchNormalization(name: "bn")
            let y = try layer(x)
            layer.weights[2].value = randomTensor([4], seed: 7)                 // moving_mean
            layer.weights[3].value = randomTensor([4], seed: 8, in: 0.5...2)    // moving_variance
            layer.trainable = false
            return y
        }
        try checkGradients(model, input: randomTensor([2, 3, 3, 4], seed: 9), step: 0.25, tolerance: 1e-4)
    }

    func testReluAndSoftmaxActivations() throws {
        let relu = try graph(inputShape: [3, 3, 2]) { try Activation(.relu, name: "r")($0) }
        try checkGradients(relu, input: separatedInput([2, 3, 3, 2], seed: 10), step: 1e-3, tolerance: 1e-3)
        let softmax = try graph(inputShape: [5]) { try Activation(.softmax, name: "s")($0) }
        try checkGradients(softmax, input: randomTensor([3, 5], seed: 11, in: -3...3), step: 1e-2, tolerance: 2e-3)
    }

    func testPoolingPaddingAndGlobalAverage() throws {
        let maxPool = try graph(inputShape: [7, 6, 3]) { try Pooling2D(.max, poolSize: 3, strides: 2, padding: .same, name: "p")($0) }
        try checkGradients(maxPool, input: separatedInput([2, 7, 6, 3], seed: 12), step: 1e-3, tolerance: 1e-3)
        let averagePool = try graph(inputShape: [6, 5, 3]) { try Pooling2D(.average, poolSize: 2, padding: .same, name: "p")($0) }
        try checkGradients(averagePool, input: randomTensor([2, 6, 5, 3], seed: 13), step: 0.25, tolerance: 1e-4)
        let padded = try graph(inputShape: [3, 4, 2]) {
            try ZeroPadding2D(Padding2D(top: 1, bottom: 2, left: 0, right: 3), name: "z")($0)
        }
        try checkGradients(padded, input: randomTensor([2, 3, 4, 2], seed: 14), step: 0.25, tolerance: 1e-4)
        let global = try graph(inputShape: [3, 5, 4]) { try GlobalAveragePooling2D(name: "g")($0) }
        try checkGradients(global, input: randomTensor([2, 3, 5, 4], seed: 15), step: 0.25, tolerance: 1e-4)
    }

    func testDropoutUsesItsMaskInBackward() throws {
        let model = try graph(inputShape: [10]) { try Dropout(0.4, name: "drop")($0) }
        try checkGradients(model, input: randomTensor([3, 10], seed: 16), step: 0.25, tolerance: 1e-4, entries: 30)
    }

    /// A residual block and a dense-block concatenation in one graph: gradients of a tensor consumed twice
    /// must be summed.
    func testGraphWithAddAndConcatenate() throws {
        let model = try graph(inputShape: [5, 5, 3]) { input in
            let a = try Conv2D(4, kernelSize: 3, padding: .same, name: "a")(input)
            let b = try BatchNormalization(name: "b_bn")(try Conv2D(4, kernelSize: 1, name: "b")(input))
            let sum = try Add(name: "add")([a, b])
            let joined = try Concatenate(name: "concat")([input, try Activation(.relu, name: "relu")(sum)])
            let pooled = try GlobalAveragePooling2D(name: "gap")(joined)
            return try Dense(2, name: "out")(pooled)
        }
        try checkGradients(model, input: randomTensor([2, 5, 5, 3], seed: 17), step: 1e-2, tolerance: 3e-3, entries: 8)
    }

    /// Categorical cross-entropy through a softmax Dense, back-propagated from logits as Keras does.
    func testCrossEntropyFromLogitsWithClassWeights() throws {
        let model = try graph(inputShape: [4]) { try Dense(3, activation: .softmax, name: "predictions")($0) }
        let input = randomTensor([5, 4], seed: 18, in: -2...2)
        let labels = [0, 2, 1, 2, 0]
        let loss = CategoricalCrossentropy(classWeights: [1, 2.5, 0.5])
        let context = RunContext(backend: backend, training: true, sampleKeys: Array(0..<5))
        func value(_ x: Tensor) throws -> Double {
            Double(loss.loss(probabilities: try model.forward(x, context: context), labels: labels, globalBatchSize: 8))
        }
        let probabilities = try model.forward(input, context: context)
        let inputGradient = model.backward(logitGradient: loss.logitGradient(probabilities: probabilities, labels: labels,
                                                                             globalBatchSize: 8), context: context)
        let kernel = model.layer(named: "predictions")!.weights[0]
        let kernelGradient = kernel.gradient!
        let step: Float = 1e-2
        for i in 0..<input.count {
            var plus = input, minus = input
            plus[i] += step; minus[i] -= step
            let numeric = (try value(plus) - value(minus)) / (2 * Double(step))
            XCTAssertEqual(Double(inputGradient[i]), numeric, accuracy: 2e-3 * max(1, abs(numeric)), "input[\(i)]")
        }
        let original = kernel.value
        for i in 0..<kernel.value.count {
            kernel.value[i] += step
            let plus = try value(input)
            kernel.value = original
            kernel.value[i] -= step
            let minus = try value(input)
            kernel.value = original
            XCTAssertEqual(Double(kernelGradient[i]), (plus - minus) / (2 * Double(step)), accuracy: 2e-3, "kernel[\(i)]")
        }
    }
}
