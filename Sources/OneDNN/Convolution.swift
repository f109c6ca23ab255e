import CDNNL
import Tensors

extension OneDNNBackend {
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry) -> Tensor {
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        let key = PrimitiveKey(operation: .convolutionForward(withBias: bias != nil), shapes: shapes.key,
                               geometry: geometry)
        let forward = primitive(key) { convolutionForwardDescriptor(shapes, withBias: bias != nil, "\(key)") }
        var operands = [DNNL_ARG_SRC: operand(x, as: DNNL_ARG_SRC, of: forward),
                        DNNL_ARG_WEIGHTS: .memory(kernelInPrimitiveLayout(kernel, for: forward, key))]
        operands[DNNL_ARG_BIAS] = bias.map { .tensor($0) }
        let outputLayout = forward.layout(DNNL_ARG_DST, shape: shapes.output)
        return execute(forward, operands: operands, outputs: [DNNL_ARG_DST: (shapes.output, outputLayout)])[DNNL_ARG_DST]!
    }

    /// oneDNN's post-ops on the convolution `conv2D` runs: a binary addition of the residual (reordered to the output's
    /// layout) and an eltwise ReLU, applied to each output value as it is written, in the order of the separate
    /// operations (so with the same roundings). Where oneDNN has only a slower kernel for the convolution with these
    /// post-ops than without, the operations run apart.
    public func conv2D(_ x: Tensor, kernel: Tensor, bias: Tensor?, geometry: WindowGeometry, adding residual: Tensor?,
                       relu: Bool) -> Tensor {
        func apart() -> Tensor { conv2DApart(x, kernel: kernel, bias: bias, geometry: geometry, adding: residual, relu: relu) }
        guard residual != nil || relu else { return apart() }
        let shapes = ConvolutionShapes(input: x.shape, kernel: kernel.shape, geometry: geometry)
        precondition(residual.map { $0.shape == shapes.output } ?? true, "residual \(residual!.shape), expected \(shapes.output)")
        let key = PrimitiveKey(operation: .convolutionForwardThen(withBias: bias != nil, addingResidual: residual != nil, relu: relu),
                               shapes: shapes.key, geometry: geometry)
        let fused = primitiveIfImplemented(key) {
            let plainKey = PrimitiveKey(operation: .convolutionForward(withBias: bias != nil), shapes: shapes.key, geometry: geometry)
            let plain = primitive(plainKey) { convolutionForwardDescriptor(shapes, withBias: bias != nil, "\(plainKey)") }
            return withPostOps(plain, shapes, withBias: bias != nil, addingResidual: residual != nil, relu: relu, "\(key)")
        }
        guard let fused else { return apart() }
        var operands = [DNNL_ARG_SRC: operand(x, as: DNNL_ARG_SRC, of: fused),
                        DNNL_ARG_WEIGHTS: .memory(kernelInPrimitiveLayout(kernel, for: fused, key))]
        operands[DNNL_ARG_BIAS] = bias.map { .tensor($0) }
        let outputLayout = fused.layout(DNNL_ARG_DST, shape: shapes.output)
        operands[residualArgument] = residual.map { .tensor(reordered($0, to: outputLayout)) }
        return execute(fused, operands: operands, outputs: [DNNL_ARG_DST: (shapes.output, outputLayout)])[DNNL_ARG_DST]!
    }

    /// The execution argument of the first post-op's second source (`DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1`).
    private var residualArgument: Int32 { DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1 }

    /// The convolution `plain` computes (its algorithm, and the layouts and types it chose) with the post-ops, or nil
    /// where oneDNN implements that only with another kernel (a reference one, say).
    private func withPostOps(_ plain: Primitive, _ shapes: ConvolutionShapes, withBias: Bool, addingResidual: Bool,
                             relu: Bool, _ context: String) -> PrimitiveDescriptor? {
        var operationPointer: UnsafeRawPointer?
        check(dnnl_primitive_desc_query(plain.descriptor.handle, dnnl_query_convolution_d, 0, &operationPointer), context)
        let algorithm = operationPointer!.assumingMemoryBound(to: dnnl_convolution_desc_t.self).pointee.alg_kind
        var source = plain.memoryDescriptor(DNNL_ARG_SRC), weights = plain.memoryDescriptor(DNNL_ARG_WEIGHTS)
        var destination = plain.memoryDescriptor(DNNL_ARG_DST)
        var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
        var operation = dnnl_convolution_desc_t()
        let g = shapes.geometry
        check(dnnl_convolution_forward_desc_init(&operation, dnnl_forward_training, algorithm, &source, &weights, &bias,
                                                 &destination, g.dnnlStrides, g.dnnlPaddingBefore, g.dnnlPaddingAfter), context)
        var attributes: dnnl_primitive_attr_t?, postOps: dnnl_post_ops_t?
        check(dnnl_primitive_attr_create(&attributes), context)
        check(dnnl_post_ops_create(&postOps), context)
        defer { dnnl_post_ops_destroy(postOps); dnnl_primitive_attr_destroy(attributes) }
        if addingResidual { check(dnnl_post_ops_append_binary(postOps, dnnl_binary_add, &destination), context) }
        if relu { check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), context) }
        check(dnnl_primitive_attr_set_post_ops(attributes, postOps), context)
        guard let described = describeIfImplemented(&operation, attributes: attributes, context) else { return nil }
        guard described.implementation == plain.descriptor.implementation else {
            described.destroy()
            return nil
        }
        return described
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
            convolutionDescriptor(dataKey, shapes, activations: (DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_DST),
                                  lowPrecision: (false, true)) { src, dst, type in
                firstImplemented(dataKey) { algorithm in
                    var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel, type)
                    var operation = dnnl_convolution_desc_t()
                    check(dnnl_convolution_backward_data_desc_init(
                        &operation, algorithm, &src, &weights, &dst,
                        geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(dataKey)")
                    let hint = convolutionForwardHint(shapes, withBias: false, weightType: type, "\(dataKey)").handle
                    return describeIfImplemented(&operation, hint: hint, "\(dataKey)")
                }
            }
        }

        let weightsKey = PrimitiveKey(operation: .convolutionBackwardWeights(withBias: withBias), shapes: shapes.key,
                                      geometry: geometry)
        let backwardWeights = primitive(weightsKey) {
            convolutionDescriptor(weightsKey, shapes, activations: (DNNL_ARG_SRC, DNNL_ARG_DIFF_DST),
                                  lowPrecision: (true, true)) { src, dst, type in
                firstImplemented(weightsKey) { algorithm in
                    // The kernel and bias gradients stay fp32 whatever the inputs: they feed the fp32 optimizer.
                    var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel)
                    var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
                    var operation = dnnl_convolution_desc_t()
                    check(dnnl_convolution_backward_weights_desc_init(
                        &operation, algorithm, &src, &weights, &bias, &dst,
                        geometry.dnnlStrides, geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), "\(weightsKey)")
                    let hint = convolutionForwardHint(shapes, withBias: withBias, weightType: type, "\(weightsKey)").handle
                    return describeIfImplemented(&operation, hint: hint, "\(weightsKey)")
                }
            }
        }

        let dataOutputGradient = inputGradient ? operand(outputGradient, as: DNNL_ARG_DIFF_DST, of: backwardData) : nil
        let computedInputGradient = dataOutputGradient.map { gradient in
            let layout = backwardData.layout(DNNL_ARG_DIFF_SRC, shape: shapes.input)
            let weights = kernelInPrimitiveLayout(kernel, for: backwardData, dataKey)
            return execute(backwardData, operands: [DNNL_ARG_DIFF_DST: gradient, DNNL_ARG_WEIGHTS: .memory(weights)],
                           outputs: [DNNL_ARG_DIFF_SRC: (shapes.input, layout)])[DNNL_ARG_DIFF_SRC]!
        }
        let blockedKernelGradient = Memory(allocatedFor: backwardWeights, DNNL_ARG_DIFF_WEIGHTS, engine: engine)
        // Backward data's copy of the output gradient serves here too when both primitives read the same layout.
        let weightsOutputGradient = dataOutputGradient.flatMap { $0.fits(backwardWeights, DNNL_ARG_DIFF_DST) ? $0 : nil }
            ?? operand(outputGradient, as: DNNL_ARG_DIFF_DST, of: backwardWeights)
        let biasGradient = execute(backwardWeights,
                                   operands: [DNNL_ARG_SRC: operand(x, as: DNNL_ARG_SRC, of: backwardWeights),
                                              DNNL_ARG_DIFF_DST: weightsOutputGradient,
                                              DNNL_ARG_DIFF_WEIGHTS: .memory(blockedKernelGradient)],
                                   outputs: withBias ? [DNNL_ARG_DIFF_BIAS: ([shapes.kernel[3]], .plain)] : [:])
        let toHWIO = primitive(PrimitiveKey(operation: .kernelFromPrimitiveLayout, shapes: shapes.key, geometry: geometry)) {
            reorder(from: backwardWeights.memoryDescriptor(DNNL_ARG_DIFF_WEIGHTS),
                    to: MemoryDescriptor.convolutionKernel(shapes.kernel), "\(weightsKey): kernel gradient to HWIO")
        }
        let kernelGradient = execute(toHWIO, inputs: [:], outputs: [DNNL_ARG_TO: (shapes.kernel, .plain)],
                                     libraryMemory: [DNNL_ARG_FROM: blockedKernelGradient])[DNNL_ARG_TO]!
        return ConvGradients(input: computedInputGradient.map { reordered($0, to: x.layout) }, kernel: kernelGradient,
                             bias: biasGradient[DNNL_ARG_DIFF_BIAS])
    }

    /// The HWIO kernel copied into the layout (and precision) `convolution` chose for its weights argument.
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
        // With a bias or without, the same kernels run: one timing serves both (and the backward passes' hints).
        let key = PrimitiveKey(operation: .convolutionForward(withBias: false), shapes: shapes.key, geometry: shapes.geometry)
        return convolutionDescriptor(key, shapes, activations: (DNNL_ARG_SRC, DNNL_ARG_DST), lowPrecision: (true, false),
                                     forward(shapes, withBias: withBias, key, context))
    }

    /// The forward convolution a backward one names as its hint: with bf16 multiplies where the backward candidate
    /// has them (`weightType`), whatever `mixed_bfloat16`'s timing chose for the forward pass itself.
    private func convolutionForwardHint(_ shapes: ConvolutionShapes, withBias: Bool, weightType: dnnl_data_type_t,
                                        _ context: String) -> PrimitiveDescriptor {
        let key = PrimitiveKey(operation: .convolutionForward(withBias: false), shapes: shapes.key, geometry: shapes.geometry)
        return convolutionDescriptor(shapes, (DNNL_ARG_SRC, DNNL_ARG_DST), types: (weightType, dnnl_f32, weightType),
                                     forward(shapes, withBias: withBias, key, context))
    }

    /// Makes the forward descriptor from source and destination descriptors and the weights' type.
    private func forward(_ shapes: ConvolutionShapes, withBias: Bool, _ key: PrimitiveKey, _ context: String)
        -> (inout dnnl_memory_desc_t, inout dnnl_memory_desc_t, dnnl_data_type_t) -> PrimitiveDescriptor {
        { src, dst, type in
            self.firstImplemented(key) { algorithm in
                var weights = MemoryDescriptor.convolutionKernelAnyLayout(shapes.kernel, type)
                var bias = withBias ? MemoryDescriptor.flat(shapes.kernel[3]) : MemoryDescriptor.none
                var operation = dnnl_convolution_desc_t()
                let g = shapes.geometry
                check(dnnl_convolution_forward_desc_init(
                    &operation, dnnl_forward_training, algorithm, &src, &weights, &bias, &dst,
                    g.dnnlStrides, g.dnnlPaddingBefore, g.dnnlPaddingAfter), context)
                return self.describeIfImplemented(&operation, context)
            }
        }
    }

    /// The descriptor `make` returns for the backend's algorithm. Winograd falls back to direct for the shapes it
    /// has no kernels for; `auto` times both where both exist (see `ConvolutionAlgorithmChoices`). `key` names the
    /// convolution and direction.
    private func firstImplemented(_ key: PrimitiveKey, _ make: (dnnl_alg_kind_t) -> PrimitiveDescriptor?) -> PrimitiveDescriptor {
        func direct() -> PrimitiveDescriptor {
            guard let described = make(dnnl_convolution_direct) else { failed(dnnl_unimplemented, "\(key)") }
            return described
        }
        guard convolutionAlgorithm != .direct, let winograd = make(dnnl_convolution_winograd) else { return direct() }
        guard convolutionAlgorithm == .auto else { return winograd }
        return kept(winograd, "winograd", over: "direct", for: "\(key)", standard: direct) { winograd, direct in
            let seconds = Profiler.measure("timing \(key.operationName)", "tune") { runTimes([winograd, direct]) }
            return (seconds[0], seconds[1])
        }
    }

    /// `challenger` or the descriptor `standard` makes, whichever `algorithmChoices` keeps for `key` (`time` gives
    /// their seconds, once per shape); the other is destroyed. `standard` is made only where it is timed or kept.
    private func kept(_ challenger: PrimitiveDescriptor, _ challengerName: String, over standardName: String, for key: String,
                      standard: () -> PrimitiveDescriptor,
                      time: (_ challenger: PrimitiveDescriptor, _ standard: PrimitiveDescriptor) -> (Double, Double)) -> PrimitiveDescriptor {
        var timed: PrimitiveDescriptor?
        let keepsChallenger = algorithmChoices.keeps(challengerName, over: standardName, for: key) {
            let made = standard()
            timed = made
            return time(challenger, made)
        }
        if keepsChallenger {
            timed?.destroy()
            return challenger
        }
        challenger.destroy()
        return timed ?? standard()
    }

    /// A convolution descriptor made by `make` from source and destination descriptors whose layouts oneDNN
    /// chooses. A source of fewer than 16 channels (the RGB stem) instead keeps source and destination plain
    /// NHWC: oneDNN's fast kernels for it read plain NHWC, and left to choose the output layout it falls back
    /// to a reference kernel hundreds of times slower. That output stays plain until the next convolution
    /// reorders it (4x smaller after the stem's max pooling). If oneDNN picks a layout no tensor layout
    /// describes (nChw8c on AVX2, say), the convolution is made again on plain NHWC. `activations` names the
    /// source and destination arguments.
    ///
    /// In `mixed_bfloat16` the arguments `lowPrecision` marks, and the weights (`make` gets their type), are
    /// bf16, the others fp32, as Keras' policy computes convolutions: bf16 products accumulated in fp32. Where
    /// the CPU has no bf16 instructions, or oneDNN only its reference kernel for the shape, the convolution
    /// stays fp32: emulated bf16 would be slower than fp32. With `convolution_algorithm: auto` the bf16 kernel
    /// is timed against the fp32 one (where oneDNN 2.6's AMX kernel gradient is slower than its fp32 one, say),
    /// and the faster is kept (`ConvolutionAlgorithmChoices`). Each is charged the copies of its activation inputs
    /// from fp32 tensors in the layout the bf16 kernel reads: the layout a bf16 network's tensors are in, so a fp32
    /// kernel that reads another layout pays for the reorders it would cause there.
    private func convolutionDescriptor(
        _ key: PrimitiveKey, _ shapes: ConvolutionShapes, activations: (source: Int32, destination: Int32),
        lowPrecision: (source: Bool, destination: Bool),
        _ make: (_ source: inout dnnl_memory_desc_t, _ destination: inout dnnl_memory_desc_t,
                 _ weightType: dnnl_data_type_t) -> PrimitiveDescriptor
    ) -> PrimitiveDescriptor {
        func float32() -> PrimitiveDescriptor {
            convolutionDescriptor(shapes, activations, types: (dnnl_f32, dnnl_f32, dnnl_f32), make)
        }
        guard precision == .mixedBFloat16, Self.hasBFloat16Instructions else { return float32() }
        let bfloat16 = convolutionDescriptor(shapes, activations, types: (lowPrecision.source ? dnnl_bf16 : dnnl_f32,
                                                                          lowPrecision.destination ? dnnl_bf16 : dnnl_f32,
                                                                          dnnl_bf16), make)
        guard !bfloat16.implementation.hasPrefix("ref") else {
            bfloat16.destroy()
            return float32()
        }
        guard convolutionAlgorithm == .auto else { return bfloat16 }
        return kept(bfloat16, "bfloat16", over: "float32", for: "\(key) in mixed_bfloat16", standard: float32) { bfloat16, float32 in
            Profiler.measure("timing \(key.operationName) in bf16 and fp32", "tune") {
                let inputs = [(activations.source, shapes.input, lowPrecision.source),
                              (activations.destination, shapes.output, lowPrecision.destination)].filter(\.2)
                func copies(for candidate: PrimitiveDescriptor) -> [PrimitiveDescriptor] {
                    inputs.compactMap { argument, shape, _ in
                        let read = bfloat16.memoryDescriptor(argument)!, target = candidate.memoryDescriptor(argument)!
                        var held = MemoryDescriptor.activation(shape, TensorLayout(of: read, shape: shape) ?? .plain), wanted = target
                        guard dnnl_memory_desc_equal(&held, &wanted) == 0 else { return nil }
                        return reorder(from: held, to: target, "\(key): timing a copy of an input")
                    }
                }
                let bfloat16Copies = copies(for: bfloat16), float32Copies = copies(for: float32)
                defer { for copy in bfloat16Copies + float32Copies { copy.destroy() } }
                let seconds = runTimes([bfloat16, float32] + bfloat16Copies + float32Copies)
                let copySeconds = seconds.dropFirst(2)
                return (seconds[0] + copySeconds.prefix(bfloat16Copies.count).reduce(0, +),
                        seconds[1] + copySeconds.dropFirst(bfloat16Copies.count).reduce(0, +))
            }
        }
    }

    private func convolutionDescriptor(
        _ shapes: ConvolutionShapes, _ activations: (source: Int32, destination: Int32),
        types: (source: dnnl_data_type_t, destination: dnnl_data_type_t, weights: dnnl_data_type_t),
        _ make: (inout dnnl_memory_desc_t, inout dnnl_memory_desc_t, dnnl_data_type_t) -> PrimitiveDescriptor
    ) -> PrimitiveDescriptor {
        var plainSource = MemoryDescriptor.activation(shapes.input, .plain, types.source)
        var plainDestination = MemoryDescriptor.activation(shapes.output, .plain, types.destination)
        guard shapes.input[3] >= TensorLayout.channelBlock else {
            return make(&plainSource, &plainDestination, types.weights)
        }
        var source = MemoryDescriptor.activationAnyLayout(shapes.input, types.source)
        var destination = MemoryDescriptor.activationAnyLayout(shapes.output, types.destination)
        let chosen = make(&source, &destination, types.weights)
        let describable = [(activations.source, shapes.input), (activations.destination, shapes.output)].allSatisfy {
            argument, shape in chosen.memoryDescriptor(argument).flatMap { TensorLayout(of: $0, shape: shape) } != nil
        }
        if describable { return chosen }
        chosen.destroy()
        return make(&plainSource, &plainDestination, types.weights)
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
