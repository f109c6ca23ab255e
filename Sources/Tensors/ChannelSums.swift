import CKernels
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
/// which the fused oneDNN primitives compute only next to outputs it would throw away. With `reluOutput` (same shape
/// and layout), dy counts only where it is positive: dy is then the gradient at the output of a ReLU after the batch
/// norm, whose backward this pass applies on the way.
public func channelSums(_ x: Tensor, _ dy: Tensor? = nil, reluOutput: Tensor? = nil, threads: Int) -> ChannelSums {
    if let dy { precondition(dy.shape == x.shape && dy.layout == x.layout, "summing \(dy.shape) \(dy.layout) with \(x.shape) \(x.layout)") }
    if let reluOutput {
        precondition(dy != nil && reluOutput.shape == x.shape && reluOutput.layout == x.layout,
                     "masking \(x.shape) \(x.layout) by \(reluOutput.shape) \(reluOutput.layout)")
    }
    let pattern = ChannelPattern(x)
    let chunks = max(1, min(max(threads, 1), pattern.groups))
    // Each chunk's sums: first, then second, `paddedChannels` each.
    let width = pattern.paddedChannels
    var partial = [Double](repeating: 0, count: chunks * 2 * width)
    partial.withUnsafeMutableBufferPointer { partialSums in
        let sumsBase = partialSums.baseAddress!
        x.withUnsafeStorage { input in
            withOptionalStorage(reluOutput) { mask in
                func accumulate(_ a: UnsafePointer<Float>) {
                    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                        let groups = pattern.groups(chunk, of: chunks), first = sumsBase + chunk * 2 * width
                        ck_channel_sums(a, input.baseAddress!, mask, groups.lowerBound, groups.upperBound, pattern.runsPerGroup,
                                        pattern.block, pattern.cycle, first, first + width)
                    }
                }
                if let dy { dy.withUnsafeStorage { accumulate($0.baseAddress!) } } else { accumulate(input.baseAddress!) }
            }
        }
    }
    let channels = x.shape.last!
    var sums = ChannelSums(first: [Double](repeating: 0, count: channels), second: [Double](repeating: 0, count: channels))
    for chunk in 0..<chunks {
        for c in 0..<channels {
            sums.first[c] += partial[chunk * 2 * width + c]
            sums.second[c] += partial[chunk * 2 * width + width + c]
        }
    }
    return sums
}

/// How the elements of an NHWC tensor in the plain or `channelsBlocked16` layout map to channels: `groups` groups,
/// each `runsPerGroup` runs of `block` consecutive elements with consecutive channels, the first of them channel
/// (group % cycle) * block. Plain: a group is one position, its one run all channels. Blocked: a group is one
/// sample's block of 16 channels, its runs the 16 channels at every spatial position.
struct ChannelPattern {
    let channels: Int
    let block: Int
    let paddedChannels: Int
    let runsPerGroup: Int
    let groups: Int
    var cycle: Int { paddedChannels / block }

    init(_ x: Tensor) {
        let blocked = x.layout == .channelsBlocked16
        channels = x.shape.last!
        block = blocked ? TensorLayout.channelBlock : channels
        paddedChannels = (channels + block - 1) / block * block
        runsPerGroup = blocked ? x.shape.dropFirst().dropLast().reduce(1, *) : 1
        groups = x.storageCount / max(block * runsPerGroup, 1)
    }

    /// Chunk `chunk` of `chunks` equal parts of the groups.
    func groups(_ chunk: Int, of chunks: Int) -> Range<Int> { (groups * chunk / chunks)..<(groups * (chunk + 1) / chunks) }
}

/// `body` with the storage of `tensor`, or with nil.
func withOptionalStorage<Result>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> Result) -> Result {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeStorage { body($0.baseAddress!) }
}
