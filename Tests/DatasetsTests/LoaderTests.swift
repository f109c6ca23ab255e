import Datasets
import Foundation
import Images
import Tensors
import XCTest

final class LoaderTests: XCTestCase {
    /// 24 images of 6 patients; with a global batch of 5 the epoch has 5 steps and the last one 4 samples.
    private func samples() throws -> [Sample] {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 6, imagesPerPatient: 4, size: 20, seed: 9).write(to: folder)
        return try Dataset(root: folder).samples
    }

    private func configuration(worldSize: Int = 1, rank: Int = 0, workers: Int = 2,
                               order: SampleOrder = .shuffled, cacheBytes: Int = 0) -> LoaderConfiguration {
        LoaderConfiguration(height: 12, width: 14, augmentation: augmentationOn, preprocessing: .torch,
                            globalBatchSize: 5, worldSize: worldSize, rank: rank, seed: 42, order: order,
                            workerThreads: workers, prefetchBatches: 2, cacheBytes: cacheBytes)
    }

    private func epoch(_ loader: Loader, _ epoch: Int, from step: Int = 0) throws -> [Batch] {
        let batches = try loader.batches(epoch: epoch, startingAt: step)
        var result: [Batch] = []
        while let batch = try batches.nextBatch() { result.append(batch) }
        return result
    }

    private func assertSame(_ a: [Batch], _ b: [Batch], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual([x.epoch, x.step, x.globalBatchSize], [y.epoch, y.step, y.globalBatchSize], file: file, line: line)
            XCTAssertEqual(x.sampleIndices, y.sampleIndices, file: file, line: line)
            XCTAssertEqual(x.sampleKeys, y.sampleKeys, file: file, line: line)
            XCTAssertEqual(x.labels, y.labels, file: file, line: line)
            XCTAssertEqual(x.images.shape, y.images.shape, file: file, line: line)
            XCTAssertEqual(x.images.scalars, y.images.scalars, "images bit for bit", file: file, line: line)
        }
    }

    func testEveryWorldSizeSeesTheSameEpoch() throws {
        let samples = try samples()
        let single = try Loader(samples: samples, classCount: 2, configuration: configuration())
        let reference = try epoch(single, 1)
        XCTAssertEqual(reference.count, 5)
        XCTAssertEqual(reference.map(\.globalBatchSize), [5, 5, 5, 5, 4])
        XCTAssertEqual(reference.flatMap(\.sampleIndices).sorted(), Array(0..<24))
        XCTAssertEqual(reference.flatMap(\.labels), reference.flatMap(\.sampleIndices).map { samples[$0].label })
        let pairs = { (batches: [Batch]) in
            batches.flatMap { zip($0.sampleIndices, $0.sampleKeys).map { "\($0)-\($1)" } }.sorted()
        }
        for worldSize in [2, 3, 8] {
            let ranks = try (0..<worldSize).map { rank in
                try epoch(Loader(samples: samples, classCount: 2,
                                 configuration: configuration(worldSize: worldSize, rank: rank)), 1)
            }
            XCTAssertEqual(Set(ranks.map(\.count)), [5], "every rank runs 5 steps with \(worldSize) ranks")
            XCTAssertEqual(pairs(ranks.flatMap { $0 }), pairs(reference), "same (sample, key) multiset, \(worldSize) ranks")
            for step in 0..<5 {
                let parts = ranks.map { $0[step] }
                XCTAssertEqual(parts.map(\.sampleIndices).joined().map { $0 }, reference[step].sampleIndices)
                XCTAssertEqual(parts.map(\.sampleKeys).joined().map { $0 }, reference[step].sampleKeys)
                XCTAssertEqual(parts.map(\.labels).joined().map { $0 }, reference[step].labels)
                XCTAssertEqual(parts.flatMap(\.images.scalars), reference[step].images.scalars,
                               "rank images concatenated in rank order are the global batch (augmented)")
                XCTAssertTrue(parts.allSatisfy { $0.globalBatchSize == reference[step].globalBatchSize })
                XCTAssertEqual(parts.map { $0.images.shape[0] }, parts.map(\.sampleIndices.count))
            }
            if worldSize == 8 {
                // 5 samples per step over 8 ranks: ranks 5-7 get nothing, and in the last step rank 4 neither.
                XCTAssertEqual(ranks.map { $0[0].sampleIndices.count }, [1, 1, 1, 1, 1, 0, 0, 0])
                XCTAssertEqual(ranks.map { $0[4].sampleIndices.count }, [1, 1, 1, 1, 0, 0, 0, 0])
                XCTAssertEqual(ranks[7][4].images.shape, [0, 12, 14, 3])
                XCTAssertEqual(ranks[7][4].labels, [])
            }
        }
    }

    func testAugmentationChangesImagesAndKeysDifferByEpoch() throws {
        let samples = try samples()
        let loader = try Loader(samples: samples, classCount: 2, configuration: configuration(order: .sequential))
        let plain = try Loader(samples: samples, classCount: 2, configuration: {
            var c = configuration(order: .sequential); c.augmentation = .none; return c }())
        let epoch0 = try loader.batch(epoch: 0, step: 0), epoch1 = try loader.batch(epoch: 1, step: 0)
        XCTAssertEqual(epoch0.sampleIndices, [0, 1, 2, 3, 4])
        XCTAssertEqual(epoch0.sampleIndices, epoch1.sampleIndices)
        XCTAssertNotEqual(epoch0.sampleKeys, epoch1.sampleKeys)
        XCTAssertNotEqual(epoch0.images.scalars, epoch1.images.scalars, "augmentation follows the epoch's keys")
        XCTAssertNotEqual(epoch0.images.scalars, try plain.batch(epoch: 0, step: 0).images.scalars)
        XCTAssertEqual(try plain.batch(epoch: 0, step: 0).images.scalars, try plain.batch(epoch: 1, step: 0).images.scalars)
    }

    func testResumeYieldsTheUninterruptedBatches() throws {
        let samples = try samples()
        let uninterrupted = try Loader(samples: samples, classCount: 2, configuration: configuration(worldSize: 3, rank: 1))
        let full = try epoch(uninterrupted, 0) + epoch(uninterrupted, 1) + epoch(uninterrupted, 2)
        let resumed = try Loader(samples: samples, classCount: 2, configuration: configuration(worldSize: 3, rank: 1))
        let continuation = try epoch(resumed, 1, from: 3) + epoch(resumed, 2)
        assertSame(continuation, Array(full[8...]))
        XCTAssertEqual(try epoch(resumed, 1, from: 5).count, 0, "starting at the end of an epoch yields nothing")
        XCTAssertThrowsMentioning("cannot start at epoch 1, step 6", try resumed.batches(epoch: 1, startingAt: 6))
    }

    func testWorkerThreadsAndCacheDoNotChangeBatches() throws {
        let samples = try samples()
        let synchronous = try epoch(Loader(samples: samples, classCount: 2, configuration: configuration(workers: 0)), 3)
        let threaded = try epoch(Loader(samples: samples, classCount: 2, configuration: configuration(workers: 3)), 3)
        assertSame(threaded, synchronous)

        let cached = try Loader(samples: samples, classCount: 2, configuration: configuration(cacheBytes: 1 << 20))
        assertSame(try epoch(cached, 3), synchronous)
        XCTAssertEqual(cached.cachedBytes, 24 * 20 * 20 * 3, "every decoded image fits and is kept")
        assertSame(try epoch(cached, 3), synchronous)

        let small = try Loader(samples: samples, classCount: 2, configuration: configuration(cacheBytes: 5000))
        assertSame(try epoch(small, 3), synchronous)
        XCTAssertEqual(small.cachedBytes, 4 * 1200, "the cache stops at its budget")
    }

    func testAbandonedEpochStopsItsWorkers() throws {
        let samples = try samples()
        let loader = try Loader(samples: samples, classCount: 2, configuration: configuration(workers: 2))
        for _ in 0..<20 {
            let batches = try loader.batches(epoch: 0)
            XCTAssertNotNil(try batches.nextBatch())
        }
        assertSame(try epoch(loader, 0), try epoch(Loader(samples: samples, classCount: 2, configuration: configuration(workers: 0)), 0))
    }

    func testClassBalancedLoader() throws {
        let all = try samples()
        // 12 benign images and 4 malignant ones: a balanced epoch draws 8 of each.
        let imbalanced = all.filter { $0.label == 0 } + all.filter { $0.label == 1 }.prefix(4)
        let loader = try Loader(samples: imbalanced, classCount: 2, configuration: configuration(order: .classBalanced))
        let labels = try epoch(loader, 0).flatMap(\.labels)
        XCTAssertEqual(labels.count, 16)
        XCTAssertEqual(labels.filter { $0 == 1 }.count, 8)
    }

    func testCorruptPNGIsAnErrorNamingTheFile() throws {
        let root = try temporaryFolder()
        try writeClassFolders(root, [("a", "1.png"), ("a", "2.png"), ("b", "3.png"), ("b", "4.png")])
        let corrupt = root.appendingPathComponent("b/3.png")
        let bytes = try Data(contentsOf: corrupt)
        try bytes.prefix(bytes.count / 2).write(to: corrupt)
        let samples = try Dataset(root: root).samples
        for workers in [0, 2] {
            var c = configuration(order: .sequential)
            (c.globalBatchSize, c.workerThreads) = (1, workers)
            let batches = try Loader(samples: samples, classCount: 2, configuration: c).batches(epoch: 0)
            XCTAssertNotNil(try batches.nextBatch())
            XCTAssertNotNil(try batches.nextBatch())
            XCTAssertThrowsError(try batches.nextBatch()) { error in
                guard case .unreadableImage(let path, _)? = error as? LoaderError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, corrupt.path)
                XCTAssertTrue("\(error)".hasPrefix(corrupt.path))
            }
            XCTAssertNil(try batches.nextBatch(), "the epoch ends at the error")
        }
    }

    func testInvalidConfigurations() throws {
        let samples = try samples()
        XCTAssertThrowsMentioning("rank 3 outside 0..<3", try Loader(samples: samples, classCount: 2,
                                                                    configuration: configuration(worldSize: 3, rank: 3)))
        XCTAssertThrowsMentioning("label 1 outside 0..<1", try Loader(samples: samples, classCount: 1, configuration: configuration()))
        XCTAssertThrowsMentioning("0 samples make no batch", try Loader(samples: [], classCount: 2, configuration: configuration()))
    }
}

