import Layers
import OneDNN
import Tensors
import XCTest

/// Layers that touch elements themselves or through a backend must give the same results on activations in
/// oneDNN's blocked layout as on plain ones, and keep the layout (17 channels: one padded block).
final class BlockedLayoutLayerTests: XCTestCase {
    let shape = [2, 3, 4, 17]

    func testDropoutMaskDoesNotDependOnTheLayout() throws {
        let layer = Dropout(0.5, name: "drop")
        var initializer = WeightInitializer(seed: 0)
        _ = try layer.build(inputShapes: [Array(shape.dropFirst())], initializer: &initializer)
        let context = RunContext(backend: ReferenceBackend(), training: true, sampleKeys: [11, 12])
        let x = randomTensor(shape, seed: 1), outputGradient = randomTensor(shape, seed: 2)

        let plainOutput = layer.forward([x], context: context)
        let plainGradient = layer.backward(outputGradient, context: context)[0]
        let blockedOutput = layer.forward([x.converted(to: .channelsBlocked16)], context: context)
        let blockedGradient = layer.backward(outputGradient.converted(to: .channelsBlocked16), context: context)[0]
        XCTAssertEqual(blockedOutput.layout, .channelsBlocked16)
        XCTAssertEqual(blockedGradient.layout, .channelsBlocked16)
        XCTAssertEqual(blockedOutput.scalars, plainOutput.scalars)
        XCTAssertEqual(blockedGradient.scalars, plainGradient.scalars)
        XCTAssertTrue(plainOutput.scalars.contains(0) && plainOutput.scalars.contains { $0 != 0 }, "drops some")
    }

    func testFrozenBatchNormalizationGradientInTheBlockedLayout() throws {
        let layer = BatchNormalization(name: "bn")
        var initializer = WeightInitializer(seed: 0)
        _ = try layer.build(inputShapes: [Array(shape.dropFirst())], initializer: &initializer)
        layer.weights[0].value = randomTensor([17], seed: 3)                 // gamma
        layer.weights[3].value = randomTensor([17], seed: 4, in: 0.5...2)    // moving_variance
        layer.trainable = false
        let x = randomTensor(shape, seed: 5), outputGradient = randomTensor(shape, seed: 6)

        let reference = RunContext(backend: ReferenceBackend(), training: true)
        _ = layer.forward([x], context: reference)
        let expected = layer.backward(outputGradient, context: reference)[0]
        let fast = RunContext(backend: OneDNNBackend(threads: 1), training: true)
        _ = layer.forward([x.converted(to: .channelsBlocked16)], context: fast)
        let actual = layer.backward(outputGradient.converted(to: .channelsBlocked16), context: fast)[0]
        XCTAssertEqual(actual.layout, .channelsBlocked16)
        assertClose(actual, expected, tolerance: 1e-6, "frozen batch norm input gradient")
    }
}
