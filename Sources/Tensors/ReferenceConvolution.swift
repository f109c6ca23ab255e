extension ReferenceBackend {
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry g: WindowGeometry) -> Tensor {
        let i = NHWC(x.shape)
        let (kh, kw, outC) = (kernel.shape[0], kernel.shape[1], kernel.shape[3])
        precondition(kernel.shape == [g.kernelHeight, g.kernelWidth, i.c, outC], "kernel \(kernel.shape) vs input \(x.shape)")
        let o = NHWC([i.n, g.outputHeight(i.h), g.outputWidth(i.w), outC])
        let xs = x.scalars, ks = outputChannelsFirst(kernel), bs = bias?.scalars
        var out = [Float](repeating: 0, count: o.n * o.h * o.w * o.c)
        for b in 0..<o.n { for oy in 0..<o.h { for ox in 0..<o.w { for oc in 0..<outC {
            var sum = Double(bs?[oc] ?? 0)
            for ky in 0..<kh {
                let iy = oy * g.strideHeight + ky - g.padding.top
                guard iy >= 0 && iy < i.h else { continue }
                for kx in 0..<kw {
                    let ix = ox * g.strideWidth + kx - g.padding.left
                    guard ix >= 0 && ix < i.w else { continue }
                    for ic in 0..<i.c {
                        sum += Double(xs[i.index(b, iy, ix, ic)]) * Double(ks[((oc * kh + ky) * kw + kx) * i.c + ic])
                    }
                }
            }
            out[o.index(b, oy, ox, oc)] = Float(sum)
        } } } }
        return Tensor(shape: [o.n, o.h, o.w, o.c], scalars: out)
    }

    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry, adding residual: Tensor?,
                       relu: Bool) -> Tensor {
        conv2DApart(x, kernel: kernel, bias: bias, geometry: geometry, adding: residual, relu: relu)
    }

    public func conv2DBackward(_ x: Tensor, kernel: Tensor, outputGradient dy: Tensor, geometry g: WindowGeometry,
                               withBias: Bool, inputGradient: Bool) -> ConvGradients {
        let i = NHWC(x.shape), o = NHWC(dy.shape)
        let (kh, kw) = (kernel.shape[0], kernel.shape[1])
        let xs = x.scalars, ks = outputChannelsFirst(kernel), dys = dy.scalars
        var dx = [Double](repeating: 0, count: x.count)
        var dk = [Double](repeating: 0, count: kernel.count)  // (O, KH, KW, C) like ks
        var db = [Double](repeating: 0, count: o.c)
        for b in 0..<o.n { for oy in 0..<o.h { for ox in 0..<o.w { for oc in 0..<o.c {
            let g0 = Double(dys[o.index(b, oy, ox, oc)])
            db[oc] += g0
            for ky in 0..<kh {
                let iy = oy * g.strideHeight + ky - g.padding.top
                guard iy >= 0 && iy < i.h else { continue }
                for kx in 0..<kw {
                    let ix = ox * g.strideWidth + kx - g.padding.left
                    guard ix >= 0 && ix < i.w else { continue }
                    for ic in 0..<i.c {
                        let k = ((oc * kh + ky) * kw + kx) * i.c + ic
                        let xi = i.index(b, iy, ix, ic)
                        dx[xi] += g0 * Double(ks[k])
                        dk[k] += g0 * Double(xs[xi])
                    }
                }
            }
        } } } }
        return ConvGradients(input: inputGradient ? Tensor(shape: x.shape, scalars: dx.map(Float.init)) : nil,
                             kernel: Tensor(shape: kernel.shape, scalars: hwioOrder(dk, kernel.shape).map(Float.init)),
                             bias: withBias ? Tensor(shape: [o.c], scalars: db.map(Float.init)) : nil)
    }

    /// An HWIO kernel's values in (O, KH, KW, C) order, so that the loops over input channels above read consecutive
    /// values (the sums are taken in the same order either way).
    private func outputChannelsFirst(_ kernel: Tensor) -> [Float] {
        let (taps, outC) = (kernel.count / kernel.shape[3], kernel.shape[3]), values = kernel.scalars
        return (0..<kernel.count).map { values[($0 % taps) * outC + $0 / taps] }
    }

    /// (O, KH, KW, C) values back in HWIO order.
    private func hwioOrder(_ values: [Double], _ shape: [Int]) -> [Double] {
        let (taps, outC) = (values.count / shape[3], shape[3])
        return (0..<values.count).map { values[($0 % outC) * taps + $0 / outC] }
    }
}
