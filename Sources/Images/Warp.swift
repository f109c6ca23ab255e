/// How points that an augmentation moves outside the image are filled: the modes of Keras'
/// `ImageDataGenerator(fill_mode=...)`, which are those of `scipy.ndimage`.
public enum FillMode: String, Codable, Sendable, CaseIterable {
    /// Repeat the edge pixel (aaaa|abcd|dddd).
    case nearest
    /// Mirror about the edge, edge pixel repeated (dcba|abcd|dcba).
    case reflect
    /// scipy's `wrap`: the opposite edge, with the first and last pixel overlapping (period length - 1).
    case wrap
    /// `cval` outside the image.
    case constant
}

/// The boundary rules of scipy.ndimage's `map_coordinate`; `mirror` is what scipy uses for the taps of an
/// interpolation under `constant` and `wrap`.
enum Boundary {
    case nearest, reflect, wrap, constant, mirror

    init(_ mode: FillMode) {
        switch mode {
        case .nearest: self = .nearest
        case .reflect: self = .reflect
        case .wrap: self = .wrap
        case .constant: self = .constant
        }
    }

    /// scipy's `_get_spline_boundary_mode`.
    var forTaps: Boundary { self == .constant || self == .wrap ? .mirror : self }

    /// scipy.ndimage's `map_coordinate` (ni_interpolation.c), line for line: folds a coordinate outside
    /// [0, length-1] back inside, or returns -1 for `constant`.
    @inline(__always)
    func map(_ coordinate: Double, length: Int) -> Double {
        var x = coordinate
        let last = Double(length - 1)
        if x < 0 {
            switch self {
            case .mirror:
                if length <= 1 { return 0 }
                let period = Double(2 * length - 2)
                x = period * Double(Int(-x / period)) + x
                x = x <= Double(1 - length) ? x + period : -x
            case .reflect:
                if length <= 1 { return 0 }
                let period = Double(2 * length)
                if x < -period { x = period * Double(Int(-x / period)) + x }
                x = x < Double(-length) ? x + period : (x > -1e-15 ? 1e-15 : -x) - 1
            case .wrap:
                if length <= 1 { return 0 }
                let period = Double(length - 1)
                x += period * Double(Int(-x / period) + 1)
            case .nearest:
                x = 0
            case .constant:
                x = -1
            }
        } else if x > last {
            switch self {
            case .mirror:
                if length <= 1 { return 0 }
                let period = Double(2 * length - 2)
                x -= period * Double(Int(x / period))
                if x >= Double(length) { x = period - x }
            case .reflect:
                if length <= 1 { return 0 }
                let period = Double(2 * length)
                x -= period * Double(Int(x / period))
                if x >= Double(length) { x = period - x - 1 }
            case .wrap:
                if length <= 1 { return 0 }
                let period = Double(length - 1)
                x -= period * Double(Int(x / period))
            case .nearest:
                x = last
            case .constant:
                x = -1
            }
        }
        return x
    }
}

/// The two source indices and weights of one axis of an order-1 (bilinear) sample.
struct Taps {
    var first: Int
    var second: Int
    var firstWeight: Double
    var secondWeight: Double
}

/// Samples one axis of the warped grid the way `scipy.ndimage.affine_transform(order=1)` does: the grid
/// coordinate is folded by the fill mode, its two neighbours are mapped to the grid by scipy's tap rule,
/// then to source indices through the resize table. When the grid is a bilinear resize of a source of a
/// different size, the folded coordinate is instead mapped straight to the source (half-pixel centres),
/// so resize and warp take one resampling pass.
struct AxisSampler {
    let gridLength: Int
    let boundary: Boundary
    /// Grid index -> source index, for nearest resizing or equal sizes.
    let gridToSource: [Int]
    /// Source length / grid length when the grid is a bilinear resize of a differently sized source.
    let bilinearScale: Double?
    let sourceLength: Int

    init(source: Int, grid: Int, resize: ResizeMethod, fillMode: FillMode) {
        gridLength = grid
        sourceLength = source
        boundary = Boundary(fillMode)
        if resize == .bilinear && source != grid {
            bilinearScale = Double(source) / Double(grid)
            gridToSource = []
        } else {
            bilinearScale = nil
            gridToSource = AxisResampling.nearest(source: source, output: grid).lower
        }
    }

    /// nil when the point is outside the image under `constant` (the pixel becomes cval).
    @inline(__always)
    func taps(_ coordinate: Double, gridToSource table: UnsafeBufferPointer<Int>) -> Taps? {
        var position = coordinate
        if boundary != .nearest {
            position = boundary.map(position, length: gridLength)
            if !(position > -1) { return nil }
        }
        if let bilinearScale {
            let source = (position + 0.5) * bilinearScale - 0.5
            let start = source.rounded(.down)
            let lerp = source - start
            let index = Int(start)
            return Taps(first: min(max(index, 0), sourceLength - 1), second: min(max(index + 1, 0), sourceLength - 1),
                        firstWeight: 1 - lerp, secondWeight: lerp)
        }
        let start = position.rounded(.down)
        // scipy: weights[0] = 1 - t, and the last weight is 1 minus the others.
        let firstWeight = 1 - (position - start)
        var first = Int(start), second = first + 1
        if first < 0 || second >= gridLength {
            let tapBoundary = boundary.forTaps
            first = Int(tapBoundary.map(Double(first), length: gridLength))
            second = Int(tapBoundary.map(Double(second), length: gridLength))
        }
        return Taps(first: table[first], second: table[second], firstWeight: firstWeight, secondWeight: 1 - firstWeight)
    }
}

