import Foundation
import Layers
import Models
import XCTest

/// model_config both ways: ours round-trips and loads in tf_keras and Keras 3; theirs (tf_keras and Keras 3
/// `to_json()`) builds the same layers; what we cannot build is refused with an error naming the layer.
final class ModelConfigTests: XCTestCase {
    func roundTripped(_ config: JSON) throws -> JSON {
        try JSONDecoder().decode(JSON.self, from: try JSONEncoder().encode(config))
    }

    func testOurConfigRoundTrips() throws {
        for (architecture, head) in [(Architecture.resnet50, HeadOptions(classes: 2)), (.densenet121, HeadOptions(classes: 3, batchNorm: false))] {
            let model = try buildModel(architecture, inputShape: [32, 32, 3], head: head, seed: 1)
            model.layer(named: "conv1_conv")!.trainable = false
            let config = kerasModelConfig(model)
            let rebuilt = try buildGraph(fromModelConfig: try roundTripped(config), seed: 1)
            XCTAssertEqual(kerasModelConfig(rebuilt), config, "\(architecture) config after a round trip")
            XCTAssertEqual(summaries(rebuilt), summaries(model), "\(architecture)")
            XCTAssertEqual(rebuilt.name, model.name)
            XCTAssertFalse(rebuilt.layer(named: "conv1_conv")!.trainable)
        }
    }

    func testConfigInKerasOrderWithMergeInputsInCallOrder() throws {
        let model = try buildModel(.resnet50, inputShape: [32, 32, 3], head: nil, seed: 1)
        let entries = kerasModelConfig(model)["config"]!["layers"]!.array
        XCTAssertEqual(entries.map { $0["name"]! }, kerasLayerOrder(model).map { .string($0.name) })
        let add = entries.first { $0["name"] == "conv2_block1_add" }!
        XCTAssertEqual(add["inbound_nodes"], [[["conv2_block1_0_bn", 0, 0, [:]], ["conv2_block1_3_bn", 0, 0, [:]]]])
        XCTAssertNil(add["module"])
        XCTAssertEqual(entries.first { $0["name"] == "conv1_bn" }!["config"]!["axis"], [3])
    }

    /// tf_keras and Keras 3 both load what we write (as their load_model reads an .h5 model_config) into the same
    /// layers and parameter count.
    func testKerasLoadsOurConfig() throws {
        let models = try [(Architecture.resnet50, HeadOptions(classes: 2)), (.densenet121, HeadOptions(classes: 2))].map {
            try buildModel($0.0, inputShape: [32, 32, 3], head: $0.1, seed: 1)
        }
        let folder = try Referee.folder.get()
        let configFiles = try models.map { model in
            let file = folder.appendingPathComponent("ours_\(model.name).json")
            try JSONEncoder().encode(kerasModelConfig(model)).write(to: file)
            return file
        }
        let resultFile = folder.appendingPathComponent("ours_loaded.json")
        try Referee.run(["check-config", resultFile.path] + configFiles.map(\.path))
        let loaded = try readJSON(resultFile)
        for (model, file) in zip(models, configFiles) {
            for flavour in ["tfk", "k3"] {
                guard let keras = loaded[file.lastPathComponent]?[flavour] else { return XCTFail("no \(flavour) result for \(model.name)") }
                let theirs = keras["layers"]!.array.map { LayerSummary(keras: $0, rank: 0) }
                assertSameLayers(summaries(model).map(\.withoutConfig), theirs.map(\.withoutConfig), "\(model.name) in \(flavour)")
                XCTAssertEqual(keras["count_params"], .number(Double(model.parameterCount)), "\(model.name) in \(flavour)")
            }
        }
    }

    func testKerasConfigsOfTheTinyModelBuild() throws {
        for flavour in ["tfk", "k3"] {
            let model = try buildGraph(fromModelConfig: try Referee.json("config_tiny_\(flavour).json"), seed: 1)
            let keras = try Referee.json("config_tiny_\(flavour)_layers.json")
            // The rank (batch included) that resolves axis -1 is that of the layer's output in our model.
            let theirs = keras["layers"]!.array.map { layer in
                LayerSummary(keras: layer, rank: model.nodes.first { .string($0.layer.name) == layer["name"] }.map { $0.outputShape.count + 1 } ?? 0)
            }
            assertSameLayers(summaries(model), theirs, "tiny model from \(flavour)")
            XCTAssertEqual(.number(Double(model.parameterCount)), keras["count_params"])
            XCTAssertEqual(model.name, "tiny")
        }
    }

    /// ResNet50 + head as tf_keras and Keras 3 describe it builds exactly what buildModel builds.
    func testKerasConfigsOfResNet50WithHeadMatchOurBuilder() throws {
        let ours = try buildModel(.resnet50, inputShape: [64, 64, 3], head: HeadOptions(classes: 2), seed: 1)
        for flavour in ["tfk", "k3"] {
            let model = try buildGraph(fromModelConfig: try Referee.json("config_resnet50_head_\(flavour).json"), seed: 1)
            let keras = try Referee.json("config_resnet50_head_\(flavour)_layers.json")
            XCTAssertEqual(.number(Double(model.parameterCount)), keras["count_params"], flavour)
            XCTAssertEqual(summaries(model).map(\.name), keras["layers"]!.array.map { $0["name"]!.string }, flavour)
            // Every config value, not just the summarised ones: the parsed layers are the layers we build.
            let configs = { (graph: Graph) in kerasLayerOrder(graph).dropFirst().map { JSON.object($0.config) } }
            XCTAssertEqual(configs(model), configs(ours), flavour)
        }
    }

