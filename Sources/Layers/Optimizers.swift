import CKernels
import Foundation
import Tensors

/// An optimizer updates trainable weights from their gradients. Its state is addressable per weight path
/// ("layer/weight") so checkpoints can store and restore it exactly.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Number of updates applied so far (Keras `iterations`).
    var iterations: Int { get set }
    /// Slot tensors per weight path, e.g. Adam's [m, v].
    var slots: [String: [Tensor]] { get set }
    /// Keras `optimizer_config["config"]`.
    var config: [String: JSON] { get }
    /// Applies one update to every weight that has a gradient, then counts the iteration.
    func apply(to weights: [(path: String, weight: Weight)])
}

extension Optimizer {
    /// What compiling a Keras model again with a new optimizer of the same kind does (the transfer-learning recipe
    /// after unfreezing the backbone): no slots, iteration 0 (so Adam's bias correction starts over), the new rate.
    public func restart(learningRate: Float) {
        (slots, iterations, self.learningRate) = ([:], 0, learningRate)
    }
}

/// Keras Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
/// w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon), with t the 1-based step.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    public var iterations = 0
    public var slots: [String: [Tensor]] = [:]
    /// Threads that update each large weight (its slices in parallel; the result does not depend on the count).
    public let threads: Int

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                threads: Int = 1) {
        (self.learningRate, self.beta1, self.beta2, self.epsilon) = (learningRate, beta1, beta2, epsilon)
        self.threads = threads
    }

    public var config: [String: JSON] {
        ["name": "Adam", "learning_rate": .number(Double(learningRate)), "beta_1": .number(Double(beta1)),
         "beta_2": .number(Double(beta2)), "epsilon": .number(Double(epsilon)), "amsgrad": false]
    }

    public func apply(to weights: [(path: String, weight: Weight)]) {
        let step = Double(iterations + 1)
        let stepSize = Float(Double(learningRate) * (1 - pow(Double(beta2), step)).squareRoot()
                             / (1 - pow(Double(beta1), step)))
        for (path, weight) in weights {
            guard let gradient = weight.gradient else { continue }
            // Taken out of `slots` so the moments are uniquely owned and updated in place.
            var moments = slots.removeValue(forKey: path) ?? [Tensor(zeros: weight.value.shape), Tensor(zeros: weight.value.shape)]
            var secondMoment = moments.removeLast(), firstMoment = moments.removeLast()
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            weight.value.withUnsafeMutableBufferPointer { w in
                firstMoment.withUnsafeMutableBufferPointer { m in
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        gradient.withUnsafeBufferPointer { g in
                            inParallelSlices(of: w.count, threads: threads) { start, count in
                                ck_adam_update(w.baseAddress! + start, m.baseAddress! + start, v.baseAddress! + start,
                                               g.baseAddress! + start, count, stepSize, b1, b2, eps)
                            }
                        }
                    }
                }
            }
            slots[path] = [firstMoment, secondMoment]
        }
        iterations += 1
    }
}

/// Keras SGD: with momentum, velocity = momentum * velocity - lr * g; w += velocity
/// (Nesterov: w += momentum * velocity - lr * g).
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public var iterations = 0
    public var slots: [String: [Tensor]] = [:]
    /// Threads that update each large weight (its slices in parallel; the result does not depend on the count).
    public let threads: Int

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false, threads: Int = 1) {
        (self.learningRate, self.momentum, self.nesterov) = (learningRate, momentum, nesterov)
        self.threads = threads
    }

    public var config: [String: JSON] {
        ["name": "SGD", "learning_rate": .number(Double(learningRate)), "momentum": .number(Double(momentum)),
         "nesterov": .bool(nesterov)]
    }

    public func apply(to weights: [(path: String, weight: Weight)]) {
        let (lr, mu, nesterov) = (learningRate, momentum, nesterov)
        for (path, weight) in weights {
            guard let gradient = weight.gradient else { continue }
            var velocityState = slots.removeValue(forKey: path)?[0] ?? Tensor(zeros: weight.value.shape)
            weight.value.withUnsafeMutableBufferPointer { w in
                velocityState.withUnsafeMutableBufferPointer { velocity in
                    gradient.withUnsafeBufferPointer { g in
                        inParallelSlices(of: w.count, threads: threads) { start, count in
                            ck_sgd_update(w.baseAddress! + start, velocity.baseAddress! + start, g.baseAddress! + start, count,
                                          lr, mu, nesterov ? 1 : 0)
                        }
                    }
                }
            }
            slots[path] = [velocityState]
        }
        iterations += 1
    }
}

/// Calls `update(start, count)` for consecutive slices covering 0..<`total`, on up to `threads` threads at once.
/// Slices are at least 32768 elements (smaller weights stay on the calling thread: a thread's start-up would cost
/// more than it saves) and start at multiples of 16, so each slice's vector loop sees aligned data as the whole would.
/// For elementwise updates the result is the same however the work is split.
func inParallelSlices(of total: Int, threads: Int, _ update: (_ start: Int, _ count: Int) -> Void) {
    let slices = max(1, min(threads, total / 32768))
    guard slices > 1 else { return update(0, total) }
    let length = (total / slices + 15) / 16 * 16
    DispatchQueue.concurrentPerform(iterations: slices) { slice in
        let start = slice * length
        if start < total { update(start, min(length, total - start)) }
    }
}
