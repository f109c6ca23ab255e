import Tensors

/// One Keras layer, mirrored one-to-one: same class name, name, config keys, and weights in the same order and
/// layout as Keras stores them. Layers run on a `Backend`; a layer keeps what its backward pass needs from the
/// last training forward pass, and drops it when backward has run.
public protocol Layer: AnyObject {
    /// Keras' class name, e.g. "Conv2D".
    var className: String { get }
    var name: String { get }
    /// Keras' `trainable`: a frozen layer gets no weight updates (and a frozen BatchNormalization runs in
    /// inference mode, as in Keras).
    var trainable: Bool { get set }
    /// Weights in Keras' file order (trainable ones first, then non-trainable), empty before `build`.
    var weights: [Weight] { get }
    /// The layer's Keras config (the "config" object in `model_config`).
    var config: [String: JSON] { get }

    /// Creates the weights for inputs of these shapes (batch axis excluded) and returns the output shape.
    /// Throws `LayerError` naming the layer when the inputs do not fit its config.
    func build(inputShapes: [[Int]], initializer: inout WeightInitializer) throws -> [Int]
    func forward(_ inputs: [Tensor], context: RunContext) -> Tensor
    /// Returns dLoss/dInput for each input and stores dLoss/dWeight in each weight's `gradient`.
    func backward(_ outputGradient: Tensor, context: RunContext) -> [Tensor]
    /// Only stores dLoss/dWeight, for a layer whose inputs lead to no weights (a model's first layers).
    func weightGradients(_ outputGradient: Tensor, context: RunContext)
}

/// A layer whose output is a softmax: its backward can start from dLoss/dLogits directly, which is how Keras
/// differentiates categorical cross-entropy on a softmax output (exact, no clipping of probabilities).
public protocol SoftmaxOutputLayer: Layer {
    var endsInSoftmax: Bool { get }
    func backward(logitGradient: Tensor, context: RunContext) -> [Tensor]
}

/// A layer whose training pass communicates with the other ranks (synchronised batch norm). On a rank without
/// samples in a step it still runs, on an empty batch, so that every rank makes the same collective calls.
public protocol CollectiveLayer: Layer {
    func takesPartInCollectives(_ context: RunContext) -> Bool
}

/// A layer that keeps one tensor of its training forward pass for backward (a convolution's or batch norm's input,
/// a ReLU's output). A graph that recomputes activations (`Graph.recomputesActivations`) takes it away once forward
/// is done with it and gives it back, recomputed, before the layer's backward (a batch norm gets its input back
/// when its ReLU output is recomputed from it, at the first reader's backward).
protocol RecomputableKeptTensor: Layer {
    /// Drops the kept tensor and says whether there was one (a frozen batch norm keeps none).
    func releaseKeptTensor() -> Bool
    func restoreKeptTensor(_ tensor: Tensor)
}

/// One weight variable: Keras name (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`),
/// its value, whether an optimizer updates it, and the gradient of the last backward pass (until a training step's
/// optimizer has used it).
public final class Weight {
    public let name: String
    public var value: Tensor
    public let isTrainableVariable: Bool
    public var gradient: Tensor?

    public init(name: String, value: Tensor, isTrainableVariable: Bool = true) {
        (self.name, self.value, self.isTrainableVariable) = (name, value, isTrainableVariable)
    }
}

/// What a forward/backward pass needs to know besides its inputs.
public struct RunContext {
    public var backend: Backend
    public var training: Bool
    /// Whether layers keep what their backward pass needs: in training, and for gradients of an inference pass
    /// (Grad-CAM), where batch norm and dropout behave as at inference.
    public var keepsForBackward: Bool
    /// One random key per sample in the batch, derived by the data pipeline from (seed, epoch, sample index),
    /// so dropout masks do not depend on how a global batch is split over ranks.
    public var sampleKeys: [UInt64]

    /// Sums values over all ranks in place (synchronised batch norm); nil in a single process. Layers call it in
    /// graph order, the same calls on every rank, even a rank without samples in the step.
    public var crossRankSum: ((UnsafeMutableBufferPointer<Double>) -> Void)?

    /// Called with a node's index (in `Graph.nodes`) once backward is done with that node, so its weight gradients
    /// are final: the data-parallel step starts summing them over ranks while backward goes on.
    public var weightGradientsFinal: ((Int) -> Void)?

    public init(backend: Backend, training: Bool, sampleKeys: [UInt64] = [],
                crossRankSum: ((UnsafeMutableBufferPointer<Double>) -> Void)? = nil) {
        (self.backend, self.training, self.sampleKeys, self.crossRankSum) = (backend, training, sampleKeys, crossRankSum)
        keepsForBackward = training
    }
}

public struct LayerError: Error, CustomStringConvertible, Equatable {
    public let layer: String
    public let message: String
    public init(layer: String, _ message: String) { (self.layer, self.message) = (layer, message) }
    public var description: String { "layer '\(layer)': \(message)" }
}

extension Layer {
    public func weightGradients(_ outputGradient: Tensor, context: RunContext) { _ = backward(outputGradient, context: context) }

    /// Keras' `base_config`: name, trainable, dtype.
    func baseConfig() -> [String: JSON] {
        ["name": .string(name), "trainable": .bool(trainable), "dtype": "float32"]
    }

    func requireSingleInput(_ shapes: [[Int]], rank: Int) throws -> [Int] {
        guard shapes.count == 1 else { throw LayerError(layer: name, "expects 1 input, got \(shapes.count)") }
        guard shapes[0].count == rank else {
            throw LayerError(layer: name, "expects inputs of rank \(rank + 1) (batch included), got shape \(["batch"] + shapes[0].map(String.init))")
        }
        return shapes[0]
    }

    func weight(_ weightName: String) -> Weight {
        guard let found = weights.first(where: { $0.name == weightName }) else {
            preconditionFailure("layer '\(name)' has no weight '\(weightName)' (not built?)")
        }
        return found
    }
}
