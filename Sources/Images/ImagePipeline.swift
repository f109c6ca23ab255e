/// Decoded image -> model input: resize to height x width, augment, preprocess, as Float32 HWC.
///
/// With an augmentation that warps, resizing and warping are one resampling pass: output pixels map through
/// Keras' affine matrix onto the resized grid, and from there onto the source (nearest: through PIL's index
/// table, which reproduces Keras' `flow_from_directory` pipeline exactly; bilinear: through the half-pixel
/// scaling, one bilinear sample of the source instead of TensorFlow's resize followed by a second bilinear warp).
/// Without a warp the resize is exactly TensorFlow's (bilinear) or PIL's (nearest).
public struct ImagePipeline: Sendable {
    public let height: Int
    public let width: Int
    public let resize: ResizeMethod
    public let augmentation: Augmentation
    public let preprocessing: Preprocessing

    public init(height: Int, width: Int, resize: ResizeMethod = .bilinear, augmentation: Augmentation = .none,
                preprocessing: Preprocessing) {
        precondition(height > 0 && width > 0, "the model input must be at least 1x1, got \(height)x\(width)")
        let problem: String? = {
            do { try augmentation.validate(); return nil } catch { return "\(error)" }
        }()
        precondition(problem == nil, problem ?? "")
        precondition(!augmentation.randomRotation90 || height == width,
                     "random_rotation_90 needs a square model input, got \(height)x\(width)")
        self.height = height
        self.width = width
        self.resize = resize
        self.augmentation = augmentation
        self.preprocessing = preprocessing
    }

    public func process(_ image: RGBImage, augmentationKey: UInt64) -> [Float] {
        [Float](unsafeUninitializedCapacity: height * width * 3) { buffer, count in
            process(image, augmentationKey: augmentationKey, into: buffer)
            count = height * width * 3
        }
    }

    public func process(_ image: RGBImage, augmentationKey: UInt64, into output: UnsafeMutableBufferPointer<Float>) {
        let (geometry, color) = augmentation.parameters(key: augmentationKey, height: height, width: width)
        process(image, geometry: geometry, color: color, into: output)
    }

    /// The pipeline with explicit transform parameters (what `process` draws from the key).
    public func process(_ image: RGBImage, geometry: AffineParameters, color: ColorJitter = ColorJitter(),
                        into output: UnsafeMutableBufferPointer<Float>) {
        precondition(image.width > 0 && image.height > 0, "cannot process an empty image")
        precondition(output.count == height * width * 3,
                     "output holds \(output.count) floats, a \(height)x\(width) RGB input needs \(height * width * 3)")
        precondition(geometry.quarterTurns % 2 == 0 || height == width, "quarter turns need a square model input")
        if geometry.hasWarp {
            WarpKernel.affine(
                source: image, map: geometry.gridMap(height: height, width: width), symmetry: geometry.symmetry,
                rows: AxisSampler(source: image.height, grid: height, resize: resize, fillMode: augmentation.fillMode),
                columns: AxisSampler(source: image.width, grid: width, resize: resize, fillMode: augmentation.fillMode),
                cval: Float(augmentation.cval), height: height, width: width, into: output)
        } else {
            WarpKernel.resize(
                source: image, rows: AxisResampling.make(resize, source: image.height, output: height),
                columns: AxisResampling.make(resize, source: image.width, output: width),
                symmetry: geometry.symmetry, height: height, width: width, into: output)
        }
        ColorKernel.finish(output, color: color, preprocessing: preprocessing)
    }

    public func process(_ image: RGBImage, geometry: AffineParameters, color: ColorJitter = ColorJitter()) -> [Float] {
        [Float](unsafeUninitializedCapacity: height * width * 3) { buffer, count in
            process(image, geometry: geometry, color: color, into: buffer)
            count = height * width * 3
        }
    }
}

enum ColorKernel {
    /// Colour jitter (if any) and preprocessing, in place over raw 0...255 RGB floats.
    static func finish(_ values: UnsafeMutableBufferPointer<Float>, color: ColorJitter, preprocessing: Preprocessing) {
        let pixelCount = values.count / 3
        let base = values.baseAddress!
        guard !color.isIdentity else {
            if preprocessing != .none {
                for pixel in 0..<pixelCount {
                    let p = base + pixel * 3
                    preprocessing.write(red: p[0], green: p[1], blue: p[2], to: p)
                }
            }
            return
        }
        var meanLuma = 0.0
        if color.contrast != 1 {
            let (lr, lg, lb) = ColorJitter.luma
            for pixel in 0..<pixelCount {
                let p = base + pixel * 3
                meanLuma += lr * Double(p[0]) + lg * Double(p[1]) + lb * Double(p[2])
            }
            meanLuma /= Double(max(pixelCount, 1))
        }
        let (m, offset) = color.affine(meanLuma: meanLuma)
        for pixel in 0..<pixelCount {
            let p = base + pixel * 3
            let r = p[0], g = p[1], b = p[2]
            let red = min(max(m[0] * r + m[1] * g + m[2] * b + offset, 0), 255)
            let green = min(max(m[3] * r + m[4] * g + m[5] * b + offset, 0), 255)
            let blue = min(max(m[6] * r + m[7] * g + m[8] * b + offset, 0), 255)
            preprocessing.write(red: red, green: green, blue: blue, to: p)
        }
    }
}
