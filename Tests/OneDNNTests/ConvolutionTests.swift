import OneDNN
import Tensors
import XCTest

final class ConvolutionTests: BackendComparisonCase {
    struct Case {
        let input: [Int]
        let kernel: (Int, Int)
        let strides: (Int, Int)
        let outputChannels: Int
        let padding: Padding2D
        let withBias: Bool

        init(input: [Int], kernel: (Int, Int), strides: (Int, Int), outputChannels: Int, padding: Padding,
             withBias: Bool = true) {
            let geometry = WindowGeometry(kernel: kernel, strides: strides, padding: padding,
                                          inputHeight: input[1], inputWidth: input[2])
            self.init(input: input, kernel: kernel, strides: strides, outputChannels: outputChannels,
                      explicitPadding: geometry.padding, withBias: withBias)
        }

        init(input: [Int], kernel: (Int, Int), strides: (Int, Int), outputChannels: Int, explicitPadding: Padding2D,
             withBias: Bool = true) {
            (self.input, self.kernel, self.strides, self.outputChannels) = (input, kernel, strides, outputChannels)
            (self.padding, self.withBias) = (explicitPadding, withBias)
        }

        var geometry: WindowGeometry { WindowGeometry(kernel: kernel, strides: strides, padding: padding) }
        var kernelShape: [Int] { [kernel.0, kernel.1, input[3], outputChannels] }
    }

    let cases = [
        Case(input: [2, 7, 7, 3], kernel: (3, 3), strides: (1, 1), outputChannels: 5, padding: .same),
        // TensorFlow pads 0 before and 1 after here.
        Case(input: [1, 8, 8, 5], kernel: (3, 3), strides: (2, 2), outputChannels: 17, padding: .same),
        Case(input: [2, 9, 11, 17], kernel: (1, 1), strides: (2, 2), outputChannels: 16, padding: .valid,
             withBias: false),
        // The ResNet stem's shape on a small image: pads 2 before and 3 after.
        Case(input: [1, 16, 16, 3], kernel: (7, 7), strides: (2, 2), outputChannels: 8, padding: .same),
        Case(input: [1, 9, 9, 5], kernel: (3, 3), strides: (2, 2), outputChannels: 3, padding: .valid),
        Case(input: [2, 6, 6, 32], kernel: (1, 1), strides: (1, 1), outputChannels: 64, padding: .valid),
        Case(input: [2, 5, 6, 4], kernel: (3, 3), strides: (1, 1), outputChannels: 3,
             explicitPadding: Padding2D(top: 1, bottom: 0, left: 0, right: 2), withBias: false),
        Case(input: [1, 6, 5, 3], kernel: (1, 3), strides: (1, 2), outputChannels: 5, padding: .same),
    ]

