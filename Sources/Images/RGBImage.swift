/// An 8-bit RGB image, row-major HWC: pixel (row, column) channel c is `pixels[(row * width + column) * 3 + c]`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "an RGB image of \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The `width` x `height` region whose top-left pixel is (`x`, `y`); it must lie inside the image.
    public func cropped(x: Int, y: Int, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && cropWidth >= 0 && cropHeight >= 0 && x + cropWidth <= width && y + cropHeight <= height,
                     "crop \(cropWidth)x\(cropHeight) at (\(x), \(y)) is outside a \(width)x\(height) image")
        var region: [UInt8] = []
        region.reserveCapacity(cropWidth * cropHeight * 3)
        for row in y..<(y + cropHeight) { region += pixels[((row * width + x) * 3)..<((row * width + x + cropWidth) * 3)] }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: region)
    }
}

/// A file that could not be read, decoded or written; the description names the file.
public struct ImageError: Error, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
