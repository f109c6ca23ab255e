import Foundation
import Layers
import Models
import OneDNN
import Tensors
import XCTest

/// Inference on random weights (every array random, BN statistics included) equals Keras 3's: the referee writes
/// the weights in Keras' order, the input and Keras' output; we load the weights positionally in our derived order.
final class ForwardParityTests: XCTestCase {
    let backend = OneDNNBackend(threads: 2)

    func assertPredictsLikeKeras(_ model: Graph, case name: String) throws {
        loadPositionally(model, from: try Referee.numpy("forward_\(name)_weights"))
        let output = try model.forward(try Referee.numpy("forward_\(name)_input"), context: RunContext(backend: backend, training: false))
        let difference = assertClose(output, try Referee.numpy("forward_\(name)_output"), tolerance: 1e-4, name)
        print("forward parity \(name): max relative difference \(difference)")
    }

    func testResNet50() throws {
        try assertPredictsLikeKeras(try buildModel(.resnet50, inputShape: [64, 64, 3], head: nil, seed: 1), case: "resnet50")
    }

    func testDenseNet121() throws {
        try assertPredictsLikeKeras(try buildModel(.densenet121, inputShape: [64, 64, 3], head: nil, seed: 1), case: "densenet121")
    }

    func testDenseNet201() throws {
        try assertPredictsLikeKeras(try buildModel(.densenet201, inputShape: [64, 64, 3], head: nil, seed: 1), case: "densenet201")
    }

    /// The model Keras 3 describes in its own model_config (ResNet50 + the report head), built from that config.
    func testResNet50WithHeadBuiltFromKeras3Config() throws {
        let model = try buildGraph(fromModelConfig: try Referee.json("config_resnet50_head_k3.json"), seed: 1)
        try assertPredictsLikeKeras(model, case: "resnet50_head_k3")
    }
}