    func testForwardMatchesReference() {
        for (index, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(index) * 10 + 1)
            let kernel = randomTensor(c.kernelShape, seed: UInt64(index) * 10 + 2)
            let bias = c.withBias ? randomTensor([c.outputChannels], seed: UInt64(index) * 10 + 3) : nil
            assertClose(fast.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry),
                        reference.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry),
                        tolerance: 1e-5, "conv2D \(c.input) kernel \(c.kernelShape) \(c.geometry)")
        }
    }

    /// A convolution with a residual added and a ReLU applied as oneDNN post-ops equals the three operations one after
    /// the other bit for bit (residuals in the plain layout and in the output's; direct, Winograd and bf16 kernels), and
    /// is the reference backend's within its rounding. On AVX-512 CPUs it runs as one primitive, with no separate
    /// addition or ReLU, but for a residual added to a convolution of fewer than 16 input channels (the RGB stem's plain
    /// layout): there oneDNN would add it with a slower kernel than the convolution's own, and the operations run apart.
    func testConvolutionWithResidualAndReLUEqualsTheSeparateOperations() {
        let backends = [fast, OneDNNBackend(threads: 2, convolutionAlgorithm: .winograd),
                        OneDNNBackend(threads: 2, precision: .mixedBFloat16)]
        for (backendIndex, backend) in backends.enumerated() {
            for (index, c) in cases.enumerated() {
                let x = randomTensor(c.input, seed: UInt64(index) * 10 + 7)
                let kernel = randomTensor(c.kernelShape, seed: UInt64(index) * 10 + 8)
                let bias = c.withBias ? randomTensor([c.outputChannels], seed: UInt64(index) * 10 + 9) : nil
                let convolved = backend.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry)
                let plainResidual = randomTensor(convolved.shape, seed: UInt64(index) * 10 + 10)
                for (residual, relu) in [(nil, true), (plainResidual, false), (plainResidual, true),
                                         (plainResidual.converted(to: convolved.layout), true)] {
                    let what = "backend \(backendIndex), conv2D \(c.input) kernel \(c.kernelShape) \(c.geometry), "
                        + "residual \(residual?.layout as Any), relu \(relu)"
                    let profiler = Profiler()
                    Profiler.current = profiler
                    let fused = backend.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry, adding: residual, relu: relu)
                    Profiler.current = nil
                    let sum = residual.map { backend.add([convolved, $0]) } ?? convolved
                    XCTAssertEqual(fused.plain().scalars, (relu ? backend.relu(sum) : sum).plain().scalars, what)
                    guard backend === fast else { continue }
                    assertClose(fused, reference.conv2D(x, kernel: kernel, bias: bias, geometry: c.geometry, adding: residual, relu: relu),
                                tolerance: 1e-5, what)
                    guard OneDNNBackend.instructionSet.hasPrefix("avx512") else { continue }
                    let primitives = profiler.events.filter { $0.category == "primitive" }.map(\.name)
                    let fusedIntoOne = residual == nil || c.input[3] >= TensorLayout.channelBlock
                    XCTAssertEqual(primitives.filter { $0.hasPrefix("convolution") },
                                   [fusedIntoOne ? "convolutionForwardThen" : "convolutionForward"], what)
                    XCTAssertEqual(primitives.contains { ["sum", "relu", "addReLU"].contains($0) }, !fusedIntoOne, "\(what): \(primitives)")
                }
            }
        }
    }

    func testBackwardMatchesReference() {
        for (index, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(index) * 10 + 4)
            let kernel = randomTensor(c.kernelShape, seed: UInt64(index) * 10 + 5)
            let outputShape = c.geometry.outputShape(c.input, c.outputChannels)
            let outputGradient = randomTensor(outputShape, seed: UInt64(index) * 10 + 6)
            let actual = fast.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient, geometry: c.geometry,
                                             withBias: c.withBias, inputGradient: true)
            let expected = reference.conv2DBackward(x, kernel: kernel, outputGradient: outputGradient,
                                                    geometry: c.geometry, withBias: c.withBias, inputGradient: true)
            let what = "conv2DBackward \(c.input) kernel \(c.kernelShape) \(c.geometry)"
            assertClose(actual.input!, expected.input!, tolerance: 1e-5, "\(what): input gradient")
            assertClose(actual.kernel, expected.kernel, tolerance: 1e-5, "\(what): kernel gradient")
            XCTAssertEqual(actual.bias == nil, !c.withBias, "\(what): bias gradient presence")
            if let actualBias = actual.bias, let expectedBias = expected.bias {
                assertClose(actualBias, expectedBias, tolerance: 1e-5, "\(what): bias gradient")
            }
        }
    }
}

extension WindowGeometry {
    func outputShape(_ input: [Int], _ channels: Int) -> [Int] {
        [input[0], outputHeight(input[1]), outputWidth(input[2]), channels]
    }
}

