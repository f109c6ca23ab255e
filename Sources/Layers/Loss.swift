import Foundation
import Tensors

/// Keras `categorical_crossentropy` on a softmax output, with optional Keras `class_weight`.
/// Reduction is Keras' "sum over batch size": sum of (weighted) per-sample losses divided by the number of
/// samples in the *global* batch, so that gradients summed over ranks equal the single-process gradient.
public struct CategoricalCrossentropy {
    /// One weight per class (Keras `class_weight`), or nil for all ones.
    public var classWeights: [Float]?

    public init(classWeights: [Float]? = nil) { self.classWeights = classWeights }

    /// Sum over this batch of w[label] * -log(p[label]), divided by `globalBatchSize`.
    /// Probabilities are floored at the smallest normal Float, so the loss stays finite.
    public func loss(probabilities: Tensor, labels: [Int], globalBatchSize: Int) -> Float {
        let classes = probabilities.shape[1]
        return probabilities.withUnsafeBufferPointer { p in
            var total = 0.0
            for (sample, label) in labels.enumerated() {
                let probability = max(p[sample * classes + label], .leastNormalMagnitude)
                total -= Double(weight(label)) * Foundation.log(Double(probability))
            }
            return Float(total / Double(globalBatchSize))
        }
    }

    /// dLoss/dLogits = w[label] * (p - onehot(label)) / globalBatchSize: the exact gradient through the softmax.
    public func logitGradient(probabilities: Tensor, labels: [Int], globalBatchSize: Int) -> Tensor {
        let classes = probabilities.shape[1]
        precondition(labels.count == probabilities.shape[0], "\(labels.count) labels for \(probabilities.shape[0]) samples")
        var gradient = probabilities
        gradient.withUnsafeMutableBufferPointer { g in
            for (sample, label) in labels.enumerated() {
                precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
                let scale = weight(label) / Float(globalBatchSize)
                g[sample * classes + label] -= 1
                for k in 0..<classes { g[sample * classes + k] *= scale }
            }
        }
        return gradient
    }

    private func weight(_ label: Int) -> Float { classWeights?[label] ?? 1 }
}
