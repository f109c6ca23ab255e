import Foundation

extension ReferenceBackend {
    public func relu(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { max($0, 0) })
    }

    public func reluBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
        Tensor(shape: output.shape, scalars: zip(output.scalars, outputGradient.scalars).map { $0 > 0 ? $1 : 0 })
    }

    public func softmax(_ x: Tensor) -> Tensor {
        let c = x.shape.last!, xs = x.scalars
        var out = [Float](repeating: 0, count: x.count)
        for row in stride(from: 0, to: x.count, by: c) {
            let largest = xs[row..<row + c].max()!
            let exps = (0..<c).map { exp(Double(xs[row + $0] - largest)) }
            let total = exps.reduce(0, +)
            for j in 0..<c { out[row + j] = Float(exps[j] / total) }
        }
        return Tensor(shape: x.shape, scalars: out)
    }

    public func softmaxBackward(output y: Tensor, outputGradient dy: Tensor) -> Tensor {
        let c = y.shape.last!, ys = y.scalars, dys = dy.scalars
        var dx = [Float](repeating: 0, count: y.count)
        for row in stride(from: 0, to: y.count, by: c) {
            let dot = (0..<c).reduce(0.0) { $0 + Double(ys[row + $1]) * Double(dys[row + $1]) }
            for j in 0..<c { dx[row + j] = Float(Double(ys[row + j]) * (Double(dys[row + j]) - dot)) }
        }
        return Tensor(shape: y.shape, scalars: dx)
    }

    public func add(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty && inputs.allSatisfy { $0.shape == inputs[0].shape }, "add needs equal shapes")
        var sum = [Double](repeating: 0, count: inputs[0].count)
        for input in inputs { for (i, v) in input.scalars.enumerated() { sum[i] += Double(v) } }
        return Tensor(shape: inputs[0].shape, scalars: sum.map(Float.init))
    }

    public func addReLU(_ inputs: [Tensor]) -> Tensor { relu(add(inputs)) }

    public func concat(_ inputs: [Tensor]) -> Tensor {
        let widths = inputs.map { $0.shape.last! }
        let rows = inputs[0].count / widths[0]
        var out: [Float] = []
        out.reserveCapacity(rows * widths.reduce(0, +))
        let all = inputs.map(\.scalars)
        for row in 0..<rows { for (k, width) in widths.enumerated() { out += all[k][row * width..<(row + 1) * width] } }
        return Tensor(shape: Array(inputs[0].shape.dropLast()) + [widths.reduce(0, +)], scalars: out)
    }

    public func concatBackward(outputGradient dy: Tensor, channels: [Int]) -> [Tensor] {
        let total = dy.shape.last!, rows = dy.count / total, dys = dy.scalars
        precondition(channels.reduce(0, +) == total, "split widths \(channels) do not sum to \(total)")
        var offset = 0
        return channels.map { width in
            var piece: [Float] = []
            piece.reserveCapacity(rows * width)
            for row in 0..<rows { piece += dys[row * total + offset..<row * total + offset + width] }
            offset += width
            return Tensor(shape: Array(dy.shape.dropLast()) + [width], scalars: piece)
        }
    }
}
