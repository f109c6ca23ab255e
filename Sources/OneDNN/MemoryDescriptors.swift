import CDNNL
import Tensors

/// Memory descriptors for the layouts tensors use. oneDNN dims are always logical
/// ((N, C, H, W) for activations, (O, I, H, W) for weights); the format tag says how they lie in memory.
enum MemoryDescriptor {
    /// fp32 (or `type`) with the given logical dims and memory order.
    static func plain(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), type, tag),
              "memory descriptor for dims \(dims)")
        return md
    }

    /// An NHWC activation (N, H, W, C) in `layout`, or a plain 2-D (N, C) one; fp32 unless `type` says otherwise.
    static func activation(_ shape: [Int], _ layout: TensorLayout, _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        switch (shape.count, layout) {
        case (4, _): return plain(channelDims(shape), layout.formatTag, type)
        case (2, .plain): return plain(shape, dnnl_nc, type)
        default: fatalError("oneDNN backend: activations are NHWC or plain (N, C), got shape \(shape) \(layout)")
        }
    }

    /// The descriptor of a tensor's activation storage.
    static func activation(_ tensor: Tensor) -> dnnl_memory_desc_t { activation(tensor.shape, tensor.layout) }

    /// An NHWC activation in whatever layout the primitive prefers.
    static func activationAnyLayout(_ shape: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        precondition(shape.count == 4, "expected an NHWC shape, got \(shape)")
        return plain(channelDims(shape), dnnl_format_tag_any, type)
    }

    /// Any tensor with its last (channel) axis as oneDNN's dim 1: NHWC as (N, C, H, W) in its layout, other
    /// ranks (plain only) as (rows, channels). For operations along the channels whatever the rank.
    static func channels(_ shape: [Int], _ layout: TensorLayout) -> dnnl_memory_desc_t {
        guard shape.count != 4 else { return activation(shape, layout) }
        precondition(layout == .plain, "only NHWC tensors have a blocked layout, got shape \(shape) \(layout)")
        return plain(channelDims(shape), dnnl_nc)
    }

    /// The channels `offset..<offset + width` of a tensor described by `channels(shape, layout)`.
    static func channelRegion(_ shape: [Int], _ layout: TensorLayout, offset: Int, width: Int) -> dnnl_memory_desc_t {
        var dims = channelDims(shape), offsets = [Int](repeating: 0, count: dims.count)
        (dims[1], offsets[1]) = (width, offset)
        return region(of: channels(shape, layout), dims: dims, offsets: offsets)
    }

    private static func channelDims(_ shape: [Int]) -> [Int] {
        if shape.count == 4 { return [shape[0], shape[3], shape[1], shape[2]] }
        let width = shape.last ?? 1
        return [shape.reduce(1, *) / max(width, 1), width]
    }

    /// Any tensor as one flat vector: for elementwise operations.
    static func flat(_ count: Int) -> dnnl_memory_desc_t { plain([count], dnnl_x) }

    /// A Keras Conv2D kernel (KH, KW, I, O).
    static func convolutionKernel(_ shape: [Int]) -> dnnl_memory_desc_t {
        precondition(shape.count == 4, "conv kernels are HWIO, got shape \(shape)")
        return plain([shape[3], shape[2], shape[0], shape[1]], dnnl_hwio)
    }

    /// A Conv2D kernel in whatever layout the primitive prefers (blocked, e.g. OIhw16i16o): the fast kernels
    /// need it, so kernels are reordered to it from HWIO around each convolution.
    static func convolutionKernelAnyLayout(_ shape: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        precondition(shape.count == 4, "conv kernels are HWIO, got shape \(shape)")
        return plain([shape[3], shape[2], shape[0], shape[1]], dnnl_format_tag_any, type)
    }

    /// A Keras Dense kernel (in, out).
    static func denseKernel(_ shape: [Int]) -> dnnl_memory_desc_t {
        precondition(shape.count == 2, "dense kernels are (in, out), got shape \(shape)")
        return plain([shape[1], shape[0]], dnnl_io)
    }

    /// The region `dims` at `offsets` (both logical) inside `parent`, addressed through the parent's buffer.
    static func region(of parent: dnnl_memory_desc_t, dims: [Int], offsets: [Int]) -> dnnl_memory_desc_t {
        var parent = parent
        var md = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_submemory(&md, &parent, dims.map(Int64.init), offsets.map(Int64.init)),
              "sub-memory \(dims) at \(offsets)")
        return md
    }

    /// The empty descriptor, which disables an optional argument such as a bias.
    static var none: dnnl_memory_desc_t { dnnl_memory_desc_t() }
}

extension WindowGeometry {
    var dnnlKernel: [Int64] { [Int64(kernelHeight), Int64(kernelWidth)] }
    var dnnlStrides: [Int64] { [Int64(strideHeight), Int64(strideWidth)] }
    var dnnlPaddingBefore: [Int64] { [Int64(padding.top), Int64(padding.left)] }
    var dnnlPaddingAfter: [Int64] { [Int64(padding.bottom), Int64(padding.right)] }

    /// The NHWC output shape of a window sliding over `input` (N, H, W, C), with `channels` output channels.
    func outputShape(_ input: [Int], channels: Int) -> [Int] {
        precondition(input.count == 4, "windowed operations take NHWC input, got shape \(input)")
        return [input[0], outputHeight(input[1]), outputWidth(input[2]), channels]
    }
}

extension TensorLayout {
    /// oneDNN's format tag for an NHWC tensor in this layout (dims (N, C, H, W)).
    var formatTag: dnnl_format_tag_t {
        switch self {
        case .plain: return dnnl_nhwc
        case .channelsBlocked16: return dnnl_nChw16c
        }
    }

    /// The layout a primitive's descriptor for an NHWC tensor of `shape` describes, nil if no tensor layout does.
    /// A bf16 descriptor has the layout of the fp32 tensor it is a copy of.
    init?(of descriptor: dnnl_memory_desc_t, shape: [Int]) {
        guard shape.count == 4 else { return nil }
        var descriptor = descriptor
        for layout in [TensorLayout.plain, .channelsBlocked16] {
            var candidate = MemoryDescriptor.activation(shape, layout, descriptor.data_type)
            if dnnl_memory_desc_equal(&descriptor, &candidate) != 0 { self = layout; return }
        }
        return nil
    }
}
