import Dispatch
import Foundation
import Images
import NIOConcurrencyHelpers
import Serving

/// One uploaded file for inference: its name (as the user sent it) and its bytes.
public struct Upload: Sendable, Equatable {
    public var name: String
    public var bytes: Data

    public init(name: String, bytes: Data) { (self.name, self.bytes) = (name, bytes) }
}

/// One image's class probabilities, and how far the test-time augmentation's views disagree on it
/// (`Predictor.predictWithSpread`; 0 without test-time augmentation); with its Grad-CAM when asked for.
public struct ImageScore: Sendable, Equatable {
    public let probabilities: [Double]
    public let spread: Double
    /// With crops (`Predictor.crops`): each crop's probabilities.
    public var crops: [[Double]]? = nil
    public var heatmap: ImageHeatmap? = nil
}

/// An image's Grad-CAM for the class called at the request's threshold: the map, and the map coloured at the
/// image's size (at most 1024 pixels a side) as a PNG; the page lays it over the image at the opacity the user picks.
public struct ImageHeatmap: Sendable, Equatable {
    public let map: ClassActivationMap
    public let png: Data
}

/// Why one file has no prediction; the message is shown in that file's row.
public struct InferenceFailure: Error, Sendable, Equatable {
    public let message: String
}

/// The server is busy: the queue holds as many images as it may. Answered with 503 and Retry-After.
public struct QueueFull: Error, Sendable {}

/// Images of every request wait here for one inference thread, which owns the predictor and takes up to
/// `maxBatch` images at a time from the front, across requests, decodes them and runs them as one batch.
/// Decoding and inference are CPU-bound, so they run on that thread, never on the server's event loops or the
/// cooperative pool; only `capacity` images may wait, so memory stays bounded and a busy server says so at once.
public final class InferenceQueue: Sendable {
    public typealias Outcome = Result<ImageScore, InferenceFailure>

    private struct Job {
        let id: Int
        let uploads: [Upload]
        /// With Grad-CAM maps: the threshold that calls each image's class.
        let heatmapThreshold: Double?
        var outcomes: [Outcome?]
        var taken = 0
        var finished = 0
        let continuation: CheckedContinuation<[Outcome], Error>
    }

    private struct State {
        var jobs: [Job] = []
        var waitingImages = 0
        var nextID = 0
        var stopped = false
        var statistics = Statistics()
    }

    /// What the inference thread has done so far; images / batches is the mean batch size.
    public struct Statistics: Codable, Sendable, Equatable {
        public var images = 0
        public var batches = 0
    }

    public let capacity: Int
    public let maxBatch: Int
    public let maxSide: Int
    private let state = NIOLockedValueBox(State())
    private let wakeUp = DispatchSemaphore(value: 0)

    /// Loads the model on a new inference thread (the predictor never leaves it) and returns once it is loaded,
    /// with what the server may say about it; throws the loader's error.
    public static func start(capacity: Int, maxBatch: Int, maxSide: Int, threshold: Double,
                             load: @escaping @Sendable () throws -> Predictor) throws -> (InferenceQueue, ModelInfo) {
        precondition(capacity >= 1 && maxBatch >= 1 && maxSide >= 1, "queue limits must be positive")
        let queue = InferenceQueue(capacity: capacity, maxBatch: maxBatch, maxSide: maxSide)
        let loaded = NIOLockedValueBox<Result<ModelInfo, Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread {
            let predictor: Predictor
            do {
                predictor = try load()
                loaded.withLockedValue { $0 = .success(ModelInfo(predictor, threshold: threshold)) }
            } catch {
                loaded.withLockedValue { $0 = .failure(error) }
                ready.signal()
                return
            }
            ready.signal()
            queue.serve(predictor)
        }
        thread.name = "bc-serve inference"
        thread.start()
        ready.wait()
        return (queue, try loaded.withLockedValue { $0! }.get())
    }

    private init(capacity: Int, maxBatch: Int, maxSide: Int) {
        (self.capacity, self.maxBatch, self.maxSide) = (capacity, maxBatch, maxSide)
    }