final class RealImageLoaderTests: XCTestCase {
    /// The eight real BreakHis images (700x460) through the loader at 224x224, against decoding and processing
    /// each file directly with the same keys.
    func testRealSampleImagesThroughTheLoader() throws {
        let dataset = try Dataset(root: breakHisSample)
        let split = try dataset.split([("train", 0.5), ("test", 0.5)], seed: 2)
        let train = split.samples("train", of: dataset)!
        XCTAssertEqual(train.map(\.label), [0, 0, 1, 1])
        let configuration = LoaderConfiguration(height: 224, width: 224, augmentation: augmentationOn, preprocessing: .caffe,
                                                globalBatchSize: 3, worldSize: 2, rank: 1, seed: 5, workerThreads: 2)
        let loader = try Loader(samples: train, classCount: 2, configuration: configuration)
        let batches = try loader.batches(epoch: 0)
        let pipeline = ImagePipeline(height: 224, width: 224, augmentation: augmentationOn, preprocessing: .caffe)
        var seen = 0
        while let batch = try batches.nextBatch() {
            XCTAssertEqual(batch.images.shape, [batch.sampleIndices.count, 224, 224, 3])
            XCTAssertEqual(batch.labels, batch.sampleIndices.map { train[$0].label })
            for (slot, (index, key)) in zip(batch.sampleIndices, batch.sampleKeys).enumerated() {
                let image = try PNGCodec.decode(contentsOf: URL(fileURLWithPath: train[index].path))
                XCTAssertEqual([image.width, image.height], [700, 460])
                let expected = pipeline.process(image, augmentationKey: key)
                XCTAssertEqual(Array(batch.images.scalars[(slot * expected.count)..<((slot + 1) * expected.count)]), expected)
            }
            seen += batch.sampleIndices.count
        }
        // 4 training images, global batches of 3 then 1; rank 1 of 2 gets 1 and then 0 images.
        XCTAssertEqual(loader.stepsPerEpoch, 2)
        XCTAssertEqual(seen, 1)
    }
}
