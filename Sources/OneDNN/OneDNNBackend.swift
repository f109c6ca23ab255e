import CDNNL
import Tensors

/// The fast `Backend`: oneDNN fp32 primitives on the CPU. Convolutions return activations in the layout their
/// primitive prefers (`channelsBlocked16` on AVX-512), and the operations between convolutions keep the layout
/// of their input, so activations stay blocked from the first convolution to the global pooling of the head.
/// Weights stay in Keras' plain layouts (HWIO conv kernels, (in, out) dense kernels); convolutions reorder
/// kernels into their preferred layout around each call.
///
/// Each distinct (operation, shapes, parameters) gets its primitive created once and cached; memory objects
/// are created per call around the tensors' own buffers. Not thread-safe: use one backend per thread.
/// How oneDNN computes convolutions. `direct` rounds like the reference backend and Keras (to about 1e-6);
/// `winograd` uses oneDNN's Winograd kernels for the 3x3 stride-1 convolutions it has them for (AVX-512 CPUs;
/// the others stay direct), rounding differently; `auto` times both once per shape and direction on this machine
/// and keeps the faster (`ConvolutionAlgorithmChoices`).
public enum ConvolutionAlgorithm: String, Codable, CaseIterable, Sendable {
    case direct, winograd, auto
}

/// The floating-point types a model computes in, with Keras' names. `mixedBFloat16` is Keras' `mixed_bfloat16`
/// policy: weights, optimizer state, batch-norm statistics, softmax and loss stay fp32, convolutions multiply
/// in bf16 and accumulate in fp32. Here activations between layers stay fp32 too (Keras rounds them to bf16).
public enum Precision: String, Codable, CaseIterable, Sendable {
    case float32
    case mixedBFloat16 = "mixed_bfloat16"
}

public final class OneDNNBackend: Backend {
    public let name = "onednn"
    public let convolutionAlgorithm: ConvolutionAlgorithm
    public let precision: Precision
    /// The OpenMP threads of its primitives, also used by its own kernels.
    let threads: Int
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    /// Where `auto` keeps what it timed.
    public let algorithmChoices: ConvolutionAlgorithmChoices
    private var primitives: [PrimitiveKey: Primitive] = [:]
    /// The keys `primitiveIfImplemented` found no (fast enough) implementation for.
    private var unimplemented: Set<PrimitiveKey> = []

    public init(threads: Int, convolutionAlgorithm: ConvolutionAlgorithm = .direct, precision: Precision = .float32,
                algorithmChoices: ConvolutionAlgorithmChoices? = nil) {
        precondition(threads > 0, "thread count must be positive, got \(threads)")
        self.threads = threads
        self.algorithmChoices = algorithmChoices ?? ConvolutionAlgorithmChoices(threads: threads)
        self.convolutionAlgorithm = convolutionAlgorithm
        self.precision = precision
        // Debian's libdnnl runs on OpenMP; primitives size their parallel regions from this setting.
        omp_set_num_threads(Int32(threads))
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "creating a stream")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        primitives.removeAll()
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// How many primitives have been created so far (each distinct operation and shape creates one).
    public var cachedPrimitiveCount: Int { primitives.count }

