import CDNNL
import Tensors

extension OneDNNBackend {
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry) -> Tensor {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        let key = PrimitiveKey(operation: .convolutionForward(withBias: bias != nil), shapes: shapes.key,
                               geometry: geometry)
        let forward = primitive(key) { convolutionForwardDescriptor(shapes, withBias: bias != nil, "\(key)") }
        var inputs = [DNNL_ARG_SRC: x]
        inputs[DNNL_ARG_BIAS] = bias
        let weights = kernelInPrimitiveLayout(kernel, for: forward, key)
        return execute(forward, inputs: inputs, outputs: [DNNL_ARG_DST: shapes.output],
                       libraryMemory: [DNNL_ARG_WEIGHTS: weights])[DNNL_ARG_DST]!
    }

    public func conv2DBackward(_ x: Tensor, kernel: Tensor, outputGradient: Tensor, geometry: WindowGeometry,
                               withBias: Bool) -> ConvGradients {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        precondition(outputGradient.shape == shapes.output,
                     "conv output gradient \(outputGradient.shape), expected \(shapes.output)")

        let dataKey = PrimitiveKey(operation: .convolutionBackwardData, shapes: shapes.key, geometry: geometry)
        let backwardData = primitive(dataKey) {
            var src = MemoryDescriptor.activation(shapes.input), dst = MemoryDescriptor.activation(shapes.output)
            var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
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
            var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
            var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
            var operation = dnnl_convolution_desc_t()
            check(dnnl_convolution_backward_weights_desc_init(
                &operation, dnnl_convolution_direct, &src, &weights, &bias, &dst,
                geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(weightsKey)")
            let hint = convolutionForwardDescriptor(shapes, withBias: withBias, "\(weightsKey)").handle
            return describe(&operation, hint: hint, "\(weightsKey)")
        }

        let inputGradient = execute(backwardData, inputs: [DNNL_ARG_DIFF_DST: outputGradient],
                                    outputs: [DNNL_ARG_DIFF_SRC: shapes.input],
                                    libraryMemory: [DNNL_ARG_WEIGHTS: kernelInPrimitiveLayout(kernel, for: backwardData, dataKey)])
        let blockedKernelGradient = Memory(allocatedFor: backwardWeights, DNNL_ARG_DIFF_WEIGHTS, engine: engine)
        let biasGradient = execute(backwardWeights, inputs: [DNNL_ARG_SRC: x, DNNL_ARG_DIFF_DST: outputGradient],
                                   outputs: withBias ? [DNNL_ARG_DIFF_BIAS: [shapes.kernel[3]]] : [:],
                                   libraryMemory: [DNNL_ARG_DIFF_WEIGHTS: blockedKernelGradient])
        let toHWIO = primitive(PrimitiveKey(operation: .kernelFromPrimitiveLayout, shapes: shapes.key, geometry: geometry)) {
            reorder(from: backwardWeights.memoryDescriptor(DNNL_ARG_DIFF_WEIGHTS),
                    to: MemoryDescriptor.convolutionKernel(shapes.kernel), "\(weightsKey): kernel gradient to HWIO")
        }
        let kernelGradient = execute(toHWIO, inputs: [:], outputs: [DNNL_ARG_TO: shapes.kernel],
                                     libraryMemory: [DNNL_ARG_FROM: blockedKernelGradient])[DNNL_ARG_TO]!
        return ConvGradients(input: inputGradient[DNNL_ARG_DIFF_SRC]!, kernel: kernelGradient,
                             bias: biasGradient[DNNL_ARG_DIFF_BIAS])
    }

    /// The HWIO kernel copied into the layout `convolution` chose for its weights argument.
    private func kernelInPrimitiveLayout(_ kernel: Tensor, for convolution: Primitive, _ key: PrimitiveKey) -> Memory {
        let blocked = Memory(allocatedFor: convolution, DNNL_ARG_WEIGHTS, engine: engine)
        let toBlocked = primitive(PrimitiveKey(operation: .kernelToPrimitiveLayout(key.operation), shapes: key.shapes,
                                               geometry: key.geometry)) {
            reorder(from: MemoryDescriptor.convolutionKernel(kernel.shape),
                    to: convolution.memoryDescriptor(DNNL_ARG_WEIGHTS), "\(key): kernel from HWIO")
        }
        _ = execute(toBlocked, inputs: [DNNL_ARG_FROM: kernel], outputs: [:], libraryMemory: [DNNL_ARG_TO: blocked])
        return blocked
    }

    private func convolutionForwardDescriptor(_ shapes: ConvolutionShapes, withBias: Bool,
                                              _ context: String) -> PrimitiveDescriptor {
        var src = MemoryDescriptor.activation(shapes.input), dst = MemoryDescriptor.activation(shapes.output)
        var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
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
