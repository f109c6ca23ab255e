import CDNNL
import Tensors

extension OneDNNBackend {
    public func dense(_ x: Tensor, kernel: Tensor, bias: Tensor?) -> Tensor {
        let shapes = DenseShapes(input: x.shape, kernel: kernel.shape)
        let key = PrimitiveKey(operation: .innerProductForward(withBias: bias != nil), shapes: shapes.key)
        let forward = primitive(key) { innerProductForwardDescriptor(shapes, withBias: bias != nil, "\(key)") }
        var inputs = [DNNL_ARG_SRC: x, DNNL_ARG_WEIGHTS: kernel]
        inputs[DNNL_ARG_BIAS] = bias
        return execute(forward, inputs: inputs, outputs: [DNNL_ARG_DST: (shapes.output, .plain)])[DNNL_ARG_DST]!
    }

    public func denseBackward(_ x: Tensor, kernel: Tensor, outputGradient: Tensor, withBias: Bool) -> DenseGradients {
        let shapes = DenseShapes(input: x.shape, kernel: kernel.shape)
        precondition(outputGradient.shape == shapes.output,
                     "dense output gradient \(outputGradient.shape), expected \(shapes.output)")

        let dataKey = PrimitiveKey(operation: .innerProductBackwardData, shapes: shapes.key)
        let backwardData = primitive(dataKey) {
            var src = MemoryDescriptor.activation(shapes.input, .plain)
            var dst = MemoryDescriptor.activation(shapes.output, .plain)
            var weights = MemoryDescriptor.denseKernel(shapes.kernel)
            var operation = dnnl_inner_product_desc_t()
            check(dnnl_inner_product_backward_data_desc_init(&operation, &src, &weights, &dst), "\(dataKey)")
            let hint = innerProductForwardDescriptor(shapes, withBias: false, "\(dataKey)").handle
            return describe(&operation, hint: hint, "\(dataKey)")
        }

        let weightsKey = PrimitiveKey(operation: .innerProductBackwardWeights(withBias: withBias), shapes: shapes.key)
        let backwardWeights = primitive(weightsKey) {
            var src = MemoryDescriptor.activation(shapes.input, .plain)
            var dst = MemoryDescriptor.activation(shapes.output, .plain)
            var weights = MemoryDescriptor.denseKernel(shapes.kernel)
            var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[1]) : MemoryDescriptor.none
            var operation = dnnl_inner_product_desc_t()
            check(dnnl_inner_product_backward_weights_desc_init(&operation, &src, &weights, &bias, &dst),
                  "\(weightsKey)")
            let hint = innerProductForwardDescriptor(shapes, withBias: withBias, "\(weightsKey)").handle
            return describe(&operation, hint: hint, "\(weightsKey)")
        }

        let inputGradient = execute(backwardData, inputs: [DNNL_ARG_DIFF_DST: outputGradient, DNNL_ARG_WEIGHTS: kernel],
                                    outputs: [DNNL_ARG_DIFF_SRC: (shapes.input, .plain)])
        var weightGradientOutputs: [Int32: TensorSpec] = [DNNL_ARG_DIFF_WEIGHTS: (shapes.kernel, .plain)]
        if withBias { weightGradientOutputs[DNNL_ARG_DIFF_BIAS] = ([shapes.kernel[1]], .plain) }
        let weightGradients = execute(backwardWeights, inputs: [DNNL_ARG_SRC: x, DNNL_ARG_DIFF_DST: outputGradient],
                                      outputs: weightGradientOutputs)
        return DenseGradients(input: inputGradient[DNNL_ARG_DIFF_SRC]!, kernel: weightGradients[DNNL_ARG_DIFF_WEIGHTS]!,
                              bias: weightGradients[DNNL_ARG_DIFF_BIAS])
    }

    private func innerProductForwardDescriptor(_ shapes: DenseShapes, withBias: Bool,
                                               _ context: String) -> PrimitiveDescriptor {
        var src = MemoryDescriptor.activation(shapes.input, .plain)
        var dst = MemoryDescriptor.activation(shapes.output, .plain)
        var weights = MemoryDescriptor.denseKernel(shapes.kernel)
        var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[1]) : MemoryDescriptor.none
        var operation = dnnl_inner_product_desc_t()
        check(dnnl_inner_product_forward_desc_init(&operation, dnnl_forward_training, &src, &weights, &bias, &dst),
              context)
        return describe(&operation, context)
    }
}

/// Input (N, in), kernel (in, out) and output (N, out) of one dense layer.
private struct DenseShapes {
    let input, kernel, output: [Int]

    init(input: [Int], kernel: [Int]) {
        precondition(input.count == 2 && kernel.count == 2 && input[1] == kernel[0],
                     "dense kernel \(kernel) does not fit input \(input)")
        (self.input, self.kernel, output) = (input, kernel, [input[0], kernel[1]])
    }

    var key: [[Int]] { [input, kernel] }
}