    /// The instruction set oneDNN's kernels use on this CPU, e.g. "avx512_core_bf16".
    public static var instructionSet: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41")]
        return names.first { $0.0 == isa }?.1 ?? "isa 0x\(String(isa.rawValue, radix: 16))"
    }

    /// Whether this CPU multiplies bf16 in hardware (else `mixedBFloat16` keeps convolutions in fp32).
    public static var hasBFloat16Instructions: Bool { ["avx512_core_bf16", "avx512_core_amx"].contains(instructionSet) }

    /// How many of the cached convolution primitives run each oneDNN implementation (e.g. "jit_bf16:avx512_core_bf16")
    /// in each type ("bf16" where they multiply bf16 values, else "f32"): which kernels a run really uses.
    public var convolutionKernels: [String: Int] {
        var counts: [String: Int] = [:]
        for primitive in primitives.values where primitive.isConvolution {
            let multipliesBFloat16 = [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST].contains {
                primitive.descriptor.memoryDescriptor($0)?.data_type == dnnl_bf16
            }
            counts["\(primitive.descriptor.implementation) \(multipliesBFloat16 ? "bf16" : "f32")", default: 0] += 1
        }
        return counts
    }

    /// The cached primitive for `key`, created from the descriptor `makeDescriptor` returns on first use.
    func primitive(_ key: PrimitiveKey, _ makeDescriptor: () -> PrimitiveDescriptor) -> Primitive {
        if let cached = primitives[key] { return cached }
        let created = Primitive(makeDescriptor(), key: key)
        primitives[key] = created
        return created
    }

    /// `primitive`, for an operation oneDNN may not implement well: nil, also on later calls, where `makeDescriptor`
    /// returns nil.
    func primitiveIfImplemented(_ key: PrimitiveKey, _ makeDescriptor: () -> PrimitiveDescriptor?) -> Primitive? {
        if let cached = primitives[key] { return cached }
        guard !unimplemented.contains(key), let descriptor = makeDescriptor() else {
            unimplemented.insert(key)
            return nil
        }
        let created = Primitive(descriptor, key: key)
        primitives[key] = created
        return created
    }

    /// A primitive descriptor for the operation descriptor `operation` (a `dnnl_*_desc_t`).
    /// Backward operations pass the matching forward descriptor as `hint`; the result owns it.
    /// `attributes` (e.g. post-ops) are copied into the descriptor.
    func describe<Operation>(_ operation: inout Operation, hint: dnnl_primitive_desc_t? = nil,
                             attributes: dnnl_primitive_attr_t? = nil,
                             _ context: @autoclosure () -> String) -> PrimitiveDescriptor {
        guard let described = describeIfImplemented(&operation, hint: hint, attributes: attributes, context()) else {
            failed(dnnl_unimplemented, context())
        }
        return described
    }

    /// `describe`, or nil where oneDNN has no implementation (e.g. a Winograd convolution of another shape).
    func describeIfImplemented<Operation>(_ operation: inout Operation, hint: dnnl_primitive_desc_t? = nil,
                                          attributes: dnnl_primitive_attr_t? = nil,
                                          _ context: @autoclosure () -> String) -> PrimitiveDescriptor? {
        var descriptor: dnnl_primitive_desc_t?
        let status = withUnsafePointer(to: &operation) {
            dnnl_primitive_desc_create(&descriptor, $0, attributes, engine, hint)
        }
        if status == dnnl_unimplemented {
            if let hint { dnnl_primitive_desc_destroy(hint) }  // the result would have owned it
            return nil
        }
        check(status, context())
        return PrimitiveDescriptor(handle: descriptor!, hint: hint)
    }

    /// Runs `primitive`. `inputs` are read in place, in their own layouts (which must be the ones the primitive
    /// was created for); each entry of `outputs` becomes a new tensor of that shape and layout, zero-filled first
    /// when the primitive writes only part of it. `libraryMemory` passes memory oneDNN allocated (e.g. a pooling
    /// workspace).
    func execute(_ primitive: Primitive, inputs: [Int32: Tensor], outputs: [Int32: TensorSpec],
                 zeroFilledOutputs: Bool = false, libraryMemory: [Int32: Memory] = [:]) -> [Int32: Tensor] {
        var results: [Int32: Tensor] = [:]
        var memories: [Memory] = []
        for (argument, tensor) in inputs {
            memories.append(Memory(primitive, argument, tensor: tensor, engine: engine))
        }
        for (argument, spec) in outputs {
            var tensor = zeroFilledOutputs ? Tensor(zeros: spec.shape, layout: spec.layout)
                                           : Tensor(uninitializedShape: spec.shape, layout: spec.layout)
            memories.append(Memory(primitive, argument, writing: &tensor, engine: engine))
            results[argument] = tensor
        }
        var arguments = memories.map { dnnl_exec_arg_t(arg: $0.argument, memory: $0.handle) }
        arguments += libraryMemory.map { dnnl_exec_arg_t(arg: $0.key, memory: $0.value.handle) }
        // Keep the memory objects, and the input buffers they point into, alive until execution has finished.
        withExtendedLifetime((memories, inputs)) {
            Profiler.measure(primitive.profileName, "primitive", primitive.profileArguments) {
                check(dnnl_primitive_execute(primitive.handle, stream, Int32(arguments.count), arguments),
                      primitive.context)
                check(dnnl_stream_wait(stream), primitive.context)
            }
        }
        return results
    }

    /// `execute` with inputs that are tensors or memory oneDNN holds (the bf16 copies of `operand`).
    func execute(_ primitive: Primitive, operands: [Int32: Operand], outputs: [Int32: TensorSpec]) -> [Int32: Tensor] {
        var inputs: [Int32: Tensor] = [:], library: [Int32: Memory] = [:]
        for (argument, operand) in operands {
            switch operand {
            case .tensor(let tensor): inputs[argument] = tensor
            case .memory(let memory): library[argument] = memory
            }
        }
        return execute(primitive, inputs: inputs, outputs: outputs, libraryMemory: library)
    }

    /// `x` as `primitive` reads `argument`: the tensor itself (reordered to the primitive's layout if needed) for
    /// an fp32 argument, else a copy converted to the argument's type and layout by one oneDNN reorder.
    func operand(_ x: Tensor, as argument: Int32, of primitive: Primitive) -> Operand {
        let target = primitive.memoryDescriptor(argument)
        guard target.data_type != dnnl_f32 else { return .tensor(reordered(x, to: primitive.layout(argument, shape: x.shape))) }
        let layout = primitive.layout(argument, shape: x.shape)
        let key = PrimitiveKey(operation: .convert(target.data_type.rawValue), shapes: [x.shape], layouts: [x.layout, layout])
        let convert = self.primitive(key) { reorder(from: MemoryDescriptor.activation(x), to: target, "\(key)") }
        let copy = Memory(allocatedFor: convert, DNNL_ARG_TO, engine: engine)
        _ = execute(convert, inputs: [DNNL_ARG_FROM: x], outputs: [:], libraryMemory: [DNNL_ARG_TO: copy])
        return .memory(copy)
    }

    /// `x` in `layout`: itself if it already is, else a oneDNN reorder of it.
    func reordered(_ x: Tensor, to layout: TensorLayout) -> Tensor {
        guard x.layout != layout else { return x }
        let key = PrimitiveKey(operation: .reorder, shapes: [x.shape], layouts: [x.layout, layout])
        let copy = primitive(key) {
            reorder(from: MemoryDescriptor.activation(x), to: MemoryDescriptor.activation(x.shape, layout), "\(key)")
        }
        return execute(copy, inputs: [DNNL_ARG_FROM: x], outputs: [DNNL_ARG_TO: (x.shape, layout)])[DNNL_ARG_TO]!
    }
}

