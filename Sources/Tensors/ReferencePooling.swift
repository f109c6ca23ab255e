extension ReferenceBackend {
    public func pool2D(_ x: Tensor, kind: PoolKind, geometry g: WindowGeometry) -> Tensor {
        let i = NHWC(x.shape), o = NHWC([i.n, g.outputHeight(i.h), g.outputWidth(i.w), i.c])
        let xs = x.scalars
        var out = [Float](repeating: 0, count: o.n * o.h * o.w * o.c)
        for b in 0..<o.n { for oy in 0..<o.h { for ox in 0..<o.w { for ch in 0..<o.c {
            let window = windowIndices(i, g, b, oy, ox, ch)
            switch kind {
            case .max: out[o.index(b, oy, ox, ch)] = window.map { xs[$0] }.max() ?? -.infinity
            case .average:
                out[o.index(b, oy, ox, ch)] = Float(window.reduce(0.0) { $0 + Double(xs[$1]) } / Double(window.count))
            }
        } } } }
        return Tensor(shape: [o.n, o.h, o.w, o.c], scalars: out)
    }

    /// The record keeps the input.
    public func pool2DForTraining(_ x: Tensor, kind: PoolKind, geometry: WindowGeometry) -> (output: Tensor, record: PoolingRecord) {
        (pool2D(x, kind: kind, geometry: geometry), PoolingRecord(kind, geometry, input: x, kept: x))
    }

    public func pool2DBackward(_ record: PoolingRecord, outputGradient dy: Tensor) -> Tensor {
        guard let x = record.kept as? Tensor else { preconditionFailure("a pooling record of another backend") }
        let (kind, g) = (record.kind, record.geometry)
        let i = NHWC(x.shape), o = NHWC(dy.shape)
        let xs = x.scalars, dys = dy.scalars
        var dx = [Double](repeating: 0, count: x.count)
        for b in 0..<o.n { for oy in 0..<o.h { for ox in 0..<o.w { for ch in 0..<o.c {
            let window = windowIndices(i, g, b, oy, ox, ch)
            let grad = Double(dys[o.index(b, oy, ox, ch)])
            switch kind {
            case .max:
                // The first maximum in window order receives the gradient (as TensorFlow and oneDNN do).
                guard let winner = window.max(by: { xs[$0] < xs[$1] || (xs[$0] == xs[$1] && $0 > $1) }) else { continue }
                dx[winner] += grad
            case .average:
                for index in window { dx[index] += grad / Double(window.count) }
            }
        } } } }
        return Tensor(shape: x.shape, scalars: dx.map(Float.init))
    }

    /// Flat indices of the input elements under one output position's window (padding excluded).
    private func windowIndices(_ i: NHWC, _ g: WindowGeometry, _ b: Int, _ oy: Int, _ ox: Int, _ ch: Int) -> [Int] {
        var indices: [Int] = []
        for ky in 0..<g.kernelHeight {
            let iy = oy * g.strideHeight + ky - g.padding.top
            guard iy >= 0 && iy < i.h else { continue }
            for kx in 0..<g.kernelWidth {
                let ix = ox * g.strideWidth + kx - g.padding.left
                guard ix >= 0 && ix < i.w else { continue }
                indices.append(i.index(b, iy, ix, ch))
            }
        }
        return indices
    }

    public func globalAveragePool(_ x: Tensor) -> Tensor {
        let i = NHWC(x.shape), xs = x.scalars
        var out = [Double](repeating: 0, count: i.n * i.c)
        for index in 0..<x.count { out[(index / (i.h * i.w * i.c)) * i.c + index % i.c] += Double(xs[index]) }
        return Tensor(shape: [i.n, i.c], scalars: out.map { Float($0 / Double(i.h * i.w)) })
    }

    /// Returns plain, as every reference operation does, whatever `inputLayout`.
    public func globalAveragePoolBackward(outputGradient dy: Tensor, inputShape: [Int],
                                          inputLayout: TensorLayout) -> Tensor {
        let i = NHWC(inputShape), dys = dy.scalars
        let dx = (0..<(i.n * i.h * i.w * i.c)).map { index in
            dys[(index / (i.h * i.w * i.c)) * i.c + index % i.c] / Float(i.h * i.w)
        }
        return Tensor(shape: inputShape, scalars: dx)
    }

    public func zeroPad2D(_ x: Tensor, padding p: Padding2D) -> Tensor {
        let i = NHWC(x.shape), o = NHWC([i.n, i.h + p.top + p.bottom, i.w + p.left + p.right, i.c])
        let xs = x.scalars
        var out = [Float](repeating: 0, count: o.n * o.h * o.w * o.c)
        for b in 0..<i.n { for y in 0..<i.h { for xx in 0..<i.w { for ch in 0..<i.c {
            out[o.index(b, y + p.top, xx + p.left, ch)] = xs[i.index(b, y, xx, ch)]
        } } } }
        return Tensor(shape: [o.n, o.h, o.w, o.c], scalars: out)
    }

    public func zeroPad2DBackward(outputGradient dy: Tensor, padding p: Padding2D) -> Tensor {
        let o = NHWC(dy.shape), i = NHWC([o.n, o.h - p.top - p.bottom, o.w - p.left - p.right, o.c])
        let dys = dy.scalars
        var dx = [Float](repeating: 0, count: i.n * i.h * i.w * i.c)
        for b in 0..<i.n { for y in 0..<i.h { for xx in 0..<i.w { for ch in 0..<i.c {
            dx[i.index(b, y, xx, ch)] = dys[o.index(b, y + p.top, xx + p.left, ch)]
        } } } }
        return Tensor(shape: [i.n, i.h, i.w, i.c], scalars: dx)
    }
}
