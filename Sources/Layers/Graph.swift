import Tensors

/// A Keras functional model: layers connected by inbound edges, run in topological (construction) order.
/// Forward keeps each activation only until its last consumer has run; layers keep what their backward needs.
/// Backward runs in reverse order and sums gradients where a tensor feeds several layers (shortcuts, concats).
public final class Graph {
    public struct Node {
        public let layer: Layer
        /// Indices of the nodes feeding this one, in call order (Keras' `inbound_nodes`).
        public let inputs: [Int]
        /// Output shape without the batch axis.
        public let outputShape: [Int]

        /// What a profile records of the layer besides its name.
        var profileArguments: [String: Profiler.Argument] {
            ["class": .text(String(describing: type(of: layer))), "output": .text("\(outputShape)")]
        }
    }

    public let name: String
    public let nodes: [Node]
    /// Number of consumers of each node's output (the graph output counts as one).
    private let consumerCounts: [Int]
    /// Whether a gradient at each node's output reaches a layer with weights (false for the input and the
    /// weightless layers right after it, such as the stem's zero padding).
    private let reachesWeights: [Bool]
    /// Whether the last forward pass had no samples (a rank's share of a short last step can be empty).
    private var lastBatchWasEmpty = false
    /// For each batch normalization, addition or linear convolution whose output only a ReLU activation reads: that
    /// activation's node index. Forward then runs the two as one pass (`fusesReLU`; after a convolution,
    /// `fusesIntoConvolutions`); the results are the same, bit for bit.
    private let fusedReLU: [Int: Int]
    /// For each linear convolution whose output only an addition of two inputs reads: that addition's node index. In
    /// inference the addition runs the convolution, adding its other input (and applying its fused ReLU) in the same
    /// pass, as ResNet's blocks do once batch norm is folded into the convolutions (`fusesIntoConvolutions`).
    private let residualConvolutions: [Int: Int]
    /// Whether forward fuses the ReLUs after batch norms and additions (on by default; off to compare).
    public var fusesReLU = true
    /// Whether forward runs ReLUs and additions inside the linear convolutions before them (on by default; off to
    /// compare).
    public var fusesIntoConvolutions = true
    /// Whether training recomputes, in backward, the activations that are cheap to recompute instead of keeping them
    /// from forward (Pleiss et al. 2017, "Memory-efficient implementation of DenseNets"): the outputs of the fused
    /// batch norm + ReLU pairs that only convolutions read, and the running concatenations of dense blocks, each the
    /// first channels of its block's last one. A DenseNet's memory then grows linearly with its depth instead of
    /// quadratically; the gradients are the same, bit for bit. Off by default.
    public var recomputesActivations = false
    /// The readers of each node's output.
    private let consumers: [[Int]]
    /// The fused pairs whose ReLU output only convolutions read: ReLU node -> its batch normalization's node.
    private let recomputableReLUs: [Int: Int]
    /// Concatenations that are the first input of the next concatenation and are otherwise read only by batch
    /// norms: node -> the last concatenation of that chain, whose first channels they are.
    private let concatenationPrefixes: [Int: Int]
    /// Each chain's first concatenation -> its last: backward needs the last one's output down to the first.
    private let chainStarts: [Int: Int]
    /// Of the last training forward pass: the nodes whose layers gave their kept tensor away -> the node whose
    /// output it is; and the outputs of the chains' last concatenations, kept here for their prefixes.
    private var releasedKeptTensors: [Int: Int] = [:]
    private var chainEnds: [Int: Tensor] = [:]

