import Layers
import Tensors
import XCTest

/// Invalid configs and mismatched shapes are thrown as errors naming the layer, never crashes.
final class LayerErrorTests: XCTestCase {
    func assertLayerError(_ expectedLayer: String, containing text: String, file: StaticString = #filePath,
                          line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let layerError = error as? LayerError else { return XCTFail("not a LayerError: \(error)", file: file, line: line) }
            XCTAssertEqual(layerError.layer, expectedLayer, file: file, line: line)
            XCTAssertTrue(layerError.description.contains(text), "'\(layerError)' lacks '\(text)'", file: file, line: line)
        }
    }

    func testShapeMismatchesNameTheLayer() throws {
        assertLayerError("sum", containing: "equal shapes") {
            let builder = GraphBuilder()
            let x = try builder.input(shape: [4, 4, 3])
            let a = try Conv2D(8, kernelSize: 1, name: "a")(x)
            _ = try Add(name: "sum")([a, x])
        }
        assertLayerError("join", containing: "every axis but the last") {
            let builder = GraphBuilder()
            let x = try builder.input(shape: [4, 4, 3])
            let pooled = try Pooling2D(.max, poolSize: 2, name: "pool")(x)
            _ = try Concatenate(name: "join")([x, pooled])
        }
        assertLayerError("fc", containing: "rank 2") {
            let builder = GraphBuilder()
            _ = try Dense(3, name: "fc")(try builder.input(shape: [4, 4, 3]))
        }
        assertLayerError("big", containing: "does not fit") {
            let builder = GraphBuilder()
            _ = try Conv2D(3, kernelSize: 5, name: "big")(try builder.input(shape: [3, 3, 1]))
        }
    }

    func testInvalidConfigsNameTheLayer() {
        assertLayerError("drop", containing: "rate") {
            _ = try Dropout(1.5, name: "drop")(try GraphBuilder().input(shape: [3]))
        }
        assertLayerError("zero", containing: "filters") {
            _ = try Conv2D(0, kernelSize: 3, name: "zero")(try GraphBuilder().input(shape: [5, 5, 1]))
        }
        assertLayerError("bn", containing: "epsilon") {
            _ = try BatchNormalization(epsilon: 0, name: "bn")(try GraphBuilder().input(shape: [3]))
        }
        assertLayerError("a/b", containing: "'/'") {
            _ = try Dense(2, name: "a/b")(try GraphBuilder().input(shape: [3]))
        }
        assertLayerError("twice", containing: "duplicate") {
            let builder = GraphBuilder()
            let x = try Dense(2, name: "twice")(try builder.input(shape: [3]))
            _ = try Dense(2, name: "twice")(x)
        }
    }

    func testWrongBatchShapeIsAnError() throws {
        let builder = GraphBuilder()
        let model = try builder.build(output: try Dense(2, name: "fc")(try builder.input(shape: [3], name: "in")), name: "m")
        assertLayerError("in", containing: "expects batches of shape") {
            _ = try model.forward(Tensor(zeros: [2, 4]), context: RunContext(backend: ReferenceBackend(), training: false))
        }
    }
}
