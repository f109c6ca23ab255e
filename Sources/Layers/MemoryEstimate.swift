import Tensors

/// What running a graph holds in memory, estimated from its shapes before anything is allocated, so that an input
/// size or batch the machine cannot hold is refused with one clear line. The estimates count only what the run
/// certainly holds (they err low): a refusal is always right, a pass is no promise.
extension Graph {
    /// Floats of every layer's output for one sample, but those backward recomputes when `recomputing`.
    func keptActivationFloatsPerSample(recomputing: Bool) -> Double {
        nodes.indices.reduce(0) { $0 + (recomputing && isRecomputed($1) ? 0 : Double(nodes[$1].outputShape.reduce(1, *))) }
    }

    /// A training step: every activation kept for backward (but those recomputed, when `recomputingActivations`;
    /// by default as the graph is set), the input batch, and per weight its value, its gradient and two optimizer
    /// slots.
    public func estimatedTrainingBytes(batch: Int, recomputingActivations: Bool? = nil) -> Double {
        let perSample = keptActivationFloatsPerSample(recomputing: recomputingActivations ?? recomputesActivations)
        return 4 * (Double(batch) * perSample + 4 * Double(parameterCount))
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