    init(name: String, nodes: [Node]) {
        self.name = name
        self.nodes = nodes
        var readers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() { for input in node.inputs { readers[input].append(index) } }
        consumers = readers
        var counts = readers.map(\.count)
        counts[nodes.count - 1] += 1
        consumerCounts = counts
        var reaches = [Bool](repeating: false, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            reaches[index] = !node.layer.weights.isEmpty || node.inputs.contains { reaches[$0] }
        }
        reachesWeights = reaches
        var fused: [Int: Int] = [:]
        for (index, node) in nodes.enumerated() {
            guard (node.layer as? Activation)?.function == .relu, node.inputs.count == 1, let source = node.inputs.first,
                  nodes[source].layer is BatchNormalization || nodes[source].layer is Add || Self.isLinearConvolution(nodes[source]),
                  counts[source] == 1 else { continue }
            fused[source] = index
        }
        fusedReLU = fused
        var residuals: [Int: Int] = [:]
        for (index, node) in nodes.enumerated() where node.layer is Add && node.inputs.count == 2 {
            // The later of two convolutions: the earlier one's output, kept until the addition, is then the residual.
            guard let convolution = node.inputs.filter({ Self.isLinearConvolution(nodes[$0]) && counts[$0] == 1 }).max() else { continue }
            residuals[convolution] = index
        }
        residualConvolutions = residuals
        recomputableReLUs = Dictionary(uniqueKeysWithValues: fused.compactMap { batchNorm, relu in
            nodes[batchNorm].layer is BatchNormalization && relu < nodes.count - 1 && readers[relu].allSatisfy { nodes[$0].layer is Conv2D }
                ? (relu, batchNorm) : nil
        })
        func nextConcatenation(after index: Int) -> Int? {
            guard nodes[index].layer is Concatenate else { return nil }
            let next = readers[index].filter { nodes[$0].layer is Concatenate && nodes[$0].inputs.first == index }
            let others = readers[index].filter { !next.contains($0) }
            return next.count == 1 && others.allSatisfy({ nodes[$0].layer is BatchNormalization }) ? next[0] : nil
        }
        var prefixes: [Int: Int] = [:]
        for index in nodes.indices.reversed() {
            guard let next = nextConcatenation(after: index) else { continue }
            prefixes[index] = prefixes[next] ?? next
        }
        concatenationPrefixes = prefixes
        chainStarts = Dictionary(grouping: prefixes.keys) { prefixes[$0]! }.reduce(into: [:]) { $0[$1.value.min()!] = $1.key }
    }

    private static func isLinearConvolution(_ node: Node) -> Bool { (node.layer as? Conv2D)?.activation == .linear }

    /// Whether forward runs node `source` and the ReLU after it as one pass.
    private func runsReLUFused(after source: Int) -> Bool {
        fusedReLU[source] != nil && (Self.isLinearConvolution(nodes[source]) ? fusesIntoConvolutions : fusesReLU)
    }

    public var inputShape: [Int] { nodes[0].outputShape }
    public var outputShape: [Int] { nodes[nodes.count - 1].outputShape }
    public var layers: [Layer] { nodes.map(\.layer) }
    public var outputLayer: Layer { nodes[nodes.count - 1].layer }

    public func layer(named name: String) -> Layer? { nodes.first { $0.layer.name == name }?.layer }

    /// Every weight, layer by layer in construction order, with its "layer/weight" path.
    public var namedWeights: [(path: String, weight: Weight)] {
        nodes.flatMap { node in node.layer.weights.map { ("\(node.layer.name)/\($0.name)", $0) } }
    }

    /// The weights an optimizer updates: trainable variables of layers whose `trainable` is set.
    public var trainableWeights: [(path: String, weight: Weight)] {
        nodes.flatMap { node in
            node.layer.trainable ? node.layer.weights.filter(\.isTrainableVariable).map { ("\(node.layer.name)/\($0.name)", $0) } : []
        }
    }

    public var parameterCount: Int { namedWeights.reduce(0) { $0 + $1.weight.value.count } }

    /// Runs the model on a batch and returns its output in the plain layout. Throws if the batch does not have
    /// the model's input shape.
    public func forward(_ input: Tensor, context: RunContext) throws -> Tensor {
        try checkInput(input)
        lastBatchWasEmpty = input.shape[0] == 0
        guard !lastBatchWasEmpty else { return forwardWithoutSamples(context: context) }
        return run(input, context: { _ in context }, retaining: nil).output.plain()  // a no-op for the (N, C) outputs of classifiers
    }

