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
/// output gradient and the input, which otherwise takes three passes.
public func channelwiseCombination(_ dy: Tensor, _ x: Tensor, _ coefficients: ChannelCoefficients, threads: Int) -> Tensor {
    precondition(dy.shape == x.shape && dy.layout == x.layout, "combining \(dy.shape) \(dy.layout) with \(x.shape) \(x.layout)")
    let channels = dy.shape.last!
    let block = dy.layout == .channelsBlocked16 ? TensorLayout.channelBlock : channels
    let paddedChannels = (channels + block - 1) / block * block
    // Padded channels get zero coefficients, so the padding of the result stays zero.
    func padded(_ values: [Float]) -> [Float] { values + [Float](repeating: 0, count: paddedChannels - channels) }
    let a = padded(coefficients.scale), b = padded(coefficients.xScale), m = padded(coefficients.center)
    let o = padded(coefficients.offset)
    // Runs of `block` consecutive elements share a pattern of channels: all of them in the plain layout (one
    // position's channels), one block of 16 in the blocked layout (a position's 16 channels of one block).
    let spatial = dy.layout == .channelsBlocked16 ? dy.shape.dropFirst().dropLast().reduce(1, *) : 1
    let runsPerGroup = spatial, groups = dy.storageCount / (block * runsPerGroup)
    var result = Tensor(uninitializedShape: dy.shape, layout: dy.layout)
    result.withUnsafeMutableStorage { out in
        dy.withUnsafeStorage { gradient in
            x.withUnsafeStorage { input in
                let (outBase, dyBase, xBase) = (out.baseAddress!, gradient.baseAddress!, input.baseAddress!)
                let chunks = min(max(threads, 1), groups)
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    for group in (groups * chunk / chunks)..<(groups * (chunk + 1) / chunks) {
                        // The group's channel block: the plain layout has one block of all channels.
                        let first = dy.layout == .channelsBlocked16 ? (group % (paddedChannels / block)) * block : 0
                        for run in 0..<runsPerGroup {
                            let start = (group * runsPerGroup + run) * block
                            for lane in 0..<block {
                                let c = first + lane
                                outBase[start + lane] = a[c] * dyBase[start + lane] + b[c] * (xBase[start + lane] - m[c]) + o[c]
                            }
                        }
                    }
                }
            }
        }
    }
    return result
}
