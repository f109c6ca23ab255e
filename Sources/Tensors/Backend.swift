/// The numerical operations layers are built from. Two implementations exist: `OneDNNBackend` (the fast path)
/// and `ReferenceBackend` (plain Swift, the oracle the fast path is tested against).
///
/// Shapes: activations NHWC (rank 4) or (N, C) (rank 2); "channels" is always the last axis.
/// Conv2D kernels HWIO, Dense kernels (in, out), as in Keras. Callers validate shapes; a backend
/// treats a shape mismatch as a programming error.
///
/// Layouts (`TensorLayout`): every operation accepts its tensors in any layout; weights, weight gradients,
/// batch statistics and rank-2 tensors are always plain. `ReferenceBackend` reads through the plain-order
/// accessors and returns plain tensors. `OneDNNBackend` keeps NHWC activations in the layout its
/// convolutions prefer: `conv2D` returns that layout (reordering an input in another one); batch
/// normalization, ReLU, softmax, pooling, zero padding, `add` and `concat` return the layout of their (first)
/// input; `globalAveragePool` and `dense` return plain (N, C). A backward pass takes the output gradient in any
/// layout (it is reordered to the forward output's if it differs) and returns the input gradient in the
/// forward input's layout (`concatBackward`: in the gradient's layout).
public protocol Backend: AnyObject {
    var name: String { get }

    // MARK: Convolution
    /// 2-D cross-correlation (Keras Conv2D) of `x` (N,H,W,C) with `kernel` (KH,KW,C,O), plus `bias` (O).
    func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry) -> Tensor
    /// `conv2D`, then `residual` (of the output's shape, in any layout) added and a ReLU applied where `relu`: one pass
    /// where the backend can, the results those of the separate operations bit for bit. What a model runs where a
    /// convolution alone feeds an addition or a ReLU (in inference, once batch norm is folded into the convolutions).
    func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry, adding residual: Tensor?, relu: Bool) -> Tensor
    /// The input gradient only when `inputGradient` is set: a model's first convolution needs none.
    func conv2DBackward(_ x: Tensor, kernel: Tensor, outputGradient: Tensor, geometry: WindowGeometry,
                        withBias: Bool, inputGradient: Bool) -> ConvGradients

    // MARK: Batch normalization (statistics over every axis but the last)
    /// Normalises with the batch's mean and biased variance, which it returns.
    func batchNormTraining(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) -> BatchNormTrainingOutput
    func batchNormInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                            epsilon: Float) -> Tensor
    /// relu(batchNormInference(...)) in one pass where the backend can.
    func batchNormReLUInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                epsilon: Float) -> Tensor
    /// Gradients of `batchNormTraining` (the batch statistics depend on `x`).
    func batchNormBackward(_ x: Tensor, outputGradient: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor,
                           epsilon: Float) -> BatchNormGradients
    /// `channelwiseCombination` of `outputGradient` and `x`, in `outputGradient`'s layout: synchronised batch norm's
    /// input gradient in one pass. With `reluOutput`, `outputGradient` is the gradient at the output of a ReLU after
    /// the batch norm (whose output `reluOutput` is), and the ReLU's backward is applied to it in the same pass; the
    /// result then has `reluOutput`'s layout, as the ReLU's backward would have given it.
    func channelwiseCombination(outputGradient: Tensor, x: Tensor, _ coefficients: ChannelCoefficients, reluOutput: Tensor?) -> Tensor
    /// `channelSums` of `x` (sum and sum of squares) or of `outputGradient` and `x` (sum of dy, sum of dy * x):
    /// what synchronised batch norm needs from a rank, in one read-only pass; `reluOutput` as in
    /// `channelwiseCombination`.
    func channelSums(_ x: Tensor, outputGradient: Tensor?, reluOutput: Tensor?) -> ChannelSums

    // MARK: Pooling and padding
    /// Max pooling treats padding as minus infinity; average pooling excludes padding from the count (TensorFlow).
    func pool2D(_ x: Tensor, kind: PoolKind, geometry: WindowGeometry) -> Tensor
    /// `pool2D` in a pass that backward will follow, with what its backward needs (`PoolingRecord`).
    func pool2DForTraining(_ x: Tensor, kind: PoolKind, geometry: WindowGeometry) -> (output: Tensor, record: PoolingRecord)
    /// The input gradient of the pass `record` came from, in its input's layout (`outputGradient` in any layout).
    func pool2DBackward(_ record: PoolingRecord, outputGradient: Tensor) -> Tensor
    /// (N,H,W,C) -> (N,C)
    func globalAveragePool(_ x: Tensor) -> Tensor
    func globalAveragePoolBackward(outputGradient: Tensor, inputShape: [Int], inputLayout: TensorLayout) -> Tensor
    func zeroPad2D(_ x: Tensor, padding: Padding2D) -> Tensor
    func zeroPad2DBackward(outputGradient: Tensor, padding: Padding2D) -> Tensor

    // MARK: Elementwise
    func relu(_ x: Tensor) -> Tensor
    /// `output` is relu's result (positive exactly where the input was).
    func reluBackward(output: Tensor, outputGradient: Tensor) -> Tensor
    /// Softmax over the last axis.
    func softmax(_ x: Tensor) -> Tensor
    func softmaxBackward(output: Tensor, outputGradient: Tensor) -> Tensor
    /// Sum of equally shaped tensors (Keras Add). Its backward passes the gradient to every input unchanged.
    func add(_ inputs: [Tensor]) -> Tensor
    /// relu(add(inputs)) in one pass where the backend can.
    func addReLU(_ inputs: [Tensor]) -> Tensor
    /// Concatenation on the last axis (Keras Concatenate), in input order.
    func concat(_ inputs: [Tensor]) -> Tensor
    /// Splits a gradient on the last axis into pieces of the given widths.
    func concatBackward(outputGradient: Tensor, channels: [Int]) -> [Tensor]

    // MARK: Dense
    /// `x` (N, in) times `kernel` (in, out) plus `bias` (out).
    func dense(_ x: Tensor, kernel: Tensor, bias: Tensor?) -> Tensor
    func denseBackward(_ x: Tensor, kernel: Tensor, outputGradient: Tensor, withBias: Bool) -> DenseGradients
}

