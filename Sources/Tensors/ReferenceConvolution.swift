extension ReferenceBackend {
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry g: WindowGeometry) -> Tensor {
        let i = NHWC(x.shape)
        let (kh, kw, outC) = (kernel.shape[0], kernel.shape[1], kernel.shape[3])
        precondition(kernel.shape == [g.kernelHeight, g.kernelWidth, i.c, outC], "kernel \(kernel.shape) vs input \(x.shape)")
        let o = NHWC([i.n, g.outputHeight(i.h), g.outputWidth(i.w), outC])
        let xs = x.scalars, ks = kernel.scalars, bs = bias?.scalars
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
                        sum += Double(xs[i.index(b, iy, ix, ic)]) * Double(ks[((ky * kw + kx) * i.c + ic) * outC + oc])
                    }
                }
            }
            out[o.index(b, oy, ox, oc)] = Float(sum)
        } } } }
        return Tensor(shape: [o.n, o.h, o.w, o.c], scalars: out)
    }

    public func conv2DBackward(_ x: Tensor, kernel: Tensor, outputGradient dy: Tensor, geometry g: WindowGeometry,
                               withBias: Bool, inputGradient: Bool) -> ConvGradients {
        let i = NHWC(x.shape), o = NHWC(dy.shape)
        let (kh, kw) = (kernel.shape[0], kernel.shape[1])
        let xs = x.scalars, ks = kernel.scalars, dys = dy.scalars
        var dx = [Double](repeating: 0, count: x.count)
        var dk = [Double](repeating: 0, count: kernel.count)
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
                        let k = ((ky * kw + kx) * i.c + ic) * o.c + oc
                        let xi = i.index(b, iy, ix, ic)
                        dx[xi] += g0 * Double(ks[k])
                        dk[k] += g0 * Double(xs[xi])
                    }
                }
            }
        } } } }
        return ConvGradients(input: inputGradient ? Tensor(shape: x.shape, scalars: dx.map(Float.init)) : nil,
                             kernel: Tensor(shape: kernel.shape, scalars: dk.map(Float.init)),
                             bias: withBias ? Tensor(shape: [o.c], scalars: db.map(Float.init)) : nil)
    }
}
