import CKernels
import Foundation

/// The per-channel coefficients of `channelwiseCombination`, each one Float per channel.
public struct ChannelCoefficients {
    public var scale: [Float], xScale: [Float], center: [Float], offset: [Float]
    public init(scale: [Float], xScale: [Float], center: [Float], offset: [Float]) {
        (self.scale, self.xScale, self.center, self.offset) = (scale, xScale, center, offset)
    }
}

/// scale[c] * dy + xScale[c] * (x - center[c]) + offset[c] for every element of channel c, in one pass over two
/// tensors of the same shape and layout (plain or `channelsBlocked16`; the result has that layout, its channel
/// padding zero), split over `threads` threads. Synchronised batch norm's input gradient is such a map of the
/// output gradient and the input, which otherwise takes three passes. With `reluOutput` (same shape and layout), dy
/// counts only where it is positive, as in `channelSums`.
public func channelwiseCombination(_ dy: Tensor, _ x: Tensor, _ coefficients: ChannelCoefficients, reluOutput: Tensor? = nil,
                                   threads: Int) -> Tensor {
    precondition(dy.shape == x.shape && dy.layout == x.layout, "combining \(dy.shape) \(dy.layout) with \(x.shape) \(x.layout)")
    if let reluOutput {
        precondition(reluOutput.shape == x.shape && reluOutput.layout == x.layout,
                     "masking \(x.shape) \(x.layout) by \(reluOutput.shape) \(reluOutput.layout)")
    }
    let pattern = ChannelPattern(dy)
    // Padded channels get zero coefficients, so the padding of the result stays zero.
    func padded(_ values: [Float]) -> [Float] { values + [Float](repeating: 0, count: pattern.paddedChannels - pattern.channels) }
    let (a, b, m, o) = (padded(coefficients.scale), padded(coefficients.xScale), padded(coefficients.center),
                        padded(coefficients.offset))
    var result = Tensor(uninitializedShape: dy.shape, layout: dy.layout)
    result.withUnsafeMutableStorage { out in
        dy.withUnsafeStorage { gradient in
            x.withUnsafeStorage { input in
                withOptionalStorage(reluOutput) { mask in
                    let chunks = max(1, min(max(threads, 1), pattern.groups))
                    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                        let groups = pattern.groups(chunk, of: chunks)
                        ck_channelwise_combination(gradient.baseAddress!, input.baseAddress!, mask, out.baseAddress!, groups.lowerBound,
                                                   groups.upperBound, pattern.runsPerGroup, pattern.block, pattern.cycle, a, b, m, o)
                    }
                }
            }
        }
    }
    return result
}