    /// Class probabilities (or the failure) of each upload, in order, with the Grad-CAM of the class called at
    /// `heatmapThreshold` when one is given. Throws `QueueFull` at once when the uploads do not fit beside the images
    /// already waiting.
    public func predict(_ uploads: [Upload], heatmapThreshold: Double? = nil) async throws -> [Outcome] {
        if uploads.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLockedValue { state -> Bool in
                guard !state.stopped, state.waitingImages + uploads.count <= capacity else { return false }
                state.waitingImages += uploads.count
                state.nextID += 1
                state.jobs.append(Job(id: state.nextID, uploads: uploads, heatmapThreshold: heatmapThreshold,
                                      outcomes: Array(repeating: nil, count: uploads.count), continuation: continuation))
                return true
            }
            if accepted { wakeUp.signal() } else { continuation.resume(throwing: QueueFull()) }
        }
    }

    /// Images accepted and not yet finished.
    public var waitingImages: Int { state.withLockedValue { $0.waitingImages } }

    public var statistics: Statistics { state.withLockedValue { $0.statistics } }

    /// Ends the inference thread once the images already accepted are done; later requests get `QueueFull`.
    public func stop() {
        state.withLockedValue { $0.stopped = true }
        wakeUp.signal()
    }

    private func serve(_ predictor: Predictor) {
        while true {
            let batch = takeBatch()
            if batch.isEmpty {
                if state.withLockedValue({ $0.stopped && $0.jobs.isEmpty }) { return }
                wakeUp.wait()
                continue
            }
            finish(batch, outcomes: run(predictor, on: batch))
        }
    }

    private struct Item {
        let job: Int
        let index: Int
        let upload: Upload
        let heatmapThreshold: Double?
    }

    /// Up to `maxBatch` images from the front of the queue, oldest request first.
    private func takeBatch() -> [Item] {
        state.withLockedValue { state in
            var items: [Item] = []
            for position in state.jobs.indices where items.count < maxBatch {
                let job = state.jobs[position]
                let end = min(job.uploads.count, job.taken + maxBatch - items.count)
                items += (job.taken..<end).map {
                    Item(job: job.id, index: $0, upload: job.uploads[$0], heatmapThreshold: job.heatmapThreshold)
                }
                state.jobs[position].taken = end
            }
            return items
        }
    }

    private func finish(_ batch: [Item], outcomes: [Outcome]) {
        let done = state.withLockedValue { state -> [(CheckedContinuation<[Outcome], Error>, [Outcome])] in
            for (item, outcome) in zip(batch, outcomes) {
                guard let position = state.jobs.firstIndex(where: { $0.id == item.job }) else { continue }
                state.jobs[position].outcomes[item.index] = outcome
                state.jobs[position].finished += 1
            }
            state.waitingImages -= batch.count
            state.statistics.images += batch.count
            state.statistics.batches += 1
            let complete = state.jobs.filter { $0.finished == $0.uploads.count }
            state.jobs.removeAll { $0.finished == $0.uploads.count }
            return complete.map { ($0.continuation, $0.outcomes.map { $0! }) }
        }
        for (continuation, outcomes) in done { continuation.resume(returning: outcomes) }
    }

    /// Decodes each upload (a bad one fails alone), predicts the decodable ones as one batch, and adds the Grad-CAM
    /// of the items that ask for it.
    private func run(_ predictor: Predictor, on items: [Item]) -> [Outcome] {
        var outcomes = [Outcome](repeating: .failure(InferenceFailure(message: "not run")), count: items.count)
        var images: [RGBImage] = [], positions: [Int] = []
        for (position, item) in items.enumerated() {
            switch decode(item.upload) {
            case .success(let image): images.append(image); positions.append(position)
            case .failure(let failure): outcomes[position] = .failure(failure)
            }
        }
        do {
            let scores = try predictor.predictWithSpread(images, batchSize: maxBatch).map {
                ImageScore(probabilities: $0.probabilities, spread: $0.spread, crops: $0.crops)
            }
            for (position, score) in zip(positions, scores) { outcomes[position] = .success(score) }
        } catch {
            for position in positions { outcomes[position] = .failure(InferenceFailure(message: "inference failed: \(error)")) }
            return outcomes
        }
        addHeatmaps(predictor, to: &outcomes, of: images, at: positions, for: items)
        return outcomes
    }

    /// The Grad-CAM of each predicted item that asks for it, for the class called at its threshold, coloured at
    /// the image's size (at most `heatmapSide` pixels a side). A map that cannot be made leaves the row without one.
    private func addHeatmaps(_ predictor: Predictor, to outcomes: inout [Outcome], of images: [RGBImage], at positions: [Int],
                             for items: [Item]) {
        let wanted = images.indices.compactMap { index -> (image: Int, threshold: Double, score: ImageScore)? in
            guard let threshold = items[positions[index]].heatmapThreshold, case .success(let score) = outcomes[positions[index]] else { return nil }
            return (index, threshold, score)
        }
        guard !wanted.isEmpty else { return }
        let classes = wanted.map { PredictionTable.calledClass($0.score.probabilities, positiveClass: predictor.positiveClass, threshold: $0.threshold) }
        guard let maps = try? predictor.classActivationMaps(wanted.map { images[$0.image] }, classes: classes, batchSize: maxBatch) else { return }
        for (item, map) in zip(wanted, maps) {
            let image = images[item.image], scale = min(1, Double(Self.heatmapSide) / Double(max(image.width, image.height)))
            let (width, height) = (max(1, Int(Double(image.width) * scale)), max(1, Int(Double(image.height) * scale)))
            guard let png = try? PNGCodec.encode(map.heatmap.colored(width: width, height: height)) else { continue }
            var score = item.score
            score.heatmap = ImageHeatmap(map: map, png: png)
            outcomes[positions[item.image]] = .success(score)
        }
    }

    /// The longest side of a coloured map in an answer: the page stretches it over the image anyway.
    static let heatmapSide = 1024

    private func decode(_ upload: Upload) -> Result<RGBImage, InferenceFailure> {
        guard !upload.bytes.isEmpty else { return .failure(InferenceFailure(message: "empty file")) }
        do {
            let image = try PNGCodec.decode(upload.bytes, source: upload.name, maxPixels: maxSide * maxSide)
            guard image.width <= maxSide, image.height <= maxSide else {
                return .failure(InferenceFailure(message: "image is \(image.width)x\(image.height) pixels; "
                                                 + "the server accepts at most \(maxSide) pixels a side"))
            }
            return .success(image)
        } catch let error as ImageError {
            return .failure(InferenceFailure(message: error.message))
        } catch {
            return .failure(InferenceFailure(message: "\(error)"))
        }
    }
}
