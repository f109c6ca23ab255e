import Foundation
import Tensors

/// Random training-time augmentation with the options (and JSON keys) of Keras' `ImageDataGenerator`, plus
/// quarter turns and colour jitter. Every random choice derives from the 64-bit key of the sample, so a sample
/// is augmented the same way whichever rank or thread loads it.
///
/// Geometry follows Keras 3 / tf_keras `apply_affine_transform` exactly, quirks included: `tx` (drawn from
/// `height_shift_range`, scaled by the height) moves columns after Keras' axis swap, and the centre offset
/// uses (height, width) in swapped order, which only matters for non-square images.
public struct Augmentation: Codable, Sendable, Equatable {
    /// Degrees; the angle is uniform in [-r, r].
    public var rotationRange: Double = 0
    /// A fraction of the width when below 1, otherwise pixels; the shift is uniform in [-r, r] (Keras' float
    /// form; its integer and list forms, which draw whole pixels, are not supported).
    public var widthShiftRange: Double = 0
    /// A fraction of the height when below 1, otherwise pixels.
    public var heightShiftRange: Double = 0
    /// Shear angle in degrees, uniform in [-r, r].
    public var shearRange: Double = 0
    /// [lower, upper]; zx and zy are drawn separately. In JSON a number z means [1 - z, 1 + z], as in Keras.
    public var zoomRange: [Double] = [1, 1]
    public var horizontalFlip = false
    public var verticalFlip = false
    public var fillMode: FillMode = .nearest
    /// The value of points outside the image under `fill_mode: constant` (0...255 scale).
    public var cval: Double = 0
    /// Random multiples of 90 degrees (needs a square output).
    public var randomRotation90 = false
    /// Brightness factor range [lower, upper] (Keras' `brightness_range`; applied in Float, not through PIL's uint8).
    public var brightnessRange: [Double]? = nil
    /// Contrast factor range around the image's mean luma (PIL `ImageEnhance.Contrast` semantics).
    public var contrastRange: [Double]? = nil
    /// Saturation factor range (PIL `ImageEnhance.Color` semantics: blend with the pixel's luma).
    public var saturationRange: [Double]? = nil
    /// Hue rotation in degrees, uniform in [-r, r], about the grey axis.
    public var hueShiftRange: Double = 0

    public static let none = Augmentation()

    public init(rotationRange: Double = 0, widthShiftRange: Double = 0, heightShiftRange: Double = 0,
                shearRange: Double = 0, zoomRange: [Double] = [1, 1], horizontalFlip: Bool = false,
                verticalFlip: Bool = false, fillMode: FillMode = .nearest, cval: Double = 0,
                randomRotation90: Bool = false, brightnessRange: [Double]? = nil, contrastRange: [Double]? = nil,
                saturationRange: [Double]? = nil, hueShiftRange: Double = 0) {
        self.rotationRange = rotationRange
        self.widthShiftRange = widthShiftRange
        self.heightShiftRange = heightShiftRange
        self.shearRange = shearRange
        self.zoomRange = zoomRange
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.fillMode = fillMode
        self.cval = cval
        self.randomRotation90 = randomRotation90
        self.brightnessRange = brightnessRange
        self.contrastRange = contrastRange
        self.saturationRange = saturationRange
        self.hueShiftRange = hueShiftRange
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case rotationRange = "rotation_range", widthShiftRange = "width_shift_range"
        case heightShiftRange = "height_shift_range", shearRange = "shear_range", zoomRange = "zoom_range"
        case horizontalFlip = "horizontal_flip", verticalFlip = "vertical_flip", fillMode = "fill_mode", cval
        case randomRotation90 = "random_rotation_90", brightnessRange = "brightness_range"
        case contrastRange = "contrast_range", saturationRange = "saturation_range", hueShiftRange = "hue_shift_range"
    }