public struct ConvGradients {
    public var input: Tensor?
    public var kernel: Tensor
    public var bias: Tensor?
    public init(input: Tensor?, kernel: Tensor, bias: Tensor?) {
        (self.input, self.kernel, self.bias) = (input, kernel, bias)
    }
}

public struct DenseGradients {
    public var input: Tensor
    public var kernel: Tensor
    public var bias: Tensor?
    public init(input: Tensor, kernel: Tensor, bias: Tensor?) {
        (self.input, self.kernel, self.bias) = (input, kernel, bias)
    }
}

public struct BatchNormTrainingOutput {
    public var output: Tensor
    public var mean: Tensor
    /// Biased (divide by count) batch variance, the one used for normalisation.
    public var variance: Tensor
    public init(output: Tensor, mean: Tensor, variance: Tensor) {
        (self.output, self.mean, self.variance) = (output, mean, variance)
    }
}

public struct BatchNormGradients {
    public var input: Tensor
    public var gamma: Tensor
    public var beta: Tensor
    public init(input: Tensor, gamma: Tensor, beta: Tensor) {
        (self.input, self.gamma, self.beta) = (input, gamma, beta)
    }
}

/// What a pooling's backward needs of its forward pass, held by the layer in between: the pooling itself and what the
/// backend kept, as little as it can. The reference backend keeps the input; oneDNN, for max pooling, the workspace of
/// where each maximum was (a byte per output value, where the input takes four per input value), for average pooling
/// nothing.
public struct PoolingRecord {
    public let kind: PoolKind
    public let geometry: WindowGeometry
    public let inputShape: [Int]
    public let inputLayout: TensorLayout
    /// The backend's own part (an input tensor, a workspace), nil where backward needs nothing more.
    public let kept: Any?

    public init(_ kind: PoolKind, _ geometry: WindowGeometry, input x: Tensor, kept: Any?) {
        (self.kind, self.geometry, self.inputShape, self.inputLayout, self.kept) = (kind, geometry, x.shape, x.layout, kept)
    }
}

extension Backend {
    /// `conv2D(_:kernel:bias:geometry:adding:relu:)` as the separate operations: what a backend without a fused
    /// kernel for it runs.
    public func conv2DApart(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry, adding residual: Tensor?,
                            relu: Bool) -> Tensor {
        let convolved = conv2D(x, kernel: kernel, bias: bias, geometry: geometry)
        let sum = residual.map { add([convolved, $0]) } ?? convolved
        return relu ? self.relu(sum) : sum
    }

    /// The input gradient of `pool2D(x, ...)`, for callers that kept the input: the training pass is run again.
    public func pool2DBackward(_ x: Tensor, outputGradient: Tensor, kind: PoolKind, geometry: WindowGeometry) -> Tensor {
        pool2DBackward(pool2DForTraining(x, kind: kind, geometry: geometry).record, outputGradient: outputGradient)
    }
}
