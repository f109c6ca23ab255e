import Tensors

/// Test-time augmentation: the model also sees flipped (and, for square inputs, rotated) copies of each image,
/// and the class probabilities are averaged. Histology patches have no canonical orientation, so these are
/// label-preserving.
public enum TestTimeAugmentation: String, CaseIterable, Codable, Sendable {
    case off
    /// The image, its horizontal and vertical mirror images, and its 180-degree rotation.
    case flips
    /// All eight rotations by multiples of 90 degrees and their mirror images (square inputs only).
    case dihedral

    public var transforms: [DihedralTransform] {
        let flips = [false, true].flatMap { rows in [false, true].map { DihedralTransform(transpose: false, flipRows: rows, flipColumns: $0) } }
        switch self {
        case .off: return [DihedralTransform(transpose: false, flipRows: false, flipColumns: false)]
        case .flips: return flips
        case .dihedral: return flips + flips.map { DihedralTransform(transpose: true, flipRows: $0.flipRows, flipColumns: $0.flipColumns) }
        }
    }
}

/// One symmetry of the square: output pixel (y, x) is input pixel (r, c), where (r, c) = (x, y) when transposed,
/// else (y, x), then mirrored along the axes that are flipped. Transpose plus one flip is a 90-degree rotation.
public struct DihedralTransform: Hashable, Sendable {
    public var transpose: Bool
    public var flipRows: Bool
    public var flipColumns: Bool

    public init(transpose: Bool, flipRows: Bool, flipColumns: Bool) {
        (self.transpose, self.flipRows, self.flipColumns) = (transpose, flipRows, flipColumns)
    }

    public var isIdentity: Bool { !transpose && !flipRows && !flipColumns }

    /// Applies the transform to every image of a plain NHWC batch (height == width when transposing).
    public func apply(_ batch: Tensor) -> Tensor {
        let plain = batch.plain()
        let (count, height, width, channels) = (plain.shape[0], plain.shape[1], plain.shape[2], plain.shape[3])
        precondition(!transpose || height == width, "a transposing transform needs square images, got \(height)x\(width)")
        var output = Tensor(uninitializedShape: plain.shape)
        plain.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for image in 0..<count {
                    let base = image * height * width * channels
                    for y in 0..<height {
                        for x in 0..<width {
                            var (row, column) = transpose ? (x, y) : (y, x)
                            if flipRows { row = height - 1 - row }
                            if flipColumns { column = width - 1 - column }
                            let from = base + (row * width + column) * channels, to = base + (y * width + x) * channels
                            for channel in 0..<channels { target[to + channel] = source[from + channel] }
                        }
                    }
                }
            }
        }
        return output
    }
}
