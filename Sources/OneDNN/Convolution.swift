import CDNNL
import Tensors

extension OneDNNBackend {
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry) -> Tensor {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        let key = PrimitiveKey(operation: .convolutionForward(withBias: bias != nil), shapes: shapes.key,
                               geometry: geometry)
        let forward = primitive(key) { convolutionForwardDescriptor(shapes, withBias: bias != nil, "\(key)") }
        var inputs = [DNNL_ARG_SRC: x, DNNL_ARG_WEIGHTS: kernel]
        inputs[DNNL_ARG_BIAS] = bias
        return execute(forward, inputs: inputs, outputs: [DNNL_ARG_DST: shapes.output])[DNNL_ARG_DST]!
    }

    public func conv2DBackward(_ x: Tensor, kernel: Tensor, outputGradient: Tensor, geometry: WindowGeometry,
                               withBias: Bool) -> ConvGradients {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        precondition(outputGradient.shape == shapes.output,
                     "conv output gradient \(outputGradient.shape), expected \(shapes.output)")

        let dataKey = PrimitiveKey(operation: .convolutionBackwardData, shapes: shapes.key, geometry: geometry)
        let backwardData = primitive(dataKey) {
            var src = MemoryDescriptor.activation(shapes.input), dst = MemoryDescriptor.activation(shapes.output)
            var weights = MemoryDescriptor.convolutionKernel(shapes.kernel)
            var operation = dnnl_convolution_desc_t()
            check(dnnl_convolution_backward_data_desc_init(
                &operation, dnnl_convolution_direct, &src, &weights, &dst,
                geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(dataKey)")
            let hint = convolutionForwardDescriptor(shapes, withBias: false, "\(dataKey)").handle
            return describe(&operation, hint: hint, "\(dataKey)")
        }

        let weightsKey = PrimitiveKey(operation: .convolutionBackwardWeights(withBias: withBias), shapes: shapes.key,
                                      geometry: geometry)
        let backwardWeights = primitive(weightsKey) {
            var src = MemoryDescriptor.activation(shapes.input), dst = MemoryDescriptor.activation(shapes.output)
            var weights = MemoryDescriptor.convolutionKernel(shapes.kernel)
            var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
            var operation = dnnl_convolution_desc_t()
            check(dnnl_convolution_backward_weights_desc_init(
                &operation, dnnl_convolution_direct, &src, &weights, &bias, &dst,
                geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(weightsKey)")
            let hint = convolutionForwardDescriptor(shapes, withBias: withBias, "\(weightsKey)").handle
            return describe(&operation, hint: hint, "\(weightsKey)")
        }

        let inputGradient = execute(backwardData, inputs: [DNNL_ARG_DIFF_DST: outputGradient, DNNL_ARG_WEIGHTS: kernel],
                                    outputs: [DNNL_ARG_DIFF_SRC: shapes.input])
        var weightGradientShapes = [DNNL_ARG_DIFF_WEIGHTS: shapes.kernel]
        if withBias { weightGradientShapes[DNNL_ARG_DIFF_BIAS] = [shapes.kernel[3]] }
        let weightGradients = execute(backwardWeights, inputs: [DNNL_ARG_SRC: x, DNNL_ARG_DIFF_DST: outputGradient],
                                      outputs: weightGradientShapes)
        return ConvGradients(input: inputGradient[DNNL_ARG_DIFF_SRC]!, kernel: weightGradients[DNNL_ARG_DIFF_WEIGHTS]!,
                             bias: weightGradients[DNNL_ARG_DIFF_BIAS])
    }

    private func convolutionForwardDescriptor(_ shapes: ConvolutionShapes, withBias: Bool,
                                              _ context: String) -> PrimitiveDescriptor {
        var src = MemoryDescriptor.activation(shapes.input), dst = MemoryDescriptor.activation(shapes.output)
        var weights = MemoryDescriptor.convolutionKernel(shapes.kernel)
        var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
        var operation = dnnl_convolution_desc_t()
        let g = shapes.geometry
        check(dnnl_convolution_forward_desc_init(
            &operation, dnnl_forward_training, dnnl_convolution_direct, &src, &weights, &bias, &dst,
            g.dnnlStrides, g.dnnlPaddingBefore, g.dnnlPaddingAfter), context)
        return describe(&operation, context)
    }
}

/// Input (N,H,W,C), kernel (KH,KW,C,O) and output (N,OH,OW,O) of one convolution.
private struct ConvolutionShapes {
    let input, kernel, output: [Int]
    let geometry: WindowGeometry

    init(input: [Int], kernel: [Int], geometry: WindowGeometry) {
        precondition(input.count == 4 && kernel.count == 4
                     && kernel == [geometry.kernelHeight, geometry.kernelWidth, input[3], kernel[3]],
                     "conv kernel \(kernel) does not fit input \(input) and window \(geometry)")
        (self.input, self.kernel, self.geometry) = (input, kernel, geometry)
        output = geometry.outputShape(input, channels: kernel[3])
    }

    var key: [[Int]] { [input, kernel] }
}