/// The other convolution algorithms against the reference backend: Winograd (on the 3x3 stride-1 shapes oneDNN has
/// it for, direct elsewhere) and `auto` (the faster of the two, timed), forward and backward. Winograd rounds differently (measured on
/// the 3x3 case: 9e-6 of the values against the reference, direct 2e-6), hence the looser bound.
final class ConvolutionAlgorithmTests: XCTestCase {
    func testWinogradAndAutoComputeTheSameConvolutionsUpToTheirRounding() {
        let reference = ReferenceBackend()
        let shapes: [(input: [Int], kernel: [Int], strides: (Int, Int))] = [
            ([2, 14, 14, 64], [3, 3, 64, 64], (1, 1)),  // ResNet's 3x3 stride-1 convolution: Winograd's case
            ([1, 20, 20, 3], [7, 7, 3, 16], (2, 2)),    // the stem: Winograd has no kernel for it, direct runs
        ]
        for algorithm in [ConvolutionAlgorithm.winograd, .auto] {
            let choices = ConvolutionAlgorithmChoices(file: temporaryChoicesFile(), threads: 2)
            let backend = OneDNNBackend(threads: 2, convolutionAlgorithm: algorithm, algorithmChoices: choices)
            for (index, shape) in shapes.enumerated() {
                let seed = UInt64(index) * 10
                let geometry = WindowGeometry(kernel: (shape.kernel[0], shape.kernel[1]), strides: shape.strides, padding: .same,
                                              inputHeight: shape.input[1], inputWidth: shape.input[2])
                let x = randomTensor(shape.input, seed: seed + 1), kernel = randomTensor(shape.kernel, seed: seed + 2, in: -0.2...0.2)
                let bias = randomTensor([shape.kernel[3]], seed: seed + 3)
                let output = backend.conv2D(x, kernel: kernel, bias: bias, geometry: geometry)
                let expected = reference.conv2D(x, kernel: kernel, bias: bias, geometry: geometry)
                let what = "\(algorithm) \(shape.input) * \(shape.kernel)"
                XCTAssertLessThan(output.maxRelativeDifference(to: expected), 5e-4, what)
                if algorithm == .winograd && index == 0 {
                    let direct = OneDNNBackend(threads: 2).conv2D(x, kernel: kernel, bias: bias, geometry: geometry)
                    print("Winograd vs reference \(output.maxRelativeDifference(to: expected)), direct vs reference "
                          + "\(direct.maxRelativeDifference(to: expected))")
                    XCTAssertNotEqual(output.scalars, direct.scalars, "the Winograd kernel must really run (it rounds differently)")
                }
                let gradient = randomTensor(expected.shape, seed: seed + 4)
                let actual = backend.conv2DBackward(x, kernel: kernel, outputGradient: gradient, geometry: geometry,
                                                    withBias: true, inputGradient: true)
                let wanted = reference.conv2DBackward(x, kernel: kernel, outputGradient: gradient, geometry: geometry,
                                                      withBias: true, inputGradient: true)
                XCTAssertLessThan(actual.input!.maxRelativeDifference(to: wanted.input!), 5e-4, "\(what): input gradient")
                XCTAssertLessThan(actual.kernel.maxRelativeDifference(to: wanted.kernel), 5e-4, "\(what): kernel gradient")
                XCTAssertLessThan(actual.bias!.maxRelativeDifference(to: wanted.bias!), 1e-4, "\(what): bias gradient")
            }
        }
    }