    private func checkInput(_ input: Tensor) throws {
        guard Array(input.shape.dropFirst()) == inputShape, input.rank == inputShape.count + 1 else {
            throw LayerError(layer: nodes[0].layer.name,
                             "model '\(name)' expects batches of shape [batch] + \(inputShape), got \(input.shape)")
        }
    }

    /// The forward pass over every node, each run with `context(index)`; the output of node `retaining` is kept
    /// and returned beside the model's output.
    private func run(_ input: Tensor, context: (Int) -> RunContext, retaining: Int?) -> (output: Tensor, retained: Tensor?) {
        var values = [Tensor?](repeating: nil, count: nodes.count)
        var remaining = consumerCounts
        if let retaining { remaining[retaining] += 1 }
        values[0] = input
        (releasedKeptTensors, chainEnds) = ([:], [:])
        let chainEndNodes = Set(concatenationPrefixes.values)
        // Convolutions their addition runs, in inference (their inputs stay until then).
        var deferred = Set<Int>()
        let contextOf = context
        for index in 1..<nodes.count {
            let node = nodes[index], context = context(index)
            if fusesIntoConvolutions, let addition = residualConvolutions[index], index != retaining,
               !context.keepsForBackward, !contextOf(addition).keepsForBackward {
                deferred.insert(index)
                continue
            }
            // The retained output must be the node's own, not the ReLU's after it: that pair runs unfused.
            let reluFused = runsReLUFused(after: index) && index != retaining
            let convolution = node.inputs.first { deferred.contains($0) }
            values[index] = Profiler.measure(node.layer.name, "forward", node.profileArguments) {
                if let convolution {
                    let residual = values[node.inputs.first { $0 != convolution }!]!
                    return (nodes[convolution].layer as! Conv2D).forward(values[nodes[convolution].inputs[0]]!, adding: residual,
                                                                         thenReLU: reluFused, context: context)
                }
                let inputs = node.inputs.map { values[$0]! }
                if reluFused {
                    if let batchNorm = node.layer as? BatchNormalization { return batchNorm.forward(inputs, context: context, thenReLU: true) }
                    if let add = node.layer as? Add { return add.forwardThenReLU(inputs, context: context) }
                    if let conv = node.layer as? Conv2D { return conv.forward(inputs[0], adding: nil, thenReLU: true, context: context) }
                }
                if let relu = node.layer as? Activation, let source = node.inputs.first, fusedReLU[source] == index,
                   runsReLUFused(after: source), source != retaining {
                    return relu.forward(appliedBefore: inputs[0], context: context)
                }
                return node.layer.forward(inputs, context: context)
            }
            let recomputing = recomputesActivations && context.training && context.keepsForBackward
            if recomputing && chainEndNodes.contains(index) { chainEnds[index] = values[index] }
            // A deferred convolution's input is released with its addition's.
            for input in convolution.map({ node.inputs + nodes[$0].inputs }) ?? node.inputs {
                remaining[input] -= 1
                guard remaining[input] == 0 else { continue }
                values[input] = nil
                if recomputing { releaseKeptCopies(of: input) }
            }
        }
        // A chain none of whose concatenations was given up (its batch norms frozen) needs no end kept.
        chainEnds = chainEnds.filter { end, _ in releasedKeptTensors.values.contains { concatenationPrefixes[$0] == end } }
        return (values[nodes.count - 1]!, retaining.map { values[$0]! })
    }

    /// Whether backward recomputes the node's output when the graph recomputes activations (in a training step whose
    /// batch norms use batch statistics).
    func isRecomputed(_ index: Int) -> Bool { recomputableReLUs[index] != nil || concatenationPrefixes[index] != nil }

    /// Takes a recomputable node's output away from the layers that kept it for backward, once all its readers
    /// have run: a fused pair's ReLU output from the ReLU and the convolutions after it (unless a frozen batch norm
    /// kept no input to recompute it from), a dense block's running concatenation from the batch norms reading it.
    private func releaseKeptCopies(of index: Int) {
        let holders: [Int]
        if let batchNorm = recomputableReLUs[index] {
            guard (nodes[batchNorm].layer as! BatchNormalization).keepsBatchStatistics else { return }
            holders = [index] + consumers[index]
        } else if concatenationPrefixes[index] != nil {
            holders = consumers[index]
        } else {
            return
        }
        for holder in holders where (nodes[holder].layer as? RecomputableKeptTensor)?.releaseKeptTensor() == true {
            releasedKeptTensors[holder] = index
        }
    }

