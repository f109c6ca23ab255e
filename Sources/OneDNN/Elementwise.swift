import CDNNL
import Tensors

extension OneDNNBackend {
    // ReLU sees a tensor's storage as one flat vector, whatever its layout (blocked padding stays zero), so all
    // tensors of equal storage size share a primitive.

    public func relu(_ x: Tensor) -> Tensor {
        let key = PrimitiveKey(operation: .relu, shapes: [[x.storageCount]])
        let forward = primitive(key) { reluForwardDescriptor(x.storageCount, dnnl_eltwise_relu, "\(key)") }
        return execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: (x.shape, x.layout)])[DNNL_ARG_DST]!
    }

    /// Returns the gradient in `output`'s layout (`outputGradient` is reordered to it if needed).
    public func reluBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
        precondition(output.shape == outputGradient.shape, "relu gradient \(outputGradient.shape) vs \(output.shape)")
        let count = output.storageCount
        let key = PrimitiveKey(operation: .reluBackward, shapes: [[count]])
        let backward = primitive(key) {
            var data = MemoryDescriptor.flat(count)
            var operation = dnnl_eltwise_desc_t()
            check(dnnl_eltwise_backward_desc_init(&operation, dnnl_eltwise_relu_use_dst_for_bwd, &data, &data, 0, 0),
                  "\(key)")
            let hint = reluForwardDescriptor(count, dnnl_eltwise_relu_use_dst_for_bwd, "\(key)")
            return describe(&operation, hint: hint.handle, "\(key)")
        }
        return execute(backward, inputs: [DNNL_ARG_DST: output,
                                          DNNL_ARG_DIFF_DST: reordered(outputGradient, to: output.layout)],
                       outputs: [DNNL_ARG_DIFF_SRC: (output.shape, output.layout)])[DNNL_ARG_DIFF_SRC]!
    }

    /// Softmax over channels, in `x`'s layout.
    public func softmax(_ x: Tensor) -> Tensor {
        let key = PrimitiveKey(operation: .softmax, shapes: [x.shape], layouts: [x.layout])
        let forward = primitive(key) { softmaxForwardDescriptor(x.shape, x.layout, "\(key)") }
        return execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: (x.shape, x.layout)])[DNNL_ARG_DST]!
    }

    public func softmaxBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
        precondition(output.shape == outputGradient.shape,
                     "softmax gradient \(outputGradient.shape) vs \(output.shape)")
        let key = PrimitiveKey(operation: .softmaxBackward, shapes: [output.shape], layouts: [output.layout])
        let backward = primitive(key) {
            var data = MemoryDescriptor.channels(output.shape, output.layout)
            var operation = dnnl_softmax_desc_t()
            check(dnnl_softmax_backward_desc_init(&operation, &data, &data, 1), "\(key)")
            return describe(&operation, hint: softmaxForwardDescriptor(output.shape, output.layout, "\(key)").handle,
                            "\(key)")
        }
        return execute(backward, inputs: [DNNL_ARG_DST: output,
                                          DNNL_ARG_DIFF_DST: reordered(outputGradient, to: output.layout)],
                       outputs: [DNNL_ARG_DIFF_SRC: (output.shape, output.layout)])[DNNL_ARG_DIFF_SRC]!
    }

    /// The sum in the first input's layout (the others are reordered to it if needed), over flat storage.
    public func add(_ inputs: [Tensor]) -> Tensor {
        let (shape, layout) = (inputs[0].shape, inputs[0].layout)
        precondition(inputs.allSatisfy { $0.shape == shape }, "add needs equal shapes, got \(inputs.map(\.shape))")
        let count = inputs[0].storageCount
        let key = PrimitiveKey(operation: .sum, shapes: Array(repeating: [count], count: inputs.count))
        let sum = primitive(key) {
            var destination = MemoryDescriptor.flat(count)
            let sources = Array(repeating: destination, count: inputs.count)
            let scales = [Float](repeating: 1, count: inputs.count)
            var descriptor: dnnl_primitive_desc_t?
            check(dnnl_sum_primitive_desc_create(&descriptor, &destination, Int32(inputs.count), scales, sources,
                                                 nil, engine), "\(key)")
            return PrimitiveDescriptor(handle: descriptor!, hint: nil)
        }
        return execute(sum, inputs: multipleSources(inputs.map { reordered($0, to: layout) }),
                       outputs: [DNNL_ARG_DST: (shape, layout)])[DNNL_ARG_DST]!
    }

    /// relu(a + b) in one pass (oneDNN's binary addition with a ReLU post-op), in the first input's layout; more
    /// than two inputs are summed first.
    public func addReLU(_ inputs: [Tensor]) -> Tensor {
        guard inputs.count == 2 else { return relu(add(inputs)) }
        let (shape, layout) = (inputs[0].shape, inputs[0].layout)
        precondition(inputs[1].shape == shape, "add needs equal shapes, got \(inputs.map(\.shape))")
        let count = inputs[0].storageCount
        let key = PrimitiveKey(operation: .addReLU, shapes: [[count], [count]])
        let addThenReLU = primitive(key) {
            var data = MemoryDescriptor.flat(count)
            var operation = dnnl_binary_desc_t()
            check(dnnl_binary_desc_init(&operation, dnnl_binary_add, &data, &data, &data), "\(key)")
            var attributes: dnnl_primitive_attr_t?, postOps: dnnl_post_ops_t?
            check(dnnl_primitive_attr_create(&attributes), "\(key)")
            check(dnnl_post_ops_create(&postOps), "\(key)")
            defer { dnnl_post_ops_destroy(postOps); dnnl_primitive_attr_destroy(attributes) }
            check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "\(key)")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "\(key)")
            return describe(&operation, attributes: attributes, "\(key)")
        }
        return execute(addThenReLU, inputs: [DNNL_ARG_SRC_0: inputs[0], DNNL_ARG_SRC_1: reordered(inputs[1], to: layout)],
                       outputs: [DNNL_ARG_DST: (shape, layout)])[DNNL_ARG_DST]!
    }

    /// Concatenation on the last (channel) axis, each input read in its own layout, the result in the first
    /// input's.
    public func concat(_ inputs: [Tensor]) -> Tensor {
        let rowShape = inputs[0].shape.dropLast()
        precondition(inputs.allSatisfy { $0.shape.dropLast() == rowShape },
                     "concat needs equal shapes but for the last axis, got \(inputs.map(\.shape))")
        let output = Array(rowShape) + [inputs.map { $0.shape.last! }.reduce(0, +)]
        let layout = inputs[0].layout
        let key = PrimitiveKey(operation: .concat, shapes: inputs.map(\.shape), layouts: inputs.map(\.layout))
        let concatenation = primitive(key) {
            var destination = MemoryDescriptor.channels(output, layout)
            let sources = inputs.map { MemoryDescriptor.channels($0.shape, $0.layout) }
            var descriptor: dnnl_primitive_desc_t?
            check(dnnl_concat_primitive_desc_create(&descriptor, &destination, Int32(inputs.count), 1, sources,
                                                    nil, engine), "\(key)")
            return PrimitiveDescriptor(handle: descriptor!, hint: nil)
        }
        return execute(concatenation, inputs: multipleSources(inputs),
                       outputs: [DNNL_ARG_DST: (output, layout)])[DNNL_ARG_DST]!
    }

    /// Each piece, in the gradient's layout, is a reorder out of its channel range of the gradient. A blocked
    /// gradient is cut where its blocks allow; when a piece starts or ends inside a block, the pieces are cut
    /// from a plain copy instead.
    public func concatBackward(outputGradient: Tensor, channels: [Int]) -> [Tensor] {
        let shape = outputGradient.shape, layout = outputGradient.layout
        precondition(channels.reduce(0, +) == shape.last!, "split widths \(channels) do not sum to \(shape.last!)")
        let alignedToBlocks = channels.allSatisfy { $0 % TensorLayout.channelBlock == 0 }
        let source = layout == .plain || alignedToBlocks ? outputGradient : reordered(outputGradient, to: .plain)
        var offset = 0
        return channels.map { width in
            let pieceShape = Array(shape.dropLast()) + [width]
            let key = PrimitiveKey(operation: .copyOutOfChannels(offset: offset), shapes: [shape, pieceShape],
                                   layouts: [source.layout, layout])
            let copy = primitive(key) {
                reorder(from: MemoryDescriptor.channelRegion(shape, source.layout, offset: offset, width: width),
                        to: MemoryDescriptor.channels(pieceShape, layout), region: DNNL_ARG_FROM, "\(key)")
            }
            offset += width
            return execute(copy, inputs: [DNNL_ARG_FROM: source],
                           outputs: [DNNL_ARG_TO: (pieceShape, layout)])[DNNL_ARG_TO]!
        }
    }

    private func multipleSources(_ inputs: [Tensor]) -> [Int32: Tensor] {
        Dictionary(uniqueKeysWithValues: inputs.enumerated().map { (DNNL_ARG_MULTIPLE_SRC + Int32($0), $1) })
    }

    private func reluForwardDescriptor(_ count: Int, _ algorithm: dnnl_alg_kind_t,
                                       _ context: String) -> PrimitiveDescriptor {
        var data = MemoryDescriptor.flat(count)
        var operation = dnnl_eltwise_desc_t()
        check(dnnl_eltwise_forward_desc_init(&operation, dnnl_forward_training, algorithm, &data, 0, 0), context)
        return describe(&operation, context)
    }

    private func softmaxForwardDescriptor(_ shape: [Int], _ layout: TensorLayout,
                                          _ context: String) -> PrimitiveDescriptor {
        var data = MemoryDescriptor.channels(shape, layout)
        var operation = dnnl_softmax_desc_t()
        check(dnnl_softmax_forward_desc_init(&operation, dnnl_forward_training, &data, 1), context)
        return describe(&operation, context)
    }
}
