/// A class activation map drawn for people: a small grid of values in [0, 1] (Grad-CAM's, one per position of the
/// last convolutional block) stretched over an image with bilinear interpolation (half-pixel centres, edges
/// repeated, as `tf.image.resize`), coloured with matplotlib's "jet" (blue 0, red 1), and blended over the image.
public struct Heatmap: Sendable, Equatable {
    public let height: Int
    public let width: Int
    /// Row-major, in [0, 1].
    public let values: [Float]

    public init(height: Int, width: Int, values: [Float]) {
        precondition(height > 0 && width > 0 && values.count == height * width, "a \(height)x\(width) map needs \(height * width) values")
        (self.height, self.width, self.values) = (height, width, values)
    }

    /// The map at `width` x `height` pixels, in colour.
    public func colored(width outputWidth: Int, height outputHeight: Int) -> RGBImage {
        let rows = AxisResampling.bilinear(source: height, output: outputHeight)
        let columns = AxisResampling.bilinear(source: width, output: outputWidth)
        var pixels = [UInt8](repeating: 0, count: outputWidth * outputHeight * 3)
        for y in 0..<outputHeight {
            let (top, bottom, dy) = (rows.lower[y] * width, rows.upper[y] * width, rows.lerp[y])
            for x in 0..<outputWidth {
                let (left, right, dx) = (columns.lower[x], columns.upper[x], columns.lerp[x])
                let upper = values[top + left] + (values[top + right] - values[top + left]) * dx
                let lower = values[bottom + left] + (values[bottom + right] - values[bottom + left]) * dx
                let color = Self.jet(upper + (lower - upper) * dy), pixel = (y * outputWidth + x) * 3
                (pixels[pixel], pixels[pixel + 1], pixels[pixel + 2]) = (color.red, color.green, color.blue)
            }
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: pixels)
    }

    /// `image` with the coloured map laid over it: (1 - opacity) * image + opacity * map, per channel.
    public func blended(over image: RGBImage, opacity: Double) -> RGBImage {
        precondition((0...1).contains(opacity), "opacity must be in [0, 1]")
        let map = colored(width: image.width, height: image.height)
        let pixels = zip(image.pixels, map.pixels).map { under, over in
            UInt8(((1 - opacity) * Double(under) + opacity * Double(over)).rounded())
        }
        return RGBImage(width: image.width, height: image.height, pixels: pixels)
    }

    /// matplotlib's `jet` (its `_jet_data` segments) at `value`, clamped to [0, 1].
    package static func jet(_ value: Float) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let v = Double(min(max(value.isNaN ? 0 : value, 0), 1))
        let red = v < 0.35 ? 0 : v < 0.66 ? (v - 0.35) / 0.31 : v < 0.89 ? 1 : 1 - 0.5 * (v - 0.89) / 0.11
        let green = v < 0.125 ? 0 : v < 0.375 ? (v - 0.125) / 0.25 : v < 0.64 ? 1 : v < 0.91 ? 1 - (v - 0.64) / 0.27 : 0
        let blue = v < 0.11 ? 0.5 + 0.5 * v / 0.11 : v < 0.34 ? 1 : v < 0.65 ? 1 - (v - 0.34) / 0.31 : 0
        return (UInt8((255 * red).rounded()), UInt8((255 * green).rounded()), UInt8((255 * blue).rounded()))
    }
}
