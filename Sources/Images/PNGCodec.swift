import CSupport
import Foundation

/// PNG files to and from `RGBImage`, through libpng. Decoding matches TensorFlow's
/// `tf.io.decode_png(channels=3)` bit for bit (gray, gray+alpha, palette with or without tRNS, RGB, RGBA,
/// 1- to 16-bit, Adam7-interlaced).
public enum PNGCodec {
    /// Decodes PNG bytes; `source` names the file in errors. Refuses images above `maxPixels` pixels
    /// before allocating them (a corrupt or hostile header must not exhaust memory).
    public static func decode(_ data: Data, source: String, maxPixels: Int = 50_000_000) throws -> RGBImage {
        precondition(maxPixels >= 0, "maxPixels must not be negative")
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes in
            csupport_png_decode_rgb8(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, maxPixels,
                                     &pixels, &width, &height, &message, message.count)
        }
        guard status == 0, let pixels else {
            throw ImageError(path: source, message: "cannot decode PNG: " + String(cString: message))
        }
        defer { csupport_png_free(pixels) }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height),
                        pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    public static func decode(contentsOf url: URL, maxPixels: Int = 50_000_000) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImageError(path: url.path, message: "cannot read file: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path, maxPixels: maxPixels)
    }

    /// An 8-bit RGB PNG of the image (libpng's simplified writer, default compression).
    public static func encode(_ image: RGBImage) throws -> Data {
        guard image.width > 0, image.height > 0, image.width <= Int(UInt32.max), image.height <= Int(UInt32.max) else {
            throw ImageError(path: "<memory>", message: "cannot encode a \(image.width)x\(image.height) image as PNG")
        }
        var png: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = image.pixels.withUnsafeBufferPointer {
            csupport_png_encode_rgb8($0.baseAddress, UInt32(image.width), UInt32(image.height), &png, &size,
                                     &message, message.count)
        }
        guard status == 0, let png else {
            throw ImageError(path: "<memory>", message: "cannot encode PNG: " + String(cString: message))
        }
        defer { csupport_png_free(png) }
        return Data(bytes: png, count: size)
    }
}
