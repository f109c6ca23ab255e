import Foundation
import Layers
import Models
import XCTest

/// Our six backbones against keras.applications (include_top=False, weights=None): the same layers in Keras'
/// `model.layers` order, with the same classes, weight shapes, key config values and parameter counts.
final class ArchitectureParityTests: XCTestCase {
    /// Names Keras does not fix: the InputLayer's ("input_layer" in Keras 3, "input_1" in tf_keras) and, in
    /// DenseNet, the two unnamed ZeroPadding2D layers' (auto-numbered per process).
    func withoutUnfixedNames(_ layers: [LayerSummary]) -> [LayerSummary] {
        layers.map { layer in
            var layer = layer
            if layer.className == "InputLayer" || layer.name.hasPrefix("zero_padding2d") { layer.name = "(auto)" }
            return layer
        }
    }

    /// The appendix TSVs of keras-h5-format.md (Keras 3.15 and tf_keras 2.21 at 224x224).
    /// Every backbone layer works on 4-D tensors (batch, h, w, c), hence rank 4 for the axis.
    func tsvLayers(_ file: String) throws -> [LayerSummary] {
        let text = try String(contentsOf: kerasReference.appendingPathComponent("layer-orders/\(file)"), encoding: .utf8)
        let rows = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        return try rows.map { columns in
            let shapes = columns[4].split(separator: ";").map { weight in
                weight.split(separator: ":")[1].split(separator: "x").map { Int($0)! }
            }
            let config = try JSONDecoder().decode([String: JSON].self, from: Data(columns[5].utf8))
            return LayerSummary(name: String(columns[1]), className: String(columns[3]), weightShapes: shapes, config: config, rank: 4)
        }
    }

    func testResNet50MatchesKerasLayerOrderTable() throws {
        let model = try buildModel(.resnet50, inputShape: [224, 224, 3], head: nil, seed: 1)
        let ours = summaries(model)
        assertSameLayers(withoutUnfixedNames(ours), withoutUnfixedNames(try tsvLayers("resnet50_notop_layers.tsv")),
                         "ResNet50 vs resnet50_notop_layers.tsv")
        // The derived order is not the creation order: the shortcut convolution is created first but listed later.
        let derived = ours.map(\.name), created = model.layers.map(\.name)
        XCTAssertLessThan(created.firstIndex(of: "conv2_block1_0_conv")!, created.firstIndex(of: "conv2_block1_1_conv")!)
        XCTAssertGreaterThan(derived.firstIndex(of: "conv2_block1_0_conv")!, derived.firstIndex(of: "conv2_block1_2_relu")!)
    }

    func testDenseNet201MatchesKerasLayerOrderTable() throws {
        let ours = summaries(try buildModel(.densenet201, inputShape: [224, 224, 3], head: nil, seed: 1))
        assertSameLayers(withoutUnfixedNames(ours), withoutUnfixedNames(try tsvLayers("densenet201_notop_layers.tsv")),
                         "DenseNet201 vs densenet201_notop_layers.tsv")
    }

    func testAllBackbonesMatchKerasApplications() throws {
        let reference = try Referee.json("architectures.json")
        for architecture in Architecture.allCases {
            let model = try buildModel(architecture, inputShape: [224, 224, 3], head: nil, seed: 1)
            guard let keras = reference[architecture.rawValue] else { return XCTFail("referee has no \(architecture)") }
            let theirs = keras["layers"]!.array.map { LayerSummary(keras: $0, rank: 4) }
            assertSameLayers(withoutUnfixedNames(summaries(model)), withoutUnfixedNames(theirs), architecture.kerasName)
            XCTAssertEqual(JSON.number(Double(model.parameterCount)), keras["count_params"], "\(architecture.kerasName) parameters")
            XCTAssertEqual(model.outputShape.map { JSON.number(Double($0)) }, keras["output_shape"]!.array,
                           "\(architecture.kerasName) output shape")
        }
    }

    func testHeadOptionsAndInputChecks() throws {
        let model = try buildModel(.densenet121, inputShape: [32, 40, 3], head: HeadOptions(classes: 3, dropout: 0.2, batchNorm: false), seed: 1)
        XCTAssertEqual(model.layers.suffix(3).map(\.name), ["avg_pool", "dropout", "predictions"])
        XCTAssertEqual((model.layer(named: "dropout") as? Dropout)?.rate, 0.2)
        XCTAssertEqual(model.outputShape, [3])
        let withBatchNorm = try buildModel(.resnet50, inputShape: [32, 32, 3], head: HeadOptions(classes: 2), seed: 1)
        XCTAssertEqual(withBatchNorm.layers.suffix(4).map(\.name), ["avg_pool", "dropout", "bn_head", "predictions"])
        XCTAssertEqual((withBatchNorm.layer(named: "bn_head") as? BatchNormalization)?.epsilon, 1e-3)
        XCTAssertThrowsError(try buildModel(.resnet50, inputShape: [31, 64, 3], head: nil, seed: 1)) { error in
            XCTAssertTrue("\(error)".contains(">= 32"), "\(error)")
        }
        XCTAssertEqual(Architecture.resnet101.preprocessingMode, "caffe")
        XCTAssertEqual(Architecture.densenet169.preprocessingMode, "torch")
    }

    func testSameSeedSameWeights() throws {
        let first = try buildModel(.densenet121, inputShape: [32, 32, 3], head: HeadOptions(classes: 2), seed: 7)
        let second = try buildModel(.densenet121, inputShape: [32, 32, 3], head: HeadOptions(classes: 2), seed: 7)
        let third = try buildModel(.densenet121, inputShape: [32, 32, 3], head: HeadOptions(classes: 2), seed: 8)
        let kernel = { (model: Graph) in model.layer(named: "conv3_block2_2_conv")!.weights[0].value.scalars }
        XCTAssertEqual(kernel(first), kernel(second))
        XCTAssertNotEqual(kernel(first), kernel(third))
    }
}
