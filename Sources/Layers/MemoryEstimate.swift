import Tensors

/// What running a graph holds in memory, estimated from its shapes before anything is allocated, so that an input
/// size or batch the machine cannot hold is refused with one clear line. The estimates count only what the run
/// certainly holds (they err low): a refusal is always right, a pass is no promise.
extension Graph {
    /// Floats of every layer's output for one sample.
    var activationFloatsPerSample: Double {
        nodes.reduce(0) { $0 + Double($1.outputShape.reduce(1, *)) }
    }

    /// A training step: every activation kept for backward, the input batch, and per weight its value, its
    /// gradient and two optimizer slots.
    public func estimatedTrainingBytes(batch: Int) -> Double {
        4 * (Double(batch) * activationFloatsPerSample + 4 * Double(parameterCount))
    }

    /// Inference: the largest layer input and output alive together, and the weights.
    public func estimatedInferenceBytes(batch: Int) -> Double {
        var largestPair = 0.0
        for node in nodes {
            let output = Double(node.outputShape.reduce(1, *))
            let inputs = node.inputs.reduce(0.0) { $0 + Double(nodes[$1].outputShape.reduce(1, *)) }
            largestPair = max(largestPair, output + inputs)
        }
        return 4 * (Double(batch) * largestPair + Double(parameterCount))
    }
}
