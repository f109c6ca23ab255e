extension ReferenceBackend {
    public func dense(_ x: Tensor, kernel: Tensor, bias: Tensor?) -> Tensor {
        let (n, inputs, outputs) = (x.shape[0], kernel.shape[0], kernel.shape[1])
        precondition(x.shape == [n, inputs], "dense input \(x.shape) vs kernel \(kernel.shape)")
        let xs = x.scalars, ks = kernel.scalars, bs = bias?.scalars
        var out = [Float](repeating: 0, count: n * outputs)
        for b in 0..<n { for o in 0..<outputs {
            var sum = Double(bs?[o] ?? 0)
            for i in 0..<inputs { sum += Double(xs[b * inputs + i]) * Double(ks[i * outputs + o]) }
            out[b * outputs + o] = Float(sum)
        } }
        return Tensor(shape: [n, outputs], scalars: out)
    }

    public func denseBackward(_ x: Tensor, kernel: Tensor, outputGradient dy: Tensor, withBias: Bool) -> DenseGradients {
        let (n, inputs, outputs) = (x.shape[0], kernel.shape[0], kernel.shape[1])
        let xs = x.scalars, ks = kernel.scalars, dys = dy.scalars
        var dx = [Double](repeating: 0, count: n * inputs)
        var dk = [Double](repeating: 0, count: inputs * outputs)
        var db = [Double](repeating: 0, count: outputs)
        for b in 0..<n { for o in 0..<outputs {
            let g = Double(dys[b * outputs + o])
            db[o] += g
            for i in 0..<inputs {
                dx[b * inputs + i] += g * Double(ks[i * outputs + o])
                dk[i * outputs + o] += g * Double(xs[b * inputs + i])
            }
        } }
        return DenseGradients(input: Tensor(shape: x.shape, scalars: dx.map(Float.init)),
                              kernel: Tensor(shape: kernel.shape, scalars: dk.map(Float.init)),
                              bias: withBias ? Tensor(shape: [outputs], scalars: db.map(Float.init)) : nil)
    }
}