/// An affine map from output (row, column) to grid (row, column), as scipy applies Keras' matrix:
/// `row = offset.0 + r * m00 + c * m01`, `column = offset.1 + r * m10 + c * m11`.
struct GridMap {
    var m00, m01, m10, m11, offsetRow, offsetColumn: Double
}

/// The output grid's own symmetries (flips after the warp, then quarter turns), as integer index maps.
struct OutputSymmetry {
    var flipHorizontal = false
    var flipVertical = false
    /// Counter-clockwise quarter turns of the final image (`np.rot90(image, k)`); needs a square image.
    var quarterTurns = 0

    /// The warped-image position that output position (row, column) shows.
    @inline(__always)
    func source(row: Int, column: Int, height: Int, width: Int) -> (row: Int, column: Int) {
        var r = row, c = column
        switch quarterTurns & 3 {
        case 1: (r, c) = (c, width - 1 - r)
        case 2: (r, c) = (height - 1 - r, width - 1 - c)
        case 3: (r, c) = (height - 1 - c, r)
        default: break
        }
        if flipVertical { r = height - 1 - r }
        if flipHorizontal { c = width - 1 - c }
        return (r, c)
    }
}

enum WarpKernel {
    /// Warps `source` into `output` (height * width * 3 floats, raw 0...255 values), one bilinear sample per
    /// output pixel, scipy's arithmetic (Double, tap order, weights) so a Keras warp is reproduced exactly.
    static func affine(source: RGBImage, map: GridMap, symmetry: OutputSymmetry, rows: AxisSampler,
                       columns: AxisSampler, cval: Float, height: Int, width: Int,
                       into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= height * width * 3, "output holds \(output.count) floats, needs \(height * width * 3)")
        let sourceRowStride = source.width * 3
        source.pixels.withUnsafeBufferPointer { pixels in
            rows.gridToSource.withUnsafeBufferPointer { rowTable in
                columns.gridToSource.withUnsafeBufferPointer { columnTable in
                    for row in 0..<height {
                        for column in 0..<width {
                            let out = output.baseAddress! + (row * width + column) * 3
                            let warped = symmetry.source(row: row, column: column, height: height, width: width)
                            let r = Double(warped.row), c = Double(warped.column)
                            var y = map.offsetRow
                            y += r * map.m00
                            y += c * map.m01
                            var x = map.offsetColumn
                            x += r * map.m10
                            x += c * map.m11
                            guard let ty = rows.taps(y, gridToSource: rowTable),
                                  let tx = columns.taps(x, gridToSource: columnTable) else {
                                out[0] = cval; out[1] = cval; out[2] = cval
                                continue
                            }
                            let p00 = ty.first * sourceRowStride + tx.first * 3
                            let p01 = ty.first * sourceRowStride + tx.second * 3
                            let p10 = ty.second * sourceRowStride + tx.first * 3
                            let p11 = ty.second * sourceRowStride + tx.second * 3
                            for channel in 0..<3 {
                                var t = Double(pixels[p00 + channel]) * ty.firstWeight * tx.firstWeight
                                t += Double(pixels[p01 + channel]) * ty.firstWeight * tx.secondWeight
                                t += Double(pixels[p10 + channel]) * ty.secondWeight * tx.firstWeight
                                t += Double(pixels[p11 + channel]) * ty.secondWeight * tx.secondWeight
                                out[channel] = Float(t)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Resizes without a warp (separable tables, TensorFlow's Float32 lerp), applying output flips/turns.
    static func resize(source: RGBImage, rows: AxisResampling, columns: AxisResampling, symmetry: OutputSymmetry,
                       height: Int, width: Int, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= height * width * 3, "output holds \(output.count) floats, needs \(height * width * 3)")
        let sourceRowStride = source.width * 3
        source.pixels.withUnsafeBufferPointer { pixels in
            rows.lower.withUnsafeBufferPointer { rowLower in
            rows.upper.withUnsafeBufferPointer { rowUpper in
            rows.lerp.withUnsafeBufferPointer { rowLerp in
            columns.lower.withUnsafeBufferPointer { columnLower in
            columns.upper.withUnsafeBufferPointer { columnUpper in
            columns.lerp.withUnsafeBufferPointer { columnLerp in
                for row in 0..<height {
                    for column in 0..<width {
                        let out = output.baseAddress! + (row * width + column) * 3
                        let (r, c) = symmetry.source(row: row, column: column, height: height, width: width)
                        let top = rowLower[r] * sourceRowStride, bottom = rowUpper[r] * sourceRowStride
                        let left = columnLower[c] * 3, right = columnUpper[c] * 3
                        let xLerp = columnLerp[c], yLerp = rowLerp[r]
                        for channel in 0..<3 {
                            let topLeft = Float(pixels[top + left + channel]), topRight = Float(pixels[top + right + channel])
                            let bottomLeft = Float(pixels[bottom + left + channel])
                            let bottomRight = Float(pixels[bottom + right + channel])
                            let upper = topLeft + (topRight - topLeft) * xLerp
                            let lower = bottomLeft + (bottomRight - bottomLeft) * xLerp
                            out[channel] = upper + (lower - upper) * yLerp
                        }
                    }
                }
            }}}}}}
        }
    }
}
