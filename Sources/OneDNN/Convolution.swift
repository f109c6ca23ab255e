import CDNNL
import Tensors

extension OneDNNBackend {
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry) -> Tensor {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        let key = PrimitiveKey(operation: .convolutionForward(withBias: bias != nil), shapes: shapes.key,
                               geometry: geometry)
        let forward = primitive(key) { convolutionForwardDescriptor(shapes, withBias: bias != nil, "\(key)") }
        var inputs = [DNNL_ARG_SRC: reordered(x, to: forward.layout(DNNL_ARG_SRC, shape: shapes.input))]
        inputs[DNNL_ARG_BIAS] = bias
        let weights = kernelInPrimitiveLayout(kernel, for: forward, key)
        let outputLayout = forward.layout(DNNL_ARG_DST, shape: shapes.output)
        return execute(forward, inputs: inputs, outputs: [DNNL_ARG_DST: (shapes.output, outputLayout)],
                       libraryMemory: [DNNL_ARG_WEIGHTS: weights])[DNNL_ARG_DST]!
    }

    /// The layouts `conv2D` reads its input in (others are reordered to it) and writes its output in.
    public func convolutionLayouts(inputShape: [Int], kernelShape: [Int], geometry: WindowGeometry,
                                   withBias: Bool) -> (input: TensorLayout, output: TensorLayout) {
        let shapes = ConvolutionShapes(input: inputShape, kernel: kernelShape, geometry: geometry)
        let key = PrimitiveKey(operation: .convolutionForward(withBias: withBias), shapes: shapes.key,
                               geometry: geometry)
        let forward = primitive(key) { convolutionForwardDescriptor(shapes, withBias: withBias, "\(key)") }
        return (forward.layout(DNNL_ARG_SRC, shape: shapes.input), forward.layout(DNNL_ARG_DST, shape: shapes.output))
    }

    /// Takes the output gradient in any layout (reordering it to the primitives' if needed) and returns the
    /// input gradient in `x`'s layout, the kernel gradient in HWIO.
    public func conv2DBackward(_ x: Tensor, kernel: Tensor, outputGradient: Tensor, geometry: WindowGeometry,
                               withBias: Bool, inputGradient: Bool) -> ConvGradients {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        precondition(outputGradient.shape == shapes.output,
                     "conv output gradient \(outputGradient.shape), expected \(shapes.output)")

        let dataKey = PrimitiveKey(operation: .convolutionBackwardData, shapes: shapes.key, geometry: geometry)
        let backwardData = primitive(dataKey) {
            convolutionDescriptor(shapes, activations: (DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_DST)) { src, dst in
                firstImplemented("\(dataKey)") { algorithm in
                    var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
                    var operation = dnnl_convolution_desc_t()
                    check(dnnl_convolution_backward_data_desc_init(
                        &operation, algorithm, &src, &weights, &dst,
                        geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(dataKey)")
                    let hint = convolutionForwardDescriptor(shapes, withBias: false, "\(dataKey)").handle
                    return describeIfImplemented(&operation, hint: hint, "\(dataKey)")
                }
            }
        }

        let weightsKey = PrimitiveKey(operation: .convolutionBackwardWeights(withBias: withBias), shapes: shapes.key,
                                      geometry: geometry)
        let backwardWeights = primitive(weightsKey) {
            convolutionDescriptor(shapes, activations: (DNNL_ARG_SRC, DNNL_ARG_DIFF_DST)) { src, dst in
                firstImplemented("\(weightsKey)") { algorithm in
                    var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
                    var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
                    var operation = dnnl_convolution_desc_t()
                    check(dnnl_convolution_backward_weights_desc_init(
                        &operation, algorithm, &src, &weights, &bias, &dst,
                        geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(weightsKey)")
                    let hint = convolutionForwardDescriptor(shapes, withBias: withBias, "\(weightsKey)").handle
                    return describeIfImplemented(&operation, hint: hint, "\(weightsKey)")
                }
            }
        }

        let dataOutputGradient = reordered(outputGradient,
                                           to: backwardData.layout(DNNL_ARG_DIFF_DST, shape: shapes.output))
        let inputGradientLayout = backwardData.layout(DNNL_ARG_DIFF_SRC, shape: shapes.input)
        let computedInputGradient = !inputGradient ? nil
            : execute(backwardData, inputs: [DNNL_ARG_DIFF_DST: dataOutputGradient],
                      outputs: [DNNL_ARG_DIFF_SRC: (shapes.input, inputGradientLayout)],
                      libraryMemory: [DNNL_ARG_WEIGHTS: kernelInPrimitiveLayout(kernel, for: backwardData, dataKey)])
        let blockedKernelGradient = Memory(allocatedFor: backwardWeights, DNNL_ARG_DIFF_WEIGHTS, engine: engine)
        let source = reordered(x, to: backwardWeights.layout(DNNL_ARG_SRC, shape: shapes.input))
        let weightsOutputGradient = reordered(dataOutputGradient,
                                              to: backwardWeights.layout(DNNL_ARG_DIFF_DST, shape: shapes.output))
        let biasGradient = execute(backwardWeights,
                                   inputs: [DNNL_ARG_SRC: source, DNNL_ARG_DIFF_DST: weightsOutputGradient],
                                   outputs: withBias ? [DNNL_ARG_DIFF_BIAS: ([shapes.kernel[3]], .plain)] : [:],
                                   libraryMemory: [DNNL_ARG_DIFF_WEIGHTS: blockedKernelGradient])
        let toHWIO = primitive(PrimitiveKey(operation: .kernelFromPrimitiveLayout, shapes: shapes.key, geometry: geometry)) {
            reorder(from: backwardWeights.memoryDescriptor(DNNL_ARG_DIFF_WEIGHTS),
                    to: MemoryDescriptor.convolutionKernel(shapes.kernel), "\(weightsKey): kernel gradient to HWIO")
        }
        let kernelGradient = execute(toHWIO, inputs: [:], outputs: [DNNL_ARG_TO: (shapes.kernel, .plain)],
                                     libraryMemory: [DNNL_ARG_FROM: blockedKernelGradient])[DNNL_ARG_TO]!
        return ConvGradients(input: computedInputGradient.map { reordered($0[DNNL_ARG_DIFF_SRC]!, to: x.layout) }, kernel: kernelGradient,
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
        convolutionDescriptor(shapes, activations: (DNNL_ARG_SRC, DNNL_ARG_DST)) { src, dst in
            firstImplemented(context) { algorithm in
                var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
                var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
                var operation = dnnl_convolution_desc_t()
                let g = shapes.geometry
                check(dnnl_convolution_forward_desc_init(
                    &operation, dnnl_forward_training, algorithm, &src, &weights, &bias, &dst,
                    g.dnnlStrides, g.dnnlPaddingBefore, g.dnnlPaddingAfter), context)
                return describeIfImplemented(&operation, context)
            }
        }
    }

    /// The descriptor `make` returns for the first of the backend's algorithms oneDNN implements for it:
    /// Winograd falls back to direct for the shapes it has no kernels for.
    private func firstImplemented(_ context: String, _ make: (dnnl_alg_kind_t) -> PrimitiveDescriptor?) -> PrimitiveDescriptor {
        let algorithms = switch convolutionAlgorithm {
        case .direct: [dnnl_convolution_direct]
        case .winograd: [dnnl_convolution_winograd, dnnl_convolution_direct]
        case .auto: [dnnl_convolution_auto]
        }
        for algorithm in algorithms { if let described = make(algorithm) { return described } }
        failed(dnnl_unimplemented, context)
    }

    /// A convolution descriptor made by `make` from source and destination descriptors whose layouts oneDNN
    /// chooses. A source of fewer than 16 channels (the RGB stem) instead keeps source and destination plain
    /// NHWC: oneDNN's fast kernels for it read plain NHWC, and left to choose the output layout it falls back
    /// to a reference kernel hundreds of times slower. That output stays plain until the next convolution
    /// reorders it (4x smaller after the stem's max pooling). If oneDNN picks a layout no tensor layout
    /// describes (nChw8c on AVX2, say), the convolution is made again on plain NHWC. `activations` names the
    /// source and destination arguments.
    private func convolutionDescriptor(
        _ shapes: ConvolutionShapes, activations: (source: Int32, destination: Int32),
        _ make: (_ source: inout dnnl_memory_desc_t, _ destination: inout dnnl_memory_desc_t) -> PrimitiveDescriptor
    ) -> PrimitiveDescriptor {
        var plainSource = MemoryDescriptor.activation(shapes.input, .plain)
        var plainDestination = MemoryDescriptor.activation(shapes.output, .plain)
        guard shapes.input[3] >= TensorLayout.channelBlock else { return make(&plainSource, &plainDestination) }
        var source = MemoryDescriptor.activationAnyLayout(shapes.input)
        var destination = MemoryDescriptor.activationAnyLayout(shapes.output)
        let chosen = make(&source, &destination)
        let describable = [(activations.source, shapes.input), (activations.destination, shapes.output)].allSatisfy {
            argument, shape in chosen.memoryDescriptor(argument).flatMap { TensorLayout(of: $0, shape: shape) } != nil
        }
        if describable { return chosen }
        chosen.destroy()
        return make(&plainSource, &plainDestination)
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