    /// Back-propagates dLoss/dOutput through the last training forward pass, filling every weight's gradient.
    /// Returns dLoss/dInput.
    @discardableResult
    public func backward(outputGradient: Tensor, context: RunContext) -> Tensor {
        propagate(context: context) { $0.backward(outputGradient, context: context) }!
    }

    /// Back-propagates from dLoss/dLogits of a softmax output layer (see `SoftmaxOutputLayer`).
    @discardableResult
    public func backward(logitGradient: Tensor, context: RunContext) -> Tensor {
        propagate(context: context, towardInput: true) { _ in softmaxOutput.backward(logitGradient: logitGradient, context: context) }!
    }

    /// What a training step needs: every weight's gradient from dLoss/dLogits, without the gradients that reach
    /// no weight (those of the input and, through it, the stem convolution's input gradient).
    public func backwardToWeights(logitGradient: Tensor, context: RunContext) {
        _ = propagate(context: context, towardInput: false) { _ in softmaxOutput.backward(logitGradient: logitGradient, context: context) }
    }

    private var softmaxOutput: SoftmaxOutputLayer {
        guard let output = outputLayer as? SoftmaxOutputLayer, output.endsInSoftmax else {
            preconditionFailure("model '\(name)': backward from logits needs a softmax output layer")
        }
        return output
    }

    /// Runs backward from the output layer (through `outputBackward`) to the input, or (not `towardInput`) only
    /// as far as gradients reach weights. Returns dLoss/dInput when computed.
    /// Goes down to node `lowest` and returns the gradient at the output of the node before it: the input by
    /// default, an inner node for Grad-CAM.
    private func propagate(context: RunContext, towardInput: Bool = true, through lowest: Int = 1,
                           outputBackward: (Layer) -> [Tensor]) -> Tensor? {
        guard !lastBatchWasEmpty else { return backwardWithoutSamples(context: context) }
        defer { (releasedKeptTensors, chainEnds) = ([:], [:]) }
        var gradients = [Tensor?](repeating: nil, count: nodes.count)
        // The outputs of fused ReLUs, by their batch norm's node: the gradient at a ReLU's output goes to its batch
        // norm, which applies the ReLU's backward with its own (synchronised batch norm: in the same passes).
        var reluOutputs: [Int: Tensor] = [:]
        // Outputs recomputed for the layers that gave them away in forward; each is dropped after its own node.
        var recomputed: [Int: Tensor] = [:]
        func recompute(_ index: Int) -> Tensor {
            if let value = recomputed[index] { return value }
            if let batchNorm = recomputableReLUs[index] { giveBack(batchNorm) }
            let value = Profiler.measure(nodes[index].layer.name, "recompute", nodes[index].profileArguments) {
                if let batchNorm = recomputableReLUs[index] {
                    return (nodes[batchNorm].layer as! BatchNormalization).recomputedOutput(thenReLU: true, backend: context.backend)
                }
                return chainEnds[concatenationPrefixes[index]!]!.channelPrefix(nodes[index].outputShape.last!)
            }
            recomputed[index] = value
            return value
        }
        func giveBack(_ holder: Int) {
            guard let source = releasedKeptTensors.removeValue(forKey: holder) else { return }
            (nodes[holder].layer as! RecomputableKeptTensor).restoreKeptTensor(recompute(source))
        }
        for index in stride(from: nodes.count - 1, through: lowest, by: -1) {
            let node = nodes[index]
            giveBack(index)
            defer {
                recomputed[index] = nil
                if let end = chainStarts[index] { chainEnds[end] = nil }
            }
            Profiler.measure(node.layer.name, "backward", node.profileArguments) {
                if !towardInput && index < nodes.count - 1 && !node.inputs.contains(where: { reachesWeights[$0] }) {
                    if let outputGradient = gradients[index], !node.layer.weights.isEmpty {
                        node.layer.weightGradients(outputGradient, context: context)
                    }
                    gradients[index] = nil
                    return
                }
                let inputGradients: [Tensor]
                if index == nodes.count - 1 {
                    inputGradients = outputBackward(node.layer)
                } else {
                    guard let outputGradient = gradients[index] else { return }  // does not reach the output
                    gradients[index] = nil
                    // (Not where the batch norm's backward would compute only its weight gradients: below the layers
                    // whose gradients reach a weight.)
                    if fusesReLU, let relu = node.layer as? Activation, let source = node.inputs.first, source >= lowest,
                       fusedReLU[source] == index, nodes[source].layer is BatchNormalization,
                       towardInput || nodes[source].inputs.contains(where: { reachesWeights[$0] }) {
                        reluOutputs[source] = relu.handOverKeptOutput()
                        gradients[source] = outputGradient  // the ReLU is its batch norm's only reader
                        return
                    }
                    if let batchNorm = node.layer as? BatchNormalization {
                        inputGradients = batchNorm.backward(outputGradient, reluOutput: reluOutputs.removeValue(forKey: index), context: context)
                    } else {
                        inputGradients = node.layer.backward(outputGradient, context: context)
                    }
                }
                for (input, inputGradient) in zip(node.inputs, inputGradients) {
                    gradients[input] = gradients[input].map { context.backend.add([$0, inputGradient]) } ?? inputGradient
                }
            }
            if !node.layer.weights.isEmpty { context.weightGradientsFinal?(index) }
        }
        return gradients[lowest - 1]
    }
}