    /// `auto` times a convolution once per shape and direction where both kernels exist, keeps the choice in its file,
    /// and every backend after it reads the file instead of timing: it computes with the kernels the file names.
    func testAutoTimesEachConvolutionOnceAndKeepsTheChoiceOnDisk() throws {
        let file = temporaryChoicesFile()
        let geometry = WindowGeometry(kernel: (3, 3), strides: (1, 1), padding: .same, inputHeight: 14, inputWidth: 14)
        let x = randomTensor([2, 14, 14, 64], seed: 1), kernel = randomTensor([3, 3, 64, 64], seed: 2, in: -0.2...0.2)
        let bias = randomTensor([64], seed: 3), gradient = randomTensor([2, 14, 14, 64], seed: 4)
        /// Forward, input gradient and kernel gradient, all in one array.
        func run(_ backend: OneDNNBackend) -> [Float] {
            let gradients = backend.conv2DBackward(x, kernel: kernel, outputGradient: gradient, geometry: geometry, withBias: true,
                                                   inputGradient: true)
            return backend.conv2D(x, kernel: kernel, bias: bias, geometry: geometry).scalars + gradients.input!.scalars + gradients.kernel.scalars
        }
        func auto(threads: Int = 2) -> (OneDNNBackend, ConvolutionAlgorithmChoices) {
            let choices = ConvolutionAlgorithmChoices(file: file, threads: threads)
            return (OneDNNBackend(threads: threads, convolutionAlgorithm: .auto, algorithmChoices: choices), choices)
        }
        let (first, firstChoices) = auto()
        let timed = run(first)
        guard OneDNNBackend.instructionSet.hasPrefix("avx512") else {
            // oneDNN 2.6 has Winograd kernels only for AVX-512: elsewhere there is nothing to choose, nothing is timed.
            XCTAssertEqual(firstChoices.timedCount, 0)
            XCTAssertEqual(timed, run(OneDNNBackend(threads: 2)))
            return
        }
        XCTAssertEqual(firstChoices.timedCount, 3, "forward, input gradient, kernel gradient")
        let kept = try keptChoices(file, challenger: "winograd", standard: "direct")
        for key in kept.keys { XCTAssertTrue(key.hasPrefix("\(firstChoices.machine) | "), key) }
        XCTAssertTrue(firstChoices.machine.hasPrefix("\(ConvolutionAlgorithmChoices.cpuModel) | \(OneDNNBackend.instructionSet) | oneDNN "))
        XCTAssertTrue(firstChoices.machine.hasSuffix(" | 2 threads"), firstChoices.machine)
        XCTAssertEqual(Set(kept.keys.map { String($0.dropFirst(firstChoices.machine.count + 3).prefix { $0 != "(" && $0 != " " }) }),
                       ["convolutionForward", "convolutionBackwardData", "convolutionBackwardWeights"])

        let (second, secondChoices) = auto()
        XCTAssertEqual(run(second), timed, "the kept choices, the same kernels")
        XCTAssertEqual(secondChoices.timedCount, 0)
        // Another thread count is another machine for timing.
        let (oneThread, oneThreadChoices) = auto(threads: 1)
        _ = run(oneThread)
        XCTAssertEqual(oneThreadChoices.timedCount, 3)

        // The file decides: all direct computes as `direct`, all Winograd as `winograd`.
        let allKept = try JSONDecoder().decode([String: ConvolutionAlgorithmChoices.Choice].self, from: Data(contentsOf: file))
        for algorithm in [ConvolutionAlgorithm.direct, .winograd] {
            try JSONEncoder().encode(allKept.mapValues { choice in
                var forced = choice
                forced.kept = algorithm.rawValue
                return forced
            }).write(to: file)
            XCTAssertEqual(run(auto().0), run(OneDNNBackend(threads: 2, convolutionAlgorithm: algorithm)), "\(algorithm)")
        }
        XCTAssertNotEqual(run(OneDNNBackend(threads: 2, convolutionAlgorithm: .direct)),
                          run(OneDNNBackend(threads: 2, convolutionAlgorithm: .winograd)), "the two really differ")

        // Choices an earlier bc-train kept in convolution-algorithms.json (another format) are read as the same.
        let earlier = file.deletingLastPathComponent().appendingPathComponent("convolution-algorithms.json")
        let earlierChoices = allKept.mapValues { ["algorithm": "winograd", "winograd_ms": $0.milliseconds["winograd"]!, "direct_ms": $0.milliseconds["direct"]!] }
        try JSONSerialization.data(withJSONObject: earlierChoices).write(to: earlier)
        try FileManager.default.removeItem(at: file)
        let (upgraded, upgradedChoices) = auto()
        XCTAssertEqual(run(upgraded), run(OneDNNBackend(threads: 2, convolutionAlgorithm: .winograd)), "the earlier file's choices")
        XCTAssertEqual(upgradedChoices.timedCount, 0)

        // A damaged file is a cache miss: timed again and replaced.
        try Data("not json".utf8).write(to: file)
        let (afterDamage, afterDamageChoices) = auto()
        _ = run(afterDamage)
        XCTAssertEqual(afterDamageChoices.timedCount, 3)
        XCTAssertEqual(try JSONDecoder().decode([String: ConvolutionAlgorithmChoices.Choice].self, from: Data(contentsOf: file)).count, 3)

        // Where no file can be kept (its folder would sit under a plain file), the choices last for the process.
        let blocker = file.deletingLastPathComponent().appendingPathComponent("plain-file")
        try Data().write(to: blocker)
        let homeless = ConvolutionAlgorithmChoices(file: blocker.appendingPathComponent("cache/choices.json"), threads: 2)
        let backend = OneDNNBackend(threads: 2, convolutionAlgorithm: .auto, algorithmChoices: homeless)
        XCTAssertEqual(run(backend).count, timed.count)
        XCTAssertEqual(homeless.timedCount, 3)
        _ = run(backend)
        XCTAssertEqual(homeless.timedCount, 3, "kept in memory")
    }