    /// Any key, to reject misspelt ones (which would otherwise silently switch an augmentation off).
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for key in try decoder.container(keyedBy: AnyKey.self).allKeys where !known.contains(key.stringValue) {
            throw AugmentationError(key: key.stringValue, message: "unknown augmentation option (known: "
                + CodingKeys.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            do {
                return try container.decodeIfPresent(T.self, forKey: key) ?? fallback
            } catch {
                throw AugmentationError(key: key.rawValue, message: "expected \(T.self): \(error)")
            }
        }
        rotationRange = try value(.rotationRange, 0.0)
        widthShiftRange = try value(.widthShiftRange, 0.0)
        heightShiftRange = try value(.heightShiftRange, 0.0)
        shearRange = try value(.shearRange, 0.0)
        if let zoom = try? container.decodeIfPresent(Double.self, forKey: .zoomRange) {
            zoomRange = [1 - zoom, 1 + zoom]
        } else {
            zoomRange = try value(.zoomRange, [1.0, 1.0])
        }
        horizontalFlip = try value(.horizontalFlip, false)
        verticalFlip = try value(.verticalFlip, false)
        let fillModeName = try value(.fillMode, FillMode.nearest.rawValue)
        guard let fillMode = FillMode(rawValue: fillModeName) else {
            throw AugmentationError(key: CodingKeys.fillMode.rawValue, message: "'\(fillModeName)' is not one of "
                + FillMode.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self.fillMode = fillMode
        cval = try value(.cval, 0.0)
        randomRotation90 = try value(.randomRotation90, false)
        brightnessRange = try value(.brightnessRange, nil as [Double]?)
        contrastRange = try value(.contrastRange, nil as [Double]?)
        saturationRange = try value(.saturationRange, nil as [Double]?)
        hueShiftRange = try value(.hueShiftRange, 0.0)
        try validate()
    }

    /// Throws naming the first option whose value is out of range.
    public func validate() throws {
        // The upper bound keeps warped coordinates far from Int overflow; real ranges are tiny in comparison.
        func nonNegative(_ value: Double, _ key: CodingKeys) throws {
            guard value.isFinite, value >= 0, value <= 1e6 else {
                throw AugmentationError(key: key.rawValue, message: "must be a number in [0, 1e6], got \(value)")
            }
        }
        func factorRange(_ range: [Double]?, _ key: CodingKeys, allowZero: Bool) throws {
            guard let range else { return }
            guard range.count == 2, range.allSatisfy({ $0 <= 1e6 && (allowZero ? $0 >= 0 : $0 > 0) }),
                  range[0] <= range[1] else {
                throw AugmentationError(key: key.rawValue, message: "must be [lower, upper] with "
                    + (allowZero ? "0 <= lower" : "0 < lower") + " <= upper <= 1e6, got \(range)")
            }
        }
        try nonNegative(rotationRange, .rotationRange)
        try nonNegative(widthShiftRange, .widthShiftRange)
        try nonNegative(heightShiftRange, .heightShiftRange)
        try nonNegative(shearRange, .shearRange)
        try factorRange(zoomRange, .zoomRange, allowZero: false)
        guard cval.isFinite else { throw AugmentationError(key: CodingKeys.cval.rawValue, message: "must be finite, got \(cval)") }
        try factorRange(brightnessRange, .brightnessRange, allowZero: true)
        try factorRange(contrastRange, .contrastRange, allowZero: true)
        try factorRange(saturationRange, .saturationRange, allowZero: true)
        try nonNegative(hueShiftRange, .hueShiftRange)
        guard hueShiftRange <= 180 else {
            throw AugmentationError(key: CodingKeys.hueShiftRange.rawValue, message: "must be at most 180 degrees, got \(hueShiftRange)")
        }
    }

    /// The transform of the sample with this key, for an image (the resized grid) of height x width.
    /// Draws happen in a fixed order whether or not an option is enabled, so enabling one option never
    /// changes the draws of another.
    public func parameters(key: UInt64, height: Int, width: Int) -> (geometry: AffineParameters, color: ColorJitter) {
        var random = SplitMix64(seed: key)
        func symmetric(_ range: Double) -> Double {
            let draw = random.uniform(-range, range)
            return range > 0 ? draw : 0
        }
        func factor(_ range: [Double]?) -> Double {
            let unit = random.nextUnit()
            guard let range else { return 1 }
            return range[0] + (range[1] - range[0]) * unit
        }
        var geometry = AffineParameters()
        geometry.theta = symmetric(rotationRange)
        geometry.tx = symmetric(heightShiftRange) * (heightShiftRange < 1 ? Double(height) : 1)
        geometry.ty = symmetric(widthShiftRange) * (widthShiftRange < 1 ? Double(width) : 1)
        geometry.shear = symmetric(shearRange)
        let zx = random.uniform(zoomRange[0], zoomRange[1]), zy = random.uniform(zoomRange[0], zoomRange[1])
        if zoomRange[0] != 1 || zoomRange[1] != 1 { (geometry.zx, geometry.zy) = (zx, zy) }
        let flipHorizontal = random.nextBool(), flipVertical = random.nextBool()
        geometry.flipHorizontal = horizontalFlip && flipHorizontal
        geometry.flipVertical = verticalFlip && flipVertical
        let quarterTurns = Int(random.next() & 3)
        geometry.quarterTurns = randomRotation90 ? quarterTurns : 0
        var color = ColorJitter()
        color.brightness = factor(brightnessRange)
        color.contrast = factor(contrastRange)
        color.saturation = factor(saturationRange)
        color.hueDegrees = symmetric(hueShiftRange)
        return (geometry, color)
    }
}

/// An invalid augmentation option; the description names the config key.
public struct AugmentationError: Error, CustomStringConvertible {
    public let key: String
    public let message: String
    public var description: String { "augmentation option \(key): \(message)" }
}

/// One sample's geometric transform in the names and units of Keras' `apply_transform` parameters.
public struct AffineParameters: Sendable, Equatable {
    /// Rotation in degrees.
    public var theta: Double = 0
    /// Keras' `tx` (from `height_shift_range`) and `ty` (from `width_shift_range`), in pixels.
    public var tx: Double = 0
    public var ty: Double = 0
    /// Shear in degrees.
    public var shear: Double = 0
    public var zx: Double = 1
    public var zy: Double = 1
    /// Flips after the warp, as Keras applies them.
    public var flipHorizontal = false
    public var flipVertical = false
    /// Counter-clockwise quarter turns after the flips (`np.rot90`); 0 for Keras' own options.
    public var quarterTurns = 0

    public init(theta: Double = 0, tx: Double = 0, ty: Double = 0, shear: Double = 0, zx: Double = 1, zy: Double = 1,
                flipHorizontal: Bool = false, flipVertical: Bool = false, quarterTurns: Int = 0) {
        self.theta = theta
        self.tx = tx
        self.ty = ty
        self.shear = shear
        self.zx = zx
        self.zy = zy
        self.flipHorizontal = flipHorizontal
        self.flipVertical = flipVertical
        self.quarterTurns = quarterTurns
    }

    /// Keras applies no warp at all when these are neutral.
    var hasWarp: Bool { theta != 0 || tx != 0 || ty != 0 || shear != 0 || zx != 1 || zy != 1 }

    var symmetry: OutputSymmetry {
        OutputSymmetry(flipHorizontal: flipHorizontal, flipVertical: flipVertical, quarterTurns: quarterTurns)
    }

    /// Keras' `apply_affine_transform` matrix for an h x w image: rotation, shift, shear, zoom, centred, then
    /// the x/y swap, as the (row, column) map scipy's `affine_transform` applies to output positions.
    func gridMap(height: Int, width: Int) -> GridMap {
        typealias Matrix = [[Double]]
        func product(_ a: Matrix, _ b: Matrix) -> Matrix {
            (0..<3).map { i in
                (0..<3).map { j -> Double in
                    // numpy's order: ((a0 * b0) + (a1 * b1)) + (a2 * b2).
                    var sum: Double = a[i][0] * b[0][j]
                    sum += a[i][1] * b[1][j]
                    sum += a[i][2] * b[2][j]
                    return sum
                }
            }
        }
        var matrix: Matrix = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        if theta != 0 {
            let angle = theta * (Double.pi / 180)
            matrix = [[cos(angle), -sin(angle), 0], [sin(angle), cos(angle), 0], [0, 0, 1]]
        }
        if tx != 0 || ty != 0 { matrix = product(matrix, [[1, 0, tx], [0, 1, ty], [0, 0, 1]]) }
        if shear != 0 {
            let angle = shear * (Double.pi / 180)
            matrix = product(matrix, [[1, -sin(angle), 0], [0, cos(angle), 0], [0, 0, 1]])
        }
        if zx != 1 || zy != 1 { matrix = product(matrix, [[zx, 0, 0], [0, zy, 0], [0, 0, 1]]) }
        let ox = Double(height) / 2 - 0.5, oy = Double(width) / 2 - 0.5
        matrix = product(product([[1, 0, ox], [0, 1, oy], [0, 0, 1]], matrix), [[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])
        // Keras swaps x and y (columns, then rows) because its matrix is written for (x, y) coordinates.
        return GridMap(m00: matrix[1][1], m01: matrix[1][0], m10: matrix[0][1], m11: matrix[0][0],
                       offsetRow: matrix[1][2], offsetColumn: matrix[0][2])
    }
}

/// One sample's colour change, applied after the geometry on 0...255 values, then clipped to 0...255.
public struct ColorJitter: Sendable, Equatable {
    public var brightness: Double = 1
    public var contrast: Double = 1
    public var saturation: Double = 1
    public var hueDegrees: Double = 0

    public init(brightness: Double = 1, contrast: Double = 1, saturation: Double = 1, hueDegrees: Double = 0) {
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hueDegrees = hueDegrees
    }

    var isIdentity: Bool { brightness == 1 && contrast == 1 && saturation == 1 && hueDegrees == 0 }

    /// ITU-R 601-2 luma, as PIL's `convert("L")`.
    static let luma: (Double, Double, Double) = (0.299, 0.587, 0.114)

    /// All four steps are affine in RGB, so they compose into `matrix * rgb + offset` (row-major 3x3):
    /// brightness scales; contrast blends with the mean luma (of the brightened image, `meanLuma` is of the
    /// unbrightened one); saturation blends with each pixel's luma; hue rotates about the grey axis. The
    /// last two keep grey fixed, so the contrast offset passes through unchanged.
    func affine(meanLuma: Double) -> (matrix: [Float], offset: Float) {
        let (lr, lg, lb) = Self.luma
        let s: Double = saturation, gray: Double = 1 - saturation
        let lumaRow: [Double] = [gray * lr, gray * lg, gray * lb]
        // Saturation: s * identity + (1 - s) * (every row the luma weights).
        let saturationMatrix: [[Double]] = (0..<3).map { i in (0..<3).map { j in lumaRow[j] + (i == j ? s : 0) } }
        let angle: Double = hueDegrees * (Double.pi / 180)
        let cosine: Double = cos(angle), axial: Double = 1 / 3.0.squareRoot() * sin(angle)
        let third: Double = (1 - cosine) / 3
        // Rodrigues' rotation about the unit vector (1, 1, 1)/sqrt(3).
        let diagonal: Double = cosine + third, plus: Double = third + axial, minus: Double = third - axial
        let hueMatrix: [[Double]] = [[diagonal, minus, plus], [plus, diagonal, minus], [minus, plus, diagonal]]
        let scale = brightness * contrast
        var matrix = [Float](repeating: 0, count: 9)
        for i in 0..<3 {
            for j in 0..<3 {
                var combined: Double = hueMatrix[i][0] * saturationMatrix[0][j]
                combined += hueMatrix[i][1] * saturationMatrix[1][j]
                combined += hueMatrix[i][2] * saturationMatrix[2][j]
                matrix[i * 3 + j] = Float(combined * scale)
            }
        }
        return (matrix, Float((1 - contrast) * brightness * meanLuma))
    }
}