extension Graph {
    /// The last node with a spatial (height, width, channels) output: the last convolutional block's output, where
    /// Grad-CAM looks (`conv5_block3_out` in Keras' ResNet50, `relu` in its DenseNets). Nil when there is none.
    public var lastSpatialNode: Int? {
        nodes.indices.dropFirst().last { nodes[$0].outputShape.count == 3 }
    }

    /// Grad-CAM's inputs (Selvaraju et al. 2017): node `target`'s output on `input` in inference mode (batch norm
    /// with its moving statistics, no dropout), and the gradient at it of each sample's pre-softmax score for
    /// `classes[sample]`, both in the plain layout. Only the layers after `target` keep what backward needs.
    public func scoreGradient(_ input: Tensor, at target: Int, classes: [Int],
                              backend: Backend) throws -> (activation: Tensor, gradient: Tensor) {
        try checkInput(input)
        let batch = input.shape[0], classCount = outputShape.reduce(1, *)
        guard batch > 0, classes.count == batch, classes.allSatisfy({ (0..<classCount).contains($0) }) else {
            throw LayerError(layer: outputLayer.name, "Grad-CAM needs one class in 0..<\(classCount) per sample, got \(classes) for \(batch) samples")
        }
        guard (1..<(nodes.count - 1)).contains(target) else {
            throw LayerError(layer: nodes[min(max(target, 0), nodes.count - 1)].layer.name, "Grad-CAM needs a layer between the input and the output")
        }
        guard let output = outputLayer as? SoftmaxOutputLayer, output.endsInSoftmax else {
            throw LayerError(layer: outputLayer.name, "Grad-CAM needs the class scores before a softmax output")
        }
        let inference = RunContext(backend: backend, training: false)
        var keeping = inference
        keeping.keepsForBackward = true
        lastBatchWasEmpty = false
        let (_, activation) = run(input, context: { $0 > target ? keeping : inference }, retaining: target)
        var oneHot = Tensor(zeros: [batch, classCount])
        oneHot.withUnsafeMutableBufferPointer { values in
            for (sample, chosen) in classes.enumerated() { values[sample * classCount + chosen] = 1 }
        }
        let gradient = propagate(context: keeping, through: target + 1) { _ in output.backward(logitGradient: oneHot, context: keeping) }!
        for (_, weight) in namedWeights { weight.gradient = nil }  // by-products a served model would keep for good
        return (activation!.plain(), gradient.plain())
    }
}

