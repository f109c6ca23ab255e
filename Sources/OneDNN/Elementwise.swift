import CDNNL
import Tensors

extension OneDNNBackend {
    // Elementwise primitives see every tensor as one flat vector, so all shapes of equal size share a primitive.

    public func relu(_ x: Tensor) -> Tensor {
        let key = PrimitiveKey(operation: .relu, shapes: [[x.count]])
        let forward = primitive(key) { reluForwardDescriptor(x.count, dnnl_eltwise_relu, "\(key)") }
        return execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: x.shape])[DNNL_ARG_DST]!
    }

    public func reluBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
        precondition(output.shape == outputGradient.shape, "relu gradient \(outputGradient.shape) vs \(output.shape)")
        let key = PrimitiveKey(operation: .reluBackward, shapes: [[output.count]])
        let backward = primitive(key) {
            var data = MemoryDescriptor.flat(output.count)
            var operation = dnnl_eltwise_desc_t()
            check(dnnl_eltwise_backward_desc_init(&operation, dnnl_eltwise_relu_use_dst_for_bwd, &data, &data, 0, 0),
                  "\(key)")
            let hint = reluForwardDescriptor(output.count, dnnl_eltwise_relu_use_dst_for_bwd, "\(key)")
            return describe(&operation, hint: hint.handle, "\(key)")
        }
        return execute(backward, inputs: [DNNL_ARG_DST: output, DNNL_ARG_DIFF_DST: outputGradient],
                       outputs: [DNNL_ARG_DIFF_SRC: output.shape])[DNNL_ARG_DIFF_SRC]!
    }

    public func softmax(_ x: Tensor) -> Tensor {
        let key = PrimitiveKey(operation: .softmax, shapes: [x.shape])
        let forward = primitive(key) { softmaxForwardDescriptor(x.shape, "\(key)") }
        return execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: x.shape])[DNNL_ARG_DST]!
    }

    public func softmaxBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
        precondition(output.shape == outputGradient.shape,
                     "softmax gradient \(outputGradient.shape) vs \(output.shape)")
        let key = PrimitiveKey(operation: .softmaxBackward, shapes: [output.shape])
        let backward = primitive(key) {
            var data = MemoryDescriptor.rows(output.shape)
            var operation = dnnl_softmax_desc_t()
            check(dnnl_softmax_backward_desc_init(&operation, &data, &data, 1), "\(key)")
            return describe(&operation, hint: softmaxForwardDescriptor(output.shape, "\(key)").handle, "\(key)")
        }
        return execute(backward, inputs: [DNNL_ARG_DST: output, DNNL_ARG_DIFF_DST: outputGradient],
                       outputs: [DNNL_ARG_DIFF_SRC: output.shape])[DNNL_ARG_DIFF_SRC]!
    }

    public func add(_ inputs: [Tensor]) -> Tensor {
        let shape = inputs[0].shape
        precondition(inputs.allSatisfy { $0.shape == shape }, "add needs equal shapes, got \(inputs.map(\.shape))")
        let key = PrimitiveKey(operation: .sum, shapes: Array(repeating: [inputs[0].count], count: inputs.count))
        let sum = primitive(key) {
            var destination = MemoryDescriptor.flat(inputs[0].count)
            let sources = Array(repeating: destination, count: inputs.count)
            let scales = [Float](repeating: 1, count: inputs.count)
            var descriptor: dnnl_primitive_desc_t?
            check(dnnl_sum_primitive_desc_create(&descriptor, &destination, Int32(inputs.count), scales, sources,
                                                 nil, engine), "\(key)")
            return PrimitiveDescriptor(handle: descriptor!, hint: nil)
        }
        return execute(sum, inputs: multipleSources(inputs), outputs: [DNNL_ARG_DST: shape])[DNNL_ARG_DST]!
    }

    /// Concatenation on the last axis, with every tensor seen as (rows, channels).
    public func concat(_ inputs: [Tensor]) -> Tensor {
        let rowShape = inputs[0].shape.dropLast()
        precondition(inputs.allSatisfy { $0.shape.dropLast() == rowShape },
                     "concat needs equal shapes but for the last axis, got \(inputs.map(\.shape))")
        let output = Array(rowShape) + [inputs.map { $0.shape.last! }.reduce(0, +)]
        let key = PrimitiveKey(operation: .concat, shapes: inputs.map(\.shape))
        let concatenation = primitive(key) {
            var destination = MemoryDescriptor.rows(output)
            let sources = inputs.map { MemoryDescriptor.rows($0.shape) }
            var descriptor: dnnl_primitive_desc_t?
            check(dnnl_concat_primitive_desc_create(&descriptor, &destination, Int32(inputs.count), 1, sources,
                                                    nil, engine), "\(key)")
            return PrimitiveDescriptor(handle: descriptor!, hint: nil)
        }
        return execute(concatenation, inputs: multipleSources(inputs), outputs: [DNNL_ARG_DST: output])[DNNL_ARG_DST]!
    }

    /// Each piece is a reorder out of its channel range of the gradient.
    public func concatBackward(outputGradient: Tensor, channels: [Int]) -> [Tensor] {
        let shape = outputGradient.shape
        precondition(channels.reduce(0, +) == shape.last!, "split widths \(channels) do not sum to \(shape.last!)")
        let rows = outputGradient.count / max(shape.last!, 1)
        var offset = 0
        return channels.map { width in
            let pieceShape = Array(shape.dropLast()) + [width]
            let key = PrimitiveKey(operation: .copyOutOfChannels(offset: offset), shapes: [shape, pieceShape])
            let copy = primitive(key) {
                let region = MemoryDescriptor.region(of: MemoryDescriptor.rows(shape), dims: [rows, width],
                                                     offsets: [0, offset])
                return reorder(from: region, to: MemoryDescriptor.rows(pieceShape), region: DNNL_ARG_FROM,
                               "\(key)")
            }
            offset += width
            return execute(copy, inputs: [DNNL_ARG_FROM: outputGradient],
                           outputs: [DNNL_ARG_TO: pieceShape])[DNNL_ARG_TO]!
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

    private func softmaxForwardDescriptor(_ shape: [Int], _ context: String) -> PrimitiveDescriptor {
        var data = MemoryDescriptor.rows(shape)
        var operation = dnnl_softmax_desc_t()
        check(dnnl_softmax_forward_desc_init(&operation, dnnl_forward_training, &data, 1), context)
        return describe(&operation, context)
    }
}