/// The shape and layout of a tensor a primitive writes.
typealias TensorSpec = (shape: [Int], layout: TensorLayout)

/// An input of a primitive: a tensor, or memory oneDNN allocated (a kernel in a blocked layout, a bf16 copy).
enum Operand {
    case tensor(Tensor)
    case memory(Memory)

    /// Whether `primitive` can read this operand as `argument` as it is.
    func fits(_ primitive: Primitive, _ argument: Int32) -> Bool {
        var wanted = primitive.memoryDescriptor(argument)
        switch self {
        case .tensor(let tensor):
            var held = MemoryDescriptor.activation(tensor)
            return dnnl_memory_desc_equal(&held, &wanted) != 0
        case .memory(let memory):
            var held = memory.descriptor
            return dnnl_memory_desc_equal(&held, &wanted) != 0
        }
    }
}

/// Identifies a cached primitive: the operation with its scalar parameters, the tensor shapes, the window.
struct PrimitiveKey: Hashable, CustomStringConvertible {
    enum Operation: Hashable {
        case convolutionForward(withBias: Bool), convolutionBackwardData, convolutionBackwardWeights(withBias: Bool)
        /// A forward convolution with post-ops: a residual added, then a ReLU.
        case convolutionForwardThen(withBias: Bool, addingResidual: Bool, relu: Bool)
        indirect case kernelToPrimitiveLayout(Operation)
        case kernelFromPrimitiveLayout
        case batchNormTraining(epsilon: Float), batchNormInference(epsilon: Float, relu: Bool), batchNormBackward(epsilon: Float)
        case poolingForward(PoolKind, training: Bool), poolingBackward(PoolKind)
        case globalAveragePool, globalAveragePoolBackward
        case copyIntoPadded(Padding2D), copyOutOfPadded(Padding2D), copyOutOfChannels(offset: Int), reorder
        /// A reorder into another data type (a `dnnl_data_type_t`), e.g. fp32 activations to bf16.
        case convert(UInt32)
        case relu, reluBackward, softmax, softmaxBackward, sum, addReLU, concat
        case innerProductForward(withBias: Bool), innerProductBackwardData, innerProductBackwardWeights(withBias: Bool)
    }

