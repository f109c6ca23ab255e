extension ReferenceBackend {
    public func channelwiseCombination(outputGradient: Tensor, x: Tensor, _ coefficients: ChannelCoefficients, reluOutput: Tensor?) -> Tensor {
        Tensors.channelwiseCombination(maskedByReLU(outputGradient, reluOutput), x.plain(), coefficients, threads: 1)
    }

    public func channelSums(_ x: Tensor, outputGradient: Tensor?, reluOutput: Tensor?) -> ChannelSums {
        Tensors.channelSums(x.plain(), outputGradient.map { maskedByReLU($0, reluOutput) }, threads: 1)
    }

    /// `outputGradient` through the backward of the ReLU whose output `reluOutput` is (when given), plain.
    private func maskedByReLU(_ outputGradient: Tensor, _ reluOutput: Tensor?) -> Tensor {
        reluOutput.map { reluBackward(output: $0, outputGradient: outputGradient) } ?? outputGradient.plain()
    }

    public func batchNormTraining(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) -> BatchNormTrainingOutput {
        // Normalised with the statistics it returns (rounded to Float), as oneDNN does: the output is then
        // `batchNormInference` with them, bit for bit, which a graph recomputing activations relies on.
        let (exactMean, exactVariance) = channelStatistics(x)
        let mean = Tensor(shape: [exactMean.count], scalars: exactMean.map(Float.init))
        let variance = Tensor(shape: [exactVariance.count], scalars: exactVariance.map(Float.init))
        return BatchNormTrainingOutput(output: batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon),
                                       mean: mean, variance: variance)
    }

    public func batchNormInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                   epsilon: Float) -> Tensor {
        normalize(x, gamma: gamma, beta: beta, mean: mean.scalars.map(Double.init),
                  variance: variance.scalars.map(Double.init), epsilon: epsilon)
    }

    public func batchNormReLUInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                       epsilon: Float) -> Tensor {
        relu(batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon))
    }

    public func batchNormBackward(_ x: Tensor, outputGradient dy: Tensor, gamma: Tensor, mean: Tensor,
                                  variance: Tensor, epsilon: Float) -> BatchNormGradients {
        let c = x.shape.last!, m = Double(x.count / c)
        let xs = x.scalars, dys = dy.scalars, gs = gamma.scalars, mus = mean.scalars, vars = variance.scalars
        let inverseStd = (0..<c).map { 1 / (Double(vars[$0]) + Double(epsilon)).squareRoot() }
        var dBeta = [Double](repeating: 0, count: c), dGamma = [Double](repeating: 0, count: c)
        for i in 0..<x.count {
            let ch = i % c
            dBeta[ch] += Double(dys[i])
            dGamma[ch] += Double(dys[i]) * (Double(xs[i]) - Double(mus[ch])) * inverseStd[ch]
        }
        var dx = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let ch = i % c
            let xHat = (Double(xs[i]) - Double(mus[ch])) * inverseStd[ch]
            dx[i] = Float(Double(gs[ch]) * inverseStd[ch] * (Double(dys[i]) - dBeta[ch] / m - xHat * dGamma[ch] / m))
        }
        return BatchNormGradients(input: Tensor(shape: x.shape, scalars: dx),
                                  gamma: Tensor(shape: [c], scalars: dGamma.map(Float.init)),
                                  beta: Tensor(shape: [c], scalars: dBeta.map(Float.init)))
    }

    /// Per-channel mean and biased variance (two passes, in Double).
    private func channelStatistics(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
        let c = x.shape.last!, m = Double(x.count / c), xs = x.scalars
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for i in 0..<x.count { mean[i % c] += Double(xs[i]) }
        for ch in 0..<c { mean[ch] /= m }
        for i in 0..<x.count { let d = Double(xs[i]) - mean[i % c]; variance[i % c] += d * d }
        for ch in 0..<c { variance[ch] /= m }
        return (mean, variance)
    }

    private func normalize(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: [Double], variance: [Double],
                           epsilon: Float) -> Tensor {
        let c = x.shape.last!, xs = x.scalars, gs = gamma.scalars, bs = beta.scalars
        var y = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let ch = i % c
            y[i] = Float(Double(gs[ch]) * (Double(xs[i]) - mean[ch]) / (variance[ch] + Double(epsilon)).squareRoot()
                         + Double(bs[ch]))
        }
        return Tensor(shape: x.shape, scalars: y)
    }
}