    /// `mixed_bfloat16` with `auto`, where the CPU multiplies bf16 in hardware: each direction's bf16 kernel (with the
    /// conversions of its inputs) is timed against the fp32 one once, the file keeps both times, and a backend reading
    /// a file that names fp32 (or bf16) everywhere computes as float32 (or with bf16 kernels only).
    func testAutoInMixedBFloat16TimesBFloat16AgainstFloat32() throws {
        let file = temporaryChoicesFile()
        let geometry = WindowGeometry(kernel: (1, 1), strides: (1, 1), padding: .valid, inputHeight: 14, inputWidth: 14)
        let x = randomTensor([4, 14, 14, 64], seed: 1), kernel = randomTensor([1, 1, 64, 128], seed: 2, in: -0.2...0.2)
        let gradient = randomTensor([4, 14, 14, 128], seed: 4)
        func run(_ backend: OneDNNBackend) -> [Float] {
            let gradients = backend.conv2DBackward(x, kernel: kernel, outputGradient: gradient, geometry: geometry, withBias: false,
                                                   inputGradient: true)
            return backend.conv2D(x, kernel: kernel, bias: nil, geometry: geometry).scalars + gradients.input!.scalars + gradients.kernel.scalars
        }
        func auto() -> (OneDNNBackend, ConvolutionAlgorithmChoices) {
            let choices = ConvolutionAlgorithmChoices(file: file, threads: 2)
            return (OneDNNBackend(threads: 2, convolutionAlgorithm: .auto, precision: .mixedBFloat16, algorithmChoices: choices), choices)
        }
        let (first, firstChoices) = auto()
        let timed = run(first)
        let float32 = run(OneDNNBackend(threads: 2))
        guard OneDNNBackend.hasBFloat16Instructions else {
            // No bf16 kernels to time: convolutions stay fp32 (a 1x1 convolution has no Winograd kernel either).
            XCTAssertEqual(firstChoices.timedCount, 0)
            XCTAssertEqual(timed, float32)
            return
        }
        XCTAssertEqual(firstChoices.timedCount, 3, "forward, input gradient, kernel gradient")
        let kept = try keptChoices(file, challenger: "bfloat16", standard: "float32")
        for key in kept.keys { XCTAssertTrue(key.hasSuffix(" in mixed_bfloat16"), key) }
        print("mixed_bfloat16 auto: \(kept.values.map { "\($0.kept) \($0.milliseconds)" })")
        let (second, secondChoices) = auto()
        XCTAssertEqual(run(second), timed, "the kept choices, the same kernels")
        XCTAssertEqual(secondChoices.timedCount, 0)

        // The file decides: float32 everywhere computes as float32; bf16 everywhere as `mixed_bfloat16` with direct.
        let direct = OneDNNBackend(threads: 2, precision: .mixedBFloat16)
        for (forced, expected) in [("float32", float32), ("bfloat16", run(direct))] {
            try JSONEncoder().encode(kept.mapValues { choice in
                var choice = choice
                choice.kept = forced
                return choice
            }).write(to: file)
            let (backend, _) = auto()
            XCTAssertEqual(run(backend), expected, forced)
            XCTAssertEqual(Set(backend.convolutionKernels.keys.map { $0.split(separator: " ").last! }), [forced == "float32" ? "f32" : "bf16"])
        }
        XCTAssertNotEqual(float32, run(direct), "the two really differ")

        // Choices differing by direction, as on AMX (bf16 forward, fp32 gradients): each direction computes as its
        // choice says, the backward ones with a forward hint in their own precision.
        try JSONEncoder().encode(Dictionary(uniqueKeysWithValues: kept.map { key, choice in
            var choice = choice
            choice.kept = key.contains("convolutionForward") ? "bfloat16" : "float32"
            return (key, choice)
        })).write(to: file)
        let forwardCount = x.count / 64 * 128
        let (mixedChoices, _) = auto()
        let mixed = run(mixedChoices), bfloat16 = run(direct)
        XCTAssertEqual(Array(mixed.prefix(forwardCount)), Array(bfloat16.prefix(forwardCount)), "forward in bf16")
        XCTAssertEqual(Array(mixed.dropFirst(forwardCount)), Array(float32.dropFirst(forwardCount)), "gradients in float32")
    }

    /// The file's three choices (forward, input gradient, kernel gradient), each with both times, keeping what the
    /// rule keeps: `challenger` where it takes at most `challengerTimeFraction` of `standard`'s time.
    func keptChoices(_ file: URL, challenger: String, standard: String) throws -> [String: ConvolutionAlgorithmChoices.Choice] {
        let kept = try JSONDecoder().decode([String: ConvolutionAlgorithmChoices.Choice].self, from: Data(contentsOf: file))
        XCTAssertEqual(kept.count, 3)
        for (key, choice) in kept {
            let fast = try XCTUnwrap(choice.milliseconds[challenger], key), slow = try XCTUnwrap(choice.milliseconds[standard], key)
            XCTAssertGreaterThan(fast, 0)
            XCTAssertGreaterThan(slow, 0)
            XCTAssertEqual(choice.kept, fast <= ConvolutionAlgorithmChoices.challengerTimeFraction * slow ? challenger : standard, key)
        }
        return kept
    }

    func temporaryChoicesFile() -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("bc-conv-\(UUID().uuidString)/choices.json")
    }
}
