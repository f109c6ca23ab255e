import Foundation
import Layers
import Tensors
import XCTest

final class OptimizerTests: XCTestCase {
    /// Adam against Keras' update written out independently in Double, over several steps.
    func testAdamFollowsKerasUpdateRule() {
        let weight = Weight(name: "kernel", value: Tensor(shape: [3], scalars: [0.5, -1, 2]))
        let optimizer = Adam(learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-7)
        var w: [Double] = [0.5, -1, 2], m = [Double](repeating: 0, count: 3), v = m
        for step in 1...5 {
            let g: [Float] = [Float(step) * 0.1, -0.3, 0.05 / Float(step)]
            weight.gradient = Tensor(shape: [3], scalars: g)
            optimizer.apply(to: [("layer/kernel", weight)])
            let alpha = 0.01 * (1 - pow(0.95, Double(step))).squareRoot() / (1 - pow(0.8, Double(step)))
            for i in 0..<3 {
                m[i] = 0.8 * m[i] + 0.2 * Double(g[i])
                v[i] = 0.95 * v[i] + 0.05 * Double(g[i]) * Double(g[i])
                w[i] -= alpha * m[i] / (v[i].squareRoot() + 1e-7)
            }
            for i in 0..<3 { XCTAssertEqual(Double(weight.value[i]), w[i], accuracy: 1e-6, "step \(step) w[\(i)]") }
        }
        XCTAssertEqual(optimizer.iterations, 5)
        XCTAssertEqual(optimizer.slots["layer/kernel"]?.count, 2, "m and v are addressable by weight path")
        XCTAssertEqual(Double(optimizer.slots["layer/kernel"]![0][1]), m[1], accuracy: 1e-6)
    }

    /// The first Adam step moves every weight by about the learning rate, against the gradient's sign.
    func testAdamFirstStepIsLearningRateTimesSign() {
        let weight = Weight(name: "w", value: Tensor(zeros: [2]))
        weight.gradient = Tensor(shape: [2], scalars: [3, -0.02])
        Adam(learningRate: 0.1).apply(to: [("l/w", weight)])
        XCTAssertEqual(weight.value[0], -0.1, accuracy: 1e-5)
        XCTAssertEqual(weight.value[1], 0.1, accuracy: 1e-4)
    }

    func testSGDMomentumAndNesterov() {
        for nesterov in [false, true] {
            let weight = Weight(name: "w", value: Tensor(shape: [1], scalars: [1]))
            let optimizer = SGD(learningRate: 0.1, momentum: 0.9, nesterov: nesterov)
            var w = 1.0, velocity = 0.0
            for step in 1...4 {
                let g = Double(step) * 0.5
                weight.gradient = Tensor(shape: [1], scalars: [Float(g)])
                optimizer.apply(to: [("l/w", weight)])
                velocity = 0.9 * velocity - 0.1 * g
                w += nesterov ? 0.9 * velocity - 0.1 * g : velocity
                XCTAssertEqual(Double(weight.value[0]), w, accuracy: 1e-6, "nesterov \(nesterov) step \(step)")
            }
        }
    }

    /// Weights large enough to be updated in slices on several threads (100,003 values: 3 slices, the last one short)
    /// end bit-identical to the update on one thread, for Adam and SGD with Nesterov momentum, over three steps.
    func testThreadedUpdatesEqualTheSingleThreadedOnes() {
        let count = 100_003
        func trained(_ optimizer: Optimizer) -> (weight: [Float], slots: [[Float]]) {
            let weight = Weight(name: "kernel", value: Tensor(shape: [count], scalars: (0..<count).map { Float($0 % 97) / 50 - 1 }))
            for step in 1...3 {
                weight.gradient = Tensor(shape: [count], scalars: (0..<count).map { Float(($0 * step) % 89) / 40 - 1.1 })
                optimizer.apply(to: [("layer/kernel", weight)])
            }
            return (weight.value.scalars, optimizer.slots["layer/kernel"]!.map(\.scalars))
        }
        for threads in [2, 3] {
            let adam = trained(Adam(learningRate: 0.01, threads: threads)), adamAlone = trained(Adam(learningRate: 0.01))
            XCTAssertEqual(adam.weight, adamAlone.weight, "Adam, \(threads) threads")
            XCTAssertEqual(adam.slots, adamAlone.slots, "Adam's moments, \(threads) threads")
            let sgd = trained(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true, threads: threads))
            let sgdAlone = trained(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true))
            XCTAssertEqual(sgd.weight, sgdAlone.weight, "SGD, \(threads) threads")
            XCTAssertEqual(sgd.slots, sgdAlone.slots, "SGD's velocity, \(threads) threads")
            XCTAssertNotEqual(adam.weight, sgd.weight)
        }
    }

    func testWeightsWithoutGradientOrInFrozenLayersAreNotUpdated() throws {
        let builder = GraphBuilder(seed: 1)
        let frozen = Dense(2, name: "frozen")
        let output = try Dense(2, name: "head")(try frozen(try builder.input(shape: [3])))
        let model = try builder.build(output: output, name: "m")
        frozen.trainable = false
        XCTAssertEqual(model.trainableWeights.map(\.path), ["head/kernel", "head/bias"])
        let before = frozen.weights[0].value.scalars
        for (_, weight) in model.namedWeights { weight.gradient = Tensor(shape: weight.value.shape, repeating: 1) }
        Adam().apply(to: model.trainableWeights)
        XCTAssertEqual(frozen.weights[0].value.scalars, before)
        XCTAssertNotEqual(model.layer(named: "head")!.weights[0].value.scalars, [Float](repeating: 0, count: 4))
    }
}