    let operation: Operation
    let shapes: [[Int]]
    /// The layouts of the tensors the primitive reads or writes, where they are not fixed by the operation.
    var layouts: [TensorLayout] = []
    var geometry: WindowGeometry? = nil

    var description: String {
        "\(operation) on shapes \(shapes)" + (layouts.isEmpty ? "" : " in layouts \(layouts)")
            + (geometry.map { " with \($0)" } ?? "")
    }

    /// "convolutionForward", "reorder", ...: the operation without its parameters.
    var operationName: String { String("\(operation)".prefix { $0 != "(" }) }

    /// Shapes and layouts; for convolutions also their floating-point operations (2 per multiply-add, the same
    /// count forward and for either gradient), so a profile can give each its GFLOP/s.
    var profileArguments: [String: Profiler.Argument] {
        var arguments: [String: Profiler.Argument] = ["shapes": .text("\(shapes)")]
        if !layouts.isEmpty { arguments["layouts"] = .text("\(layouts)") }
        switch operation {
        case .convolutionForward, .convolutionForwardThen, .convolutionBackwardData, .convolutionBackwardWeights:
            guard let geometry, shapes.count == 2 else { break }
            let output = geometry.outputShape(shapes[0], channels: shapes[1][3])
            arguments["flops"] = .number(2 * Double(output.reduce(1, *)) * Double(shapes[1].dropLast().reduce(1, *)))
        default:
            arguments["bytes"] = .number(Double(shapes.reduce(0) { $0 + $1.reduce(1, *) }) * 4)
        }
        return arguments
    }
}

/// A primitive descriptor handle plus the forward descriptor it was hinted with, which must outlive it.
struct PrimitiveDescriptor {
    let handle: dnnl_primitive_desc_t
    let hint: dnnl_primitive_desc_t?
    /// Arguments that address a region of a larger tensor rather than a whole one.
    var regionArguments: Set<Int32> = []

    /// oneDNN's name for the implementation it picked, e.g. "jit:avx512_core" or "ref:any".
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(handle, dnnl_query_impl_info_str, 0, &name) == dnnl_success,
              let name else { return "unknown" }
        return String(cString: name)
    }

    /// The memory descriptor for an execution argument such as `DNNL_ARG_SRC`, nil if the primitive takes none.
    func memoryDescriptor(_ argument: Int32) -> dnnl_memory_desc_t? {
        guard let md = dnnl_primitive_desc_query_md(handle, dnnl_query_exec_arg_md, argument),
              md.pointee.ndims > 0 else { return nil }
        return md.pointee
    }

    /// Frees the descriptor and its hint: `Primitive` does so when it goes; call it for a descriptor that
    /// becomes no primitive.
    func destroy() {
        dnnl_primitive_desc_destroy(handle)
        if let hint { dnnl_primitive_desc_destroy(hint) }
    }
}

/// A created primitive with its descriptor; destroys both when evicted from the cache.
final class Primitive {
    let descriptor: PrimitiveDescriptor
    let handle: dnnl_primitive_t
    /// The cache key's description, for error messages.
    let context: String

    /// What the profiler records of each execution: the operation, and its shapes and work.
    let profileName: String
    let profileArguments: [String: Profiler.Argument]
    let isConvolution: Bool

    init(_ descriptor: PrimitiveDescriptor, key: PrimitiveKey) {
        var primitive: dnnl_primitive_t?
        context = "\(key)"
        check(dnnl_primitive_create(&primitive, descriptor.handle), context)
        (self.descriptor, self.handle) = (descriptor, primitive!)
        profileName = key.operationName
        profileArguments = key.profileArguments
        isConvolution = switch key.operation {
        case .convolutionForward, .convolutionForwardThen, .convolutionBackwardData, .convolutionBackwardWeights: true
        default: false
        }
    }

    deinit {
        dnnl_primitive_destroy(handle)
        descriptor.destroy()
    }

    /// The memory descriptor the primitive expects for an execution argument such as `DNNL_ARG_SRC`.
    func memoryDescriptor(_ argument: Int32) -> dnnl_memory_desc_t {
        guard let md = descriptor.memoryDescriptor(argument) else {
            fatalError("oneDNN: \(context) takes no execution argument \(argument)")
        }
        return md
    }

