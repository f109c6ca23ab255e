import Foundation
import Layers
import Tensors
import XCTest
@_exported import TestSupport

let sharedFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/keras-reference/fixtures").standardizedFileURL

func fixture(_ name: String) -> String { sharedFixtures.appendingPathComponent(name).path }

/// Asserts that `body` throws an error whose description contains every one of `fragments`; returns the description.
@discardableResult
func assertThrows(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> String {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
        return ""
    } catch {
        let text = "\(error)"
        for fragment in fragments where !text.contains(fragment) {
            XCTFail("error \"\(text)\" does not contain \"\(fragment)\"", file: file, line: line)
        }
        return text
    }
}

/// The tiny reference model of shared/keras-reference (Conv2D+BN+ReLU+GAP+Dropout+BN+Dense softmax).
func tinyModel(seed: UInt64 = 1) throws -> Graph {
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
