import Layers
import Models
import OneDNN
import Tensors
import XCTest

final class BatchNormFoldingTests: XCTestCase {
    /// A conv with bias into a batch norm with every option, a conv without bias into one without scale and
    /// center; a conv feeding two layers and a conv with an activation are left alone. Checked on the
    /// Double-accumulating reference backend, where the only difference is float rounding of the folded weights.
    func testFoldedGraphComputesTheSameOnTheReferenceBackend() throws {
        let builder = GraphBuilder(seed: 4)
        let input = try builder.input(shape: [9, 7, 3])
        var x = try Conv2D(5, kernelSize: 3, padding: .same, useBias: true, name: "c1")(input)
        x = try BatchNormalization(epsilon: 1e-3, name: "n1")(x)
        x = try Activation(.relu, name: "r1")(x)
        x = try Conv2D(6, kernelSize: 2, strides: 2, useBias: false, name: "c2")(x)
        x = try BatchNormalization(epsilon: 1.001e-5, center: false, scale: false, name: "n2")(x)
        let shared = try Conv2D(6, kernelSize: 1, name: "shared")(x)
        let normed = try BatchNormalization(name: "n3")(shared)
        x = try Add(name: "add")([shared, normed])
        x = try Conv2D(4, kernelSize: 1, activation: .relu, name: "activated")(x)
        x = try BatchNormalization(name: "n4")(x)
        x = try GlobalAveragePooling2D(name: "pool")(x)
        let output = try Dense(3, name: "out")(x)
        let graph = try builder.build(output: output, name: "folding")
        randomiseBatchNorms(graph, seed: 9)

        let (folded, pairs) = try graph.foldingBatchNormIntoConvolutions()
        XCTAssertEqual(pairs, 2)
        XCTAssertEqual(folded.layers.map(\.name), ["input_1", "c1", "r1", "c2", "shared", "n3", "add", "activated", "n4", "pool", "out"])
        var random = TestRandom(state: 21)
        let batch = random.tensor([2, 9, 7, 3])
        let context = RunContext(backend: ReferenceBackend(), training: false)
        let expected = try graph.forward(batch, context: context), actual = try folded.forward(batch, context: context)
        XCTAssertLessThanOrEqual(actual.maxRelativeDifference(to: expected), 1e-5)
        // The original graph is unchanged: its convs keep their own weights.
        XCTAssertFalse((graph.layer(named: "c2") as! Conv2D).useBias)
        XCTAssertEqual(try graph.forward(batch, context: context).scalars, expected.scalars)
    }

    /// ResNet50 folds every batch norm of its backbone (53), DenseNet121 its stem's and each bottleneck's (1 + 58);
    /// on oneDNN the folded models predict what the originals do.
    func testKerasApplicationsFoldOnOneDNN() throws {
        for (architecture, expectedPairs) in [(Architecture.resnet50, 53), (.densenet121, 59)] {
            let graph = try buildModel(architecture, inputShape: [32, 32, 3], head: HeadOptions(classes: 2), seed: 5)
            randomiseBatchNorms(graph, seed: 6)
            let (folded, pairs) = try graph.foldingBatchNormIntoConvolutions()
            XCTAssertEqual(pairs, expectedPairs, architecture.rawValue)
            var random = TestRandom(state: 8)
            let batch = random.tensor([3, 32, 32, 3], -100, 100)
            let context = RunContext(backend: OneDNNBackend(threads: 1), training: false)
            let expected = try graph.forward(batch, context: context), actual = try folded.forward(batch, context: context)
            XCTAssertLessThanOrEqual(actual.maxRelativeDifference(to: expected), 1e-4, architecture.rawValue)
            XCTAssertGreaterThan(expected.scalars.map { abs($0 - 0.5) }.max()!, 1e-3, "a degenerate output would prove nothing")
        }
    }
}
