/// How an image is brought to the model's input size.
public enum ResizeMethod: String, Codable, Sendable, CaseIterable {
    /// `tf.image.resize(method="bilinear", antialias=False)`: half-pixel centres, edge pixels repeated.
    case bilinear
    /// PIL's `Image.resize(NEAREST)`, as `keras.utils.load_img(target_size=...)` and therefore
    /// `flow_from_directory` resize by default.
    case nearest
}

/// Where each output index along one axis reads the source: the two source indices and the weight of the
/// second, as TensorFlow's resize kernels tabulate them. Nearest has `upper == lower` and weight 0.
struct AxisResampling {
    var lower: [Int]
    var upper: [Int]
    var lerp: [Float]

    /// TensorFlow's `compute_interpolation_weights` with the half-pixel scaler, in Float32 as TensorFlow does.
    static func bilinear(source: Int, output: Int) -> AxisResampling {
        let scale = Float(source) / Float(output)
        var table = AxisResampling(lower: [], upper: [], lerp: [])
        for index in 0..<output {
            let position = (Float(index) + 0.5) * scale - 0.5
            let floorPosition = position.rounded(.down)
            table.lower.append(max(Int(floorPosition), 0))
            table.upper.append(min(Int(position.rounded(.up)), source - 1))
            table.lerp.append(position - floorPosition)
        }
        return table
    }

    /// PIL's `ImagingScaleAffine`: the source position accumulates in Double from half a step, truncated.
    static func nearest(source: Int, output: Int) -> AxisResampling {
        let step = Double(source) / Double(output)
        var position = step * 0.5
        var indices: [Int] = []
        for _ in 0..<output {
            indices.append(min(Int(position), source - 1))
            position += step
        }
        return AxisResampling(lower: indices, upper: indices, lerp: [Float](repeating: 0, count: output))
    }

    static func make(_ method: ResizeMethod, source: Int, output: Int) -> AxisResampling {
        method == .bilinear ? bilinear(source: source, output: output) : nearest(source: source, output: output)
    }
}

extension RGBImage {
    /// The image at `width` x `height`, resampled with `method` (as the model's input is, before preprocessing).
    public func resized(width outputWidth: Int, height outputHeight: Int, method: ResizeMethod = .bilinear) -> RGBImage {
        var values = [Float](repeating: 0, count: outputWidth * outputHeight * 3)
        values.withUnsafeMutableBufferPointer { output in
            WarpKernel.resize(source: self, rows: .make(method, source: height, output: outputHeight),
                              columns: .make(method, source: width, output: outputWidth), symmetry: OutputSymmetry(),
                              height: outputHeight, width: outputWidth, into: output)
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: values.map { UInt8(min(max($0.rounded(), 0), 255)) })
    }
}
