/// Plain-Swift implementation of every backend operation: slow, obviously correct, accumulating in Double.
/// It is the oracle the oneDNN backend is tested against, and never used for training.
/// It reads tensors of any layout through the row-major accessors and returns plain tensors.
public final class ReferenceBackend: Backend {
    public let name = "reference"
    public init() {}
}

/// Index helper for NHWC tensors.
struct NHWC {
    let n, h, w, c: Int
    init(_ shape: [Int]) {
        precondition(shape.count == 4, "expected an NHWC tensor, got shape \(shape)")
        (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
    }
    @inline(__always) func index(_ b: Int, _ y: Int, _ x: Int, _ ch: Int) -> Int { ((b * h + y) * w + x) * c + ch }
}