extension Graph {
    /// A rank without samples still makes every collective call the others make (layer by layer, in the same
    /// order), so its collective layers run on empty batches; nothing else computes.
    fileprivate func forwardWithoutSamples(context: RunContext) -> Tensor {
        for node in nodes.dropFirst() where (node.layer as? CollectiveLayer)?.takesPartInCollectives(context) == true {
            _ = node.layer.forward([Tensor(zeros: [0] + nodes[node.inputs[0]].outputShape)], context: context)
        }
        return Tensor(zeros: [0] + outputShape)
    }

    /// Zero weight gradients (this rank adds nothing to the sums over ranks), and the collective layers' backward.
    fileprivate func backwardWithoutSamples(context: RunContext) -> Tensor {
        for (_, weight) in namedWeights where weight.isTrainableVariable { weight.gradient = Tensor(zeros: weight.value.shape) }
        for node in nodes.reversed() where (node.layer as? CollectiveLayer)?.takesPartInCollectives(context) == true {
            _ = node.layer.backward(Tensor(zeros: [0] + node.outputShape), context: context)
        }
        return Tensor(zeros: [0] + inputShape)
    }
}

/// A tensor being defined while a graph is built: Keras' symbolic `KerasTensor`.
public struct SymbolicTensor {
    let builder: GraphBuilder
    let node: Int
    /// Shape without the batch axis.
    public var shape: [Int] { builder.nodes[node].outputShape }
}

/// Builds a `Graph` the way Keras' functional API does: `x = try Conv2D(64, kernelSize: 3, name: "c")(x)`.
public final class GraphBuilder {
    fileprivate(set) var nodes: [Graph.Node] = []
    private var initializer: WeightInitializer
    private var names: Set<String> = []

    /// `seed` makes weight initialisation reproducible.
    public init(seed: UInt64 = 0) { initializer = WeightInitializer(seed: seed) }

    /// With `WeightInitializer.placeholder` for a model whose weights are all loaded right after it is built.
    public init(initializer: WeightInitializer) { self.initializer = initializer }

    public func input(shape: [Int], name: String = "input_1") throws -> SymbolicTensor {
        guard nodes.isEmpty else { throw LayerError(layer: name, "a graph has exactly one input") }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw LayerError(layer: name, "input shape must have positive dimensions, got \(shape)")
        }
        return try append(InputLayer(shape: shape, name: name), inputs: [])
    }

    func append(_ layer: Layer, inputs: [SymbolicTensor]) throws -> SymbolicTensor {
        guard !names.contains(layer.name) else { throw LayerError(layer: layer.name, "duplicate layer name") }
        guard !layer.name.isEmpty, !layer.name.contains("/") else {
            throw LayerError(layer: layer.name, "layer names must be non-empty and contain no '/' (Keras 3 refuses them)")
        }
        guard inputs.allSatisfy({ $0.builder === self }) else {
            throw LayerError(layer: layer.name, "inputs come from another graph")
        }
        let shape = try layer.build(inputShapes: inputs.map(\.shape), initializer: &initializer)
        names.insert(layer.name)
        nodes.append(Graph.Node(layer: layer, inputs: inputs.map(\.node), outputShape: shape))
        return SymbolicTensor(builder: self, node: nodes.count - 1)
    }

    /// The finished model. `output` must be the last tensor defined (layers after it would never run).
    public func build(output: SymbolicTensor, name: String) throws -> Graph {
        guard output.builder === self, output.node == nodes.count - 1 else {
            throw LayerError(layer: nodes[output.node].layer.name, "the model output must be the last layer added")
        }
        return Graph(name: name, nodes: nodes)
    }
}

extension Layer {
    /// Applies the layer to a symbolic tensor, building its weights for that input's shape.
    public func callAsFunction(_ input: SymbolicTensor) throws -> SymbolicTensor {
        try input.builder.append(self, inputs: [input])
    }

    /// Applies a merge layer (Add, Concatenate) to several tensors, in call order.
    public func callAsFunction(_ inputs: [SymbolicTensor]) throws -> SymbolicTensor {
        guard let first = inputs.first else { throw LayerError(layer: name, "called with no inputs") }
        return try first.builder.append(self, inputs: inputs)
    }
}
