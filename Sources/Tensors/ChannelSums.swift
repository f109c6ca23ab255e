import Foundation

/// Two sums per channel, in Double.
public struct ChannelSums: Equatable {
    public var first: [Double], second: [Double]
    public init(first: [Double], second: [Double]) { (self.first, self.second) = (first, second) }
}

/// Per channel, over every position of `x`: sum(x) and sum(x * x) (`dy` nil: batch-norm statistics), or sum(dy) and
/// sum(dy * x) (batch norm's weight gradients), in one read-only pass over tensors of the same shape and layout (plain
/// or `channelsBlocked16`), accumulated in Double (a Float product is exact in Double) and split over `threads`
/// threads whose partial sums are added in a fixed order. Synchronised batch norm needs only these sums from a rank,
/// which the fused oneDNN primitives compute only next to outputs it would throw away.
public func channelSums(_ x: Tensor, _ dy: Tensor? = nil, threads: Int) -> ChannelSums {
    if let dy { precondition(dy.shape == x.shape && dy.layout == x.layout, "summing \(dy.shape) \(dy.layout) with \(x.shape) \(x.layout)") }
    let channels = x.shape.last!
    let block = x.layout == .channelsBlocked16 ? TensorLayout.channelBlock : channels
    let paddedChannels = (channels + block - 1) / block * block
    // As in `channelwiseCombination`: runs of `block` elements, one position's channels (plain) or one position's
    // 16 channels of one block (blocked).
    let runsPerGroup = x.layout == .channelsBlocked16 ? x.shape.dropFirst().dropLast().reduce(1, *) : 1
    let groups = x.storageCount / (block * max(runsPerGroup, 1))
    let chunks = max(1, min(max(threads, 1), groups))
    // Each chunk's sums: first, then second, paddedChannels each.
    var partial = [Double](repeating: 0, count: chunks * 2 * paddedChannels)
    partial.withUnsafeMutableBufferPointer { partialSums in
        let sumsBase = partialSums.baseAddress!
        x.withUnsafeStorage { input in
            let xBase = input.baseAddress!
            func accumulate(_ dyBase: UnsafePointer<Float>?) {
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    let first = sumsBase + chunk * 2 * paddedChannels, second = first + paddedChannels
                    for group in (groups * chunk / chunks)..<(groups * (chunk + 1) / chunks) {
                        let channel = x.layout == .channelsBlocked16 ? (group % (paddedChannels / block)) * block : 0
                        for run in 0..<runsPerGroup {
                            let start = (group * runsPerGroup + run) * block
                            if let dyBase {
                                for lane in 0..<block {
                                    let g = Double(dyBase[start + lane])
                                    first[channel + lane] += g
                                    second[channel + lane] += g * Double(xBase[start + lane])
                                }
                            } else {
                                for lane in 0..<block {
                                    let value = Double(xBase[start + lane])
                                    first[channel + lane] += value
                                    second[channel + lane] += value * value
                                }
                            }
                        }
                    }
                }
            }
            if let dy { dy.withUnsafeStorage { accumulate($0.baseAddress!) } } else { accumulate(nil) }
        }
    }
    var sums = ChannelSums(first: [Double](repeating: 0, count: channels), second: [Double](repeating: 0, count: channels))
    for chunk in 0..<chunks {
        for c in 0..<channels {
            sums.first[c] += partial[chunk * 2 * paddedChannels + c]
            sums.second[c] += partial[chunk * 2 * paddedChannels + paddedChannels + c]
        }
    }
    return sums
}
