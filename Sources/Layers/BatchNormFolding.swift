import Tensors

extension Graph {
    /// An inference-only copy of the model in which every BatchNormalization that directly follows a linear Conv2D
    /// (the conv's only consumer) is folded into that convolution: with s = gamma / sqrt(moving_variance + epsilon),
    /// kernel' = kernel * s per output channel and bias' = (bias - moving_mean) * s + beta. One pass over the
    /// activations less per folded pair (ResNet: every batch norm; DenseNet: the one after each 1x1 bottleneck).
    /// Layers that are not folded are shared with this graph; the copy is for prediction, not for training or
    /// saving (its layer list no longer matches the Keras model's).
    public func foldingBatchNormIntoConvolutions() throws -> (graph: Graph, foldedPairs: Int) {
        var consumers = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for input in node.inputs { consumers[input] += 1 } }

        var newNodes: [Node] = []
        var newIndex = [Int](repeating: -1, count: nodes.count)
        var folded = 0
        for (index, node) in nodes.enumerated() {
            if let norm = node.layer as? BatchNormalization, let convIndex = node.inputs.first,
               let conv = nodes[convIndex].layer as? Conv2D, conv.activation == .linear, consumers[convIndex] == 1 {
                // Replace the conv's node (already appended) by the folded conv; the norm's consumers read it.
                let position = newIndex[convIndex]
                let convNode = newNodes[position]
                newNodes[position] = Node(layer: try Self.folded(conv, norm, inputShape: nodes[nodes[convIndex].inputs[0]].outputShape),
                                          inputs: convNode.inputs, outputShape: convNode.outputShape)
                newIndex[index] = position
                folded += 1
                continue
            }
            newNodes.append(Node(layer: node.layer, inputs: node.inputs.map { newIndex[$0] }, outputShape: node.outputShape))
            newIndex[index] = newNodes.count - 1
        }
        return (Graph(name: name, nodes: newNodes), folded)
    }

    private static func folded(_ conv: Conv2D, _ norm: BatchNormalization, inputShape: [Int]) throws -> Conv2D {
        let result = Conv2D(conv.filters, kernelSize: conv.kernelSize, strides: conv.strides, padding: conv.padding,
                            useBias: true, name: conv.name)
        var initializer = WeightInitializer.placeholder
        _ = try result.build(inputShapes: [inputShape], initializer: &initializer)

        let filters = conv.filters
        let gamma = norm.scale ? norm.weight("gamma").value.scalars : [Float](repeating: 1, count: filters)
        let beta = norm.center ? norm.weight("beta").value.scalars : [Float](repeating: 0, count: filters)
        let mean = norm.weight("moving_mean").value.scalars, variance = norm.weight("moving_variance").value.scalars
        let scales = (0..<filters).map { Double(gamma[$0]) / (Double(variance[$0]) + Double(norm.epsilon)).squareRoot() }

        // Keras' kernel layout (kh, kw, in, filters): the output channel is the fastest axis. A plain loop over the
        // channels: ResNet50 has 23 M kernel values, which a generic enumerated map takes seconds over in debug builds.
        let source = conv.weights[0].value.scalars
        var kernel = [Float](repeating: 0, count: source.count)
        for start in stride(from: 0, to: source.count, by: filters) {
            for channel in 0..<filters { kernel[start + channel] = Float(Double(source[start + channel]) * scales[channel]) }
        }
        let bias = conv.useBias ? conv.weights[1].value.scalars : [Float](repeating: 0, count: filters)
        let foldedBias = (0..<filters).map { Float((Double(bias[$0]) - Double(mean[$0])) * scales[$0] + Double(beta[$0])) }
        result.weights[0].value = Tensor(shape: conv.weights[0].value.shape, scalars: kernel)
        result.weights[1].value = Tensor(shape: [filters], scalars: foldedBias)
        return result
    }
}