    /// tf_keras names DenseNet's stem `conv1/conv`; Keras 3 refuses '/', and so do we: it becomes `conv1_conv`.
    func testTfKerasDenseNetNamesWithSlashBecomeKeras3Names() throws {
        let config = try Referee.json("config_densenet121_tfk.json")
        XCTAssertTrue(config["config"]!["layers"]!.array.contains { $0["name"] == "conv1/conv" })
        let model = try buildGraph(fromModelConfig: config, seed: 1)
        let ours = try buildModel(.densenet121, inputShape: [64, 64, 3], head: nil, seed: 1)
        let keras = try Referee.json("config_densenet121_tfk_layers.json")
        XCTAssertEqual(summaries(model).map(\.name),
                       keras["layers"]!.array.map { $0["name"]!.string.replacingOccurrences(of: "/", with: "_") })
        XCTAssertEqual(summaries(model).dropFirst().filter { !$0.name.hasPrefix("zero_padding2d") },
                       summaries(ours).dropFirst().filter { !$0.name.hasPrefix("zero_padding2d") })
    }

    func testLayersOutOfTopologicalOrderAreSorted() throws {
        let config = try Referee.json("config_resnet50_head_k3.json")
        guard case .object(var top) = config, case .object(var inner)? = top["config"] else { return XCTFail() }
        inner["layers"] = .array(inner["layers"]!.array.reversed())
        top["config"] = .object(inner)
        let reversed = try buildGraph(fromModelConfig: .object(top), seed: 1)
        let original = try buildGraph(fromModelConfig: config, seed: 1)
        XCTAssertEqual(kerasModelConfig(reversed), kerasModelConfig(original))
    }

    /// A model saved under Keras' mixed_bfloat16 policy (Keras 3's DTypePolicy object, or tf_keras' policy name) has
    /// float32 weights: it builds the same model as the float32 config.
    func testMixedBFloat16PolicyConfigsBuildTheFloat32Model() throws {
        let tiny = try Referee.json("config_tiny_k3.json")
        let float32 = try buildGraph(fromModelConfig: tiny, seed: 1)
        let policy: JSON = ["module": "keras", "class_name": "DTypePolicy", "config": ["name": "mixed_bfloat16"]]
        for dtype in [policy, "mixed_bfloat16"] as [JSON] {
            var config = tiny
            for layer in float32.layers.dropFirst() { config = config.changingLayerConfig(layer.name) { $0["dtype"] = dtype } }
            let mixed = try buildGraph(fromModelConfig: config, seed: 1)
            XCTAssertEqual(summaries(mixed), summaries(float32), "dtype \(dtype)")
        }
    }

    func testUnsupportedOrMalformedConfigsAreRefusedNamingTheLayer() throws {
        let tiny = try Referee.json("config_tiny_k3.json")
        let cases: [(JSON, String)] = [
            (tiny.changingLayer("relu") { $0["class_name"] = "LeakyReLU" }, "layer 'relu': unsupported layer class 'LeakyReLU'"),
            (tiny.changingLayerConfig("conv") { $0["dilation_rate"] = [2, 2] }, "layer 'conv': Conv2D config key 'dilation_rate'"),
            (tiny.changingLayerConfig("conv") { $0["data_format"] = "channels_first" }, "layer 'conv': Conv2D config key 'data_format'"),
            (tiny.changingLayerConfig("predictions") { $0["activation"] = "sigmoid" }, "unsupported activation 'sigmoid'"),
            (tiny.changingLayerConfig("conv") { $0["filters"] = nil }, "layer 'conv': Conv2D config key 'filters': missing"),
            (tiny.changingLayerConfig("conv") { $0["kernel_size"] = "three" }, "layer 'conv': Conv2D config key 'kernel_size'"),
            (tiny.changingLayerConfig("bn") { $0["axis"] = 1 }, "layer 'bn': BatchNormalization config key 'axis'"),
            (tiny.changingLayerConfig("conv") { $0["kernel_regularizer"] = ["class_name": "L2"] }, "config key 'kernel_regularizer'"),
            (tiny.changingLayerConfig("conv") { $0["dtype"] = "float16" }, "layer 'conv': Conv2D config key 'dtype'"),
            (tiny.changingLayer("bn") { $0["inbound_nodes"] = [[["nowhere", 0, 0, [:]]]] }, "layer 'bn': its input 'nowhere'"),
        ]
        for (config, expected) in cases {
            XCTAssertThrowsError(try buildGraph(fromModelConfig: config, seed: 1)) { error in
                XCTAssertTrue("\(error)".contains(expected), "expected '\(expected)' in: \(error)")
            }
        }
        XCTAssertThrowsError(try buildGraph(fromModelConfig: ["class_name": "Sequential", "config": [:]], seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("unsupported model class 'Sequential'"), "\(error)")
        }
    }
}

extension LayerSummary {
    /// Name, class and weight shapes only: a config loaded by Keras reports Keras' own config values.
    var withoutConfig: LayerSummary {
        var summary = self
        summary.config = [:]
        return summary
    }
}

extension JSON {
    var string: String { if case .string(let text) = self { text } else { "" } }
}