    /// The tensor layout of an NHWC activation argument of `shape`. Creators of primitives whose activation
    /// layouts oneDNN chooses make sure a tensor layout can hold them.
    func layout(_ argument: Int32, shape: [Int]) -> TensorLayout {
        guard let layout = TensorLayout(of: memoryDescriptor(argument), shape: shape) else {
            fatalError("oneDNN: \(context): argument \(argument) is in a layout no tensor layout describes")
        }
        return layout
    }
}

/// A oneDNN memory object bound to one execution argument; destroyed with the wrapper.
final class Memory {
    let argument: Int32
    let handle: dnnl_memory_t
    /// What `init(allocatedFor:)` allocated, from the tensors' pool.
    private var storage: TensorStorage?
    /// The type and layout of what it holds.
    var descriptor: dnnl_memory_desc_t {
        var md: UnsafePointer<dnnl_memory_desc_t>?
        check(dnnl_memory_get_memory_desc(handle, &md), "querying a memory descriptor")
        return md!.pointee
    }

    /// Wraps a tensor the primitive reads. oneDNN only reads through the pointer, and `execute` keeps the tensor
    /// (and with it its storage) alive until the primitive has finished.
    convenience init(_ primitive: Primitive, _ argument: Int32, tensor: Tensor, engine: dnnl_engine_t) {
        let pointer = tensor.withUnsafeStorage { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        self.init(primitive, argument, pointer: pointer, elementCount: tensor.storageCount, engine: engine)
    }

    /// Wraps a freshly created, uniquely owned tensor the primitive writes.
    convenience init(_ primitive: Primitive, _ argument: Int32, writing tensor: inout Tensor, engine: dnnl_engine_t) {
        let pointer = tensor.withUnsafeMutableStorage { UnsafeMutableRawPointer($0.baseAddress!) }
        self.init(primitive, argument, pointer: pointer, elementCount: tensor.storageCount, engine: engine)
    }

    private init(_ primitive: Primitive, _ argument: Int32, pointer: UnsafeMutableRawPointer, elementCount: Int,
                 engine: dnnl_engine_t) {
        var md = primitive.memoryDescriptor(argument)
        // A region's descriptor is built from this very tensor's shape, which the cache key holds; oneDNN
        // reports no meaningful size for it.
        let bytes = dnnl_memory_desc_get_size(&md)
        let isRegion = primitive.descriptor.regionArguments.contains(argument)
        guard isRegion || bytes == elementCount * MemoryLayout<Float>.stride else {
            fatalError("oneDNN: \(primitive.context): argument \(argument) needs \(bytes) bytes, "
                       + "the tensor has \(elementCount) floats")
        }
        var memory: dnnl_memory_t?
        check(dnnl_memory_create(&memory, &md, engine, pointer), primitive.context)
        (self.argument, self.handle) = (argument, memory!)
    }

    /// Memory for a buffer no tensor holds (a pooling workspace, a bf16 copy, a kernel in a blocked layout), taken
    /// from the tensors' pool like any activation.
    init(allocatedFor primitive: Primitive, _ argument: Int32, engine: dnnl_engine_t) {
        var md = primitive.memoryDescriptor(argument)
        let floats = (dnnl_memory_desc_get_size(&md) + MemoryLayout<Float>.stride - 1) / MemoryLayout<Float>.stride
        let storage = TensorStorage(count: floats)
        var memory: dnnl_memory_t?
        check(dnnl_memory_create(&memory, &md, engine, storage.base), primitive.context)
        (self.argument, self.handle, self.storage) = (argument, memory!, storage)
    }

    deinit { dnnl_memory_destroy(handle) }
}

/// Stops on a failed oneDNN call: every failure here is a programming error (callers validate shapes).
func check(_ status: dnnl_status_t, _ context: @autoclosure () -> String) {
    guard status != dnnl_success else { return }
    failed(status, context())
}

func failed(_ status: dnnl_status_t, _ context: String) -> Never {
    let name: String
    switch status {
    case dnnl_out_of_memory: name = "out_of_memory"
    case dnnl_invalid_arguments: name = "invalid_arguments"
    case dnnl_unimplemented: name = "unimplemented"
    case dnnl_iterator_ends: name = "iterator_ends"
    case dnnl_runtime_error: name = "runtime_error"
    case dnnl_not_required: name = "not_required"
    default: name = "status \(status.rawValue)"
    }
    fatalError("oneDNN failed with \(name): \(context)")
}
