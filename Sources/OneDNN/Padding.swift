import CDNNL
import Tensors

extension OneDNNBackend {
    /// Copies `x` into the interior of a zero-filled padded tensor of its layout (a reorder into a sub-memory
    /// region; the region spans all channels, so blocks stay whole).
    public func zeroPad2D(_ x: Tensor, padding: Padding2D) -> Tensor {
        precondition(x.rank == 4, "zero padding takes NHWC input, got shape \(x.shape)")
        let padded = [x.shape[0], x.shape[1] + padding.top + padding.bottom,
                      x.shape[2] + padding.left + padding.right, x.shape[3]]
        let key = PrimitiveKey(operation: .copyIntoPadded(padding), shapes: [x.shape], layouts: [x.layout])
        let copy = primitive(key) {
            reorder(from: MemoryDescriptor.activation(x),
                    to: interior(of: padded, size: x.shape, x.layout, padding), region: DNNL_ARG_TO, "\(key)")
        }
        return execute(copy, inputs: [DNNL_ARG_FROM: x], outputs: [DNNL_ARG_TO: (padded, x.layout)],
                       zeroFilledOutputs: true)[DNNL_ARG_TO]!
    }

    /// Copies the interior of the padded gradient out, in its layout: padding receives no gradient.
    public func zeroPad2DBackward(outputGradient: Tensor, padding: Padding2D) -> Tensor {
        let padded = outputGradient.shape, layout = outputGradient.layout
        precondition(padded.count == 4, "zero padding gradients are NHWC, got shape \(padded)")
        let unpadded = [padded[0], padded[1] - padding.top - padding.bottom,
                        padded[2] - padding.left - padding.right, padded[3]]
        let key = PrimitiveKey(operation: .copyOutOfPadded(padding), shapes: [padded], layouts: [layout])
        let copy = primitive(key) {
            reorder(from: interior(of: padded, size: unpadded, layout, padding),
                    to: MemoryDescriptor.activation(unpadded, layout), region: DNNL_ARG_FROM, "\(key)")
        }
        return execute(copy, inputs: [DNNL_ARG_FROM: outputGradient],
                       outputs: [DNNL_ARG_TO: (unpadded, layout)])[DNNL_ARG_TO]!
    }

    /// A copy between two descriptors of equal logical dims (a layout change), one of which (`region`:
    /// `DNNL_ARG_FROM` or `DNNL_ARG_TO`) may be a region of a larger tensor.
    func reorder(from source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t, region: Int32? = nil,
                 _ context: String) -> PrimitiveDescriptor {
        var source = source, destination = destination
        var descriptor: dnnl_primitive_desc_t?
        check(dnnl_reorder_primitive_desc_create(&descriptor, &source, engine, &destination, engine, nil), context)
        return PrimitiveDescriptor(handle: descriptor!, hint: nil, regionArguments: region.map { [$0] } ?? [])
    }

    /// The unpadded region of a padded NHWC tensor.
    private func interior(of padded: [Int], size: [Int], _ layout: TensorLayout,
                          _ padding: Padding2D) -> dnnl_memory_desc_t {
        MemoryDescriptor.region(of: MemoryDescriptor.activation(padded, layout),
                                dims: [size[0], size[3], size[1], size[2]], offsets: [0, 0, padding.top, padding.left])
    }
}
