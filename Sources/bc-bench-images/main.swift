import ArgumentParser
import BuildInfo
import Foundation
import Images

/// Input-pipeline throughput: read + decode + resize to 224x224 + augment + ResNet preprocessing, here and in
/// Keras' `ImageDataGenerator.flow_from_directory` on the same files, with the same options.
struct BenchImages: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc-bench-images",
        abstract: "Images per second of our input pipeline and of Keras' flow_from_directory (medians, ratio).",
        discussion: """
            Both sides read each PNG from disk, decode it, resize it to 224x224 with nearest neighbour (Keras' \
            default), apply one random warp (rotation 20, shifts 0.1, shear 10, zoom 0.2, flips, fill nearest) \
            and ResNet's caffe preprocessing. Threads split the images between workers; Keras' side fetches \
            batches from a thread pool of the same size (scipy and PIL release the GIL), as fit(workers=N) did.
            """,
        version: BuildInfo.describe(tool: "bc-bench-images"))

    @Option(help: "Folder with class subfolders of PNGs (flow_from_directory layout).")
    var data = BenchImages.defaultData
    @Option(parsing: .upToNextOption, help: "Thread counts to time.") var threads: [Int] = [1, 2]
    @Option(help: "Passes over the files per timed run.") var passes = 8
    @Option(help: "Timed runs; the median is reported.") var repeats = 5
    @Option(help: "The Python with TensorFlow/Keras that runs the peer script.") var peer = "/opt/bc-train-venv/bin/python"
    @Option(help: "The Keras peer script.") var peerScript = BenchImages.defaultPeerScript
    @Flag(help: "Time only ours.") var noPeer = false

    static let sourceRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let defaultData = sourceRoot.appendingPathComponent("Tests/Fixtures/breakhis-sample/400X").path
    static let defaultPeerScript = sourceRoot.appendingPathComponent("Tests/Benchmarks/keras_flow.py").path

    static let augmentation = Augmentation(rotationRange: 20, widthShiftRange: 0.1, heightShiftRange: 0.1,
                                           shearRange: 10, zoomRange: [0.8, 1.2], horizontalFlip: true,
                                           verticalFlip: true, fillMode: .nearest)

    func validate() throws {
        guard !threads.isEmpty, threads.allSatisfy({ $0 > 0 }), passes > 0, repeats > 0 else {
            throw ValidationError("--threads, --passes and --repeats must be positive")
        }
    }

    func run() throws {
        let root = URL(fileURLWithPath: data)
        let files = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted().flatMap { label in
            try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(label).path)
                .filter { $0.hasSuffix(".png") }.sorted().map { root.appendingPathComponent(label).appendingPathComponent($0) }
        }
        guard !files.isEmpty else { throw ValidationError("no PNG files in class folders under \(root.path)") }
        let pipeline = ImagePipeline(height: 224, width: 224, resize: .nearest, augmentation: Self.augmentation,
                                     preprocessing: .caffe)
        let images = files.count * passes
        print("bc-bench-images: \(files.count) files x \(passes) passes = \(images) images per run, 224x224, "
              + "median of \(repeats) runs")
        try printStages(files: files, pipeline: pipeline)
        print("threads   ours img/s   Keras img/s   ours/Keras")
        for threadCount in threads {
            // Untimed warm-up (page cache, first-touch allocations), with keys of its own.
            try runOurs(files: files, pipeline: pipeline, threads: threadCount, passes: passes, run: repeats)
            var rates: [Double] = []
            for run in 0..<repeats {
                let elapsed = try seconds {
                    try runOurs(files: files, pipeline: pipeline, threads: threadCount, passes: passes, run: run)
                }
                rates.append(Double(images) / elapsed)
            }
            let ours = median(rates)
            let keras = noPeer ? nil : try peerImagesPerSecond(threads: threadCount)
            let kerasText = keras.map { String(format: "%11.1f   %9.2fx", $0, ours / $0) } ?? "          -            -"
            print(String(format: "%7d   %10.1f   ", threadCount, ours) + kerasText)
        }
    }

    /// Median milliseconds per image of each stage of ours, on one thread.
    func printStages(files: [URL], pipeline: ImagePipeline) throws {
        var read: [Double] = [], decode: [Double] = [], process: [Double] = []
        var output = [Float](repeating: 0, count: 224 * 224 * 3)
        for (index, file) in (files + files).enumerated() {
            var data = Data()
            read.append(try seconds { data = try Data(contentsOf: file) } * 1e3)
            var image = RGBImage(width: 0, height: 0, pixels: [])
            decode.append(try seconds { image = try PNGCodec.decode(data, source: file.path) } * 1e3)
            process.append(seconds {
                output.withUnsafeMutableBufferPointer { pipeline.process(image, augmentationKey: UInt64(index), into: $0) }
            } * 1e3)
        }
        print(String(format: "ours, one thread, median ms/image: read %.2f, decode %.2f, resize+augment+preprocess %.2f",
                     median(read), median(decode), median(process)))
    }

    /// Worker w takes images w, w + threads, ...; each has its own output buffer, as a loader's workers would.
    func runOurs(files: [URL], pipeline: ImagePipeline, threads: Int, passes: Int, run: Int) throws {
        let total = files.count * passes
        let failures = UnsafeMutableBufferPointer<String?>.allocate(capacity: threads)
        failures.initialize(repeating: nil)
        defer { failures.deallocate() }
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var output = [Float](repeating: 0, count: 224 * 224 * 3)
            for index in stride(from: worker, to: total, by: threads) {
                do {
                    let image = try PNGCodec.decode(contentsOf: files[index % files.count])
                    output.withUnsafeMutableBufferPointer {
                        pipeline.process(image, augmentationKey: UInt64(run * total + index), into: $0)
                    }
                } catch {
                    failures[worker] = "\(error)"
                    return
                }
            }
        }
        if let failure = failures.compactMap({ $0 }).first { throw ValidationError(failure) }
    }

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return (sorted[(sorted.count - 1) / 2] + sorted[sorted.count / 2]) / 2
    }

    func peerImagesPerSecond(threads: Int) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: peer)
        process.arguments = [peerScript, "--data", data, "--threads", "\(threads)", "--passes", "\(passes)",
                             "--repeats", "\(repeats)"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        struct Result: Decodable { let images_per_second: Double }
        guard process.terminationStatus == 0, let lastLine = String(decoding: output, as: UTF8.self)
                .split(separator: "\n").last,
              let result = try? JSONDecoder().decode(Result.self, from: Data(lastLine.utf8)) else {
            throw ValidationError("\(peerScript) failed (status \(process.terminationStatus)): \(String(decoding: output, as: UTF8.self))")
        }
        return result.images_per_second
    }
}

BenchImages.main()
