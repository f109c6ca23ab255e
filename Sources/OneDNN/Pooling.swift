import CDNNL
import Tensors

// Pooling runs in the layout of its input; global average pooling returns plain (N, C) for the head.
extension OneDNNBackend {
    public func pool2D(_ x: Tensor, kind: PoolKind, geometry: WindowGeometry) -> Tensor {
        let output = geometry.outputShape(x.shape, channels: x.shape[3])
        let key = PrimitiveKey(operation: .poolingForward(kind, training: false), shapes: [x.shape],
                               layouts: [x.layout], geometry: geometry)
        let forward = primitive(key) {
            poolingForwardDescriptor(x.shape, output, x.layout, kind, geometry, dnnl_forward_inference, "\(key)")
        }
        return execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: (output, x.layout)])[DNNL_ARG_DST]!
    }

    /// Max pooling runs the training-mode primitive, and its record keeps the primitive's workspace (where each
    /// maximum was) instead of the input; average pooling's backward needs nothing of the pass.
    public func pool2DForTraining(_ x: Tensor, kind: PoolKind, geometry: WindowGeometry) -> (output: Tensor, record: PoolingRecord) {
        guard kind == .max else {
            return (pool2D(x, kind: kind, geometry: geometry), PoolingRecord(kind, geometry, input: x, kept: nil))
        }
        let output = geometry.outputShape(x.shape, channels: x.shape[3])
        let key = PrimitiveKey(operation: .poolingForward(kind, training: true), shapes: [x.shape], layouts: [x.layout],
                               geometry: geometry)
        let forward = primitive(key) {
            poolingForwardDescriptor(x.shape, output, x.layout, kind, geometry, dnnl_forward_training, "\(key)")
        }
        let workspace = Memory(allocatedFor: forward, DNNL_ARG_WORKSPACE, engine: engine)
        let pooled = execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: (output, x.layout)],
                             libraryMemory: [DNNL_ARG_WORKSPACE: workspace])[DNNL_ARG_DST]!
        return (pooled, PoolingRecord(kind, geometry, input: x, kept: workspace))
    }

    public func pool2DBackward(_ record: PoolingRecord, outputGradient: Tensor) -> Tensor {
        let (kind, geometry, shape, layout) = (record.kind, record.geometry, record.inputShape, record.inputLayout)
        let output = geometry.outputShape(shape, channels: shape[3])
        precondition(outputGradient.shape == output, "pooling gradient \(outputGradient.shape), expected \(output)")
        let key = PrimitiveKey(operation: .poolingBackward(kind), shapes: [shape], layouts: [layout], geometry: geometry)
        let backward = primitive(key) { poolingBackwardDescriptor(shape, output, layout, kind, geometry, "\(key)") }
        var library: [Int32: Memory] = [:]
        if kind == .max {
            guard let workspace = record.kept as? Memory else { preconditionFailure("a max pooling record without oneDNN's workspace") }
            library[DNNL_ARG_WORKSPACE] = workspace
        }
        return execute(backward, inputs: [DNNL_ARG_DIFF_DST: reordered(outputGradient, to: layout)],
                       outputs: [DNNL_ARG_DIFF_SRC: (shape, layout)], libraryMemory: library)[DNNL_ARG_DIFF_SRC]!
    }

    /// An average pool whose window is the whole image, in `x`'s layout; its (N, 1, 1, C) output is then
    /// reordered to plain, which is (N, C).
    public func globalAveragePool(_ x: Tensor) -> Tensor {
        let geometry = globalWindow(x.shape)
        let output = geometry.outputShape(x.shape, channels: x.shape[3])
        let key = PrimitiveKey(operation: .globalAveragePool, shapes: [x.shape], layouts: [x.layout])
        let forward = primitive(key) {
            poolingForwardDescriptor(x.shape, output, x.layout, .average, geometry, dnnl_forward_inference, "\(key)")
        }
        let pooled = execute(forward, inputs: [DNNL_ARG_SRC: x], outputs: [DNNL_ARG_DST: (output, x.layout)])
        return reordered(pooled[DNNL_ARG_DST]!, to: .plain).reshaped([x.shape[0], x.shape[3]])
    }

    /// Returns the input gradient in `inputLayout`.
    public func globalAveragePoolBackward(outputGradient: Tensor, inputShape: [Int],
                                          inputLayout: TensorLayout) -> Tensor {
        let geometry = globalWindow(inputShape)
        let output = geometry.outputShape(inputShape, channels: inputShape[3])
        precondition(outputGradient.shape == [inputShape[0], inputShape[3]],
                     "global pool gradient \(outputGradient.shape) vs input \(inputShape)")
        let key = PrimitiveKey(operation: .globalAveragePoolBackward, shapes: [inputShape], layouts: [inputLayout])
        let backward = primitive(key) {
            poolingBackwardDescriptor(inputShape, output, inputLayout, .average, geometry, "\(key)")
        }
        let gradient = reordered(outputGradient.reshaped(output), to: inputLayout)
        return execute(backward, inputs: [DNNL_ARG_DIFF_DST: gradient],
                       outputs: [DNNL_ARG_DIFF_SRC: (inputShape, inputLayout)])[DNNL_ARG_DIFF_SRC]!
    }

    private func globalWindow(_ shape: [Int]) -> WindowGeometry {
        precondition(shape.count == 4, "global average pooling takes NHWC input, got shape \(shape)")
        return WindowGeometry(kernel: (shape[1], shape[2]), strides: (1, 1), padding: .zero)
    }

    /// TensorFlow semantics: max ignores padding (as minus infinity), average divides by the unpadded count.
    private func algorithm(_ kind: PoolKind) -> dnnl_alg_kind_t {
        switch kind {
        case .max: return dnnl_pooling_max
        case .average: return dnnl_pooling_avg_exclude_padding
        }
    }

    private func poolingForwardDescriptor(_ input: [Int], _ output: [Int], _ layout: TensorLayout, _ kind: PoolKind,
                                          _ geometry: WindowGeometry, _ propagation: dnnl_prop_kind_t,
                                          _ context: String) -> PrimitiveDescriptor {
        var src = MemoryDescriptor.activation(input, layout), dst = MemoryDescriptor.activation(output, layout)
        var operation = dnnl_pooling_desc_t()
        check(dnnl_pooling_forward_desc_init(
            &operation, propagation, algorithm(kind), &src, &dst, geometry.dnnlStrides, geometry.dnnlKernel,
            geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), context)
        return describe(&operation, context)
    }

    private func poolingBackwardDescriptor(_ input: [Int], _ output: [Int], _ layout: TensorLayout, _ kind: PoolKind,
                                           _ geometry: WindowGeometry, _ context: String) -> PrimitiveDescriptor {
        var diffSrc = MemoryDescriptor.activation(input, layout), diffDst = MemoryDescriptor.activation(output, layout)
        var operation = dnnl_pooling_desc_t()
        check(dnnl_pooling_backward_desc_init(
            &operation, algorithm(kind), &diffSrc, &diffDst, geometry.dnnlStrides, geometry.dnnlKernel,
            geometry.dnnlPaddingBefore, geometry.dnnlPaddingAfter), context)
        let hint = poolingForwardDescriptor(input, output, layout, kind, geometry, dnnl_forward_training, context)
        return describe(&operation, hint: hint.handle, context)
    }
}
