import Images

/// Whole-image prediction: an n x n grid of overlapping crops. Each crop covers 2 / (n + 1) of the image's width
/// and of its height, so neighbours overlap by half and together they cover every pixel; each is resized to the
/// model's input like a whole image, so the model sees the tissue (n + 1) / 2 times larger than when the whole
/// image is resized. The image's probabilities are the mean of its crops'; the crops' own form a coarse map.
public struct CropGrid: Equatable, Sendable, CustomStringConvertible {
    /// Crops along each side.
    public let side: Int
    /// The sides allowed: beyond 16 crops a side, a crop shows the model the tissue over 8 times larger.
    public static let sides = 2...16

    public init?(side: Int) {
        guard Self.sides.contains(side) else { return nil }
        self.side = side
    }

    /// "NxN".
    public var description: String { "\(side)x\(side)" }

    public struct Region: Equatable, Sendable {
        public let x, y, width, height: Int
    }

    /// The crops of a `width` x `height` image, row by row from the top left: sizes round(2 * length / (n + 1)),
    /// origins spread evenly (rounded) from 0 to the last position that fits.
    public func regions(width: Int, height: Int) -> [Region] {
        let (cropWidth, cropHeight) = (Self.cropSize(width, side), Self.cropSize(height, side))
        let xs = (0..<side).map { Self.origin($0, side, span: width - cropWidth) }
        let ys = (0..<side).map { Self.origin($0, side, span: height - cropHeight) }
        return ys.flatMap { y in xs.map { x in Region(x: x, y: y, width: cropWidth, height: cropHeight) } }
    }

    /// The crops of `image`.
    public func crops(of image: RGBImage) -> [RGBImage] {
        regions(width: image.width, height: image.height).map { image.cropped(x: $0.x, y: $0.y, width: $0.width, height: $0.height) }
    }

    private static func cropSize(_ length: Int, _ side: Int) -> Int { max(1, (2 * length + (side + 1) / 2) / (side + 1)) }

    private static func origin(_ index: Int, _ side: Int, span: Int) -> Int { (index * span + (side - 1) / 2) / (side - 1) }
}
