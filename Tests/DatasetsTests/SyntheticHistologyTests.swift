import Datasets
import Foundation
import Images
import XCTest

final class SyntheticHistologyTests: XCTestCase {
    func testWritesTheBreakHisTree() throws {
        let folder = try temporaryFolder()
        let synthetic = try SyntheticHistology(patients: 5, imagesPerPatient: 3, size: 32, seed: 4, magnifications: [.x400, .x100])
        let files = try synthetic.write(to: folder)
        XCTAssertEqual(files.count, 30)
        let relative = files.map { String($0.path.dropFirst(folder.path.count + 1)) }
        XCTAssertEqual(relative[0], "BreaKHis_v1/histology_slides/breast/benign/SOB/fibroadenoma/SOB_B_F_14-10001/100X/"
                                    + "SOB_B_F-14-10001-100-001.png")
        XCTAssertEqual(relative[6], "BreaKHis_v1/histology_slides/breast/malignant/SOB/ductal_carcinoma/SOB_M_DC_14-10002/"
                                    + "100X/SOB_M_DC-14-10002-100-001.png")
        for file in files {
            let name = try BreakHisName(parsing: file.lastPathComponent)
            XCTAssertTrue(file.path.contains("/\(name.isMalignant ? "malignant" : "benign")/SOB/"))
            XCTAssertTrue(file.path.contains("/\(name.magnification.folderName)/"))
            let image = try PNGCodec.decode(contentsOf: file)
            XCTAssertEqual([image.width, image.height, image.pixels.count], [32, 32, 32 * 32 * 3])
        }
        let dataset = try Dataset(root: folder)
        XCTAssertEqual(dataset.samples.filter { $0.label == 0 }.count, 18, "patients 0, 2, 4 are benign")
        XCTAssertEqual(Set(dataset.samples.map(\.breakHis!.patient)).count, 5)
    }

    func testSeedFixesEveryByte() throws {
        let a = try temporaryFolder(), b = try temporaryFolder(), c = try temporaryFolder()
        let filesA = try SyntheticHistology(patients: 2, imagesPerPatient: 2, size: 24, seed: 7).write(to: a)
        let filesB = try SyntheticHistology(patients: 2, imagesPerPatient: 2, size: 24, seed: 7).write(to: b)
        let filesC = try SyntheticHistology(patients: 2, imagesPerPatient: 2, size: 24, seed: 8).write(to: c)
        for ((x, y), z) in zip(zip(filesA, filesB), filesC) {
            XCTAssertEqual(try Data(contentsOf: x), try Data(contentsOf: y))
            XCTAssertNotEqual(try Data(contentsOf: x), try Data(contentsOf: z))
        }
        XCTAssertThrowsMentioning("need at least 2 patients", try SyntheticHistology(patients: 1, imagesPerPatient: 2))
    }

    /// Mean colour is a weak cue (per-patient stain and density vary in both classes), nuclear shape a strong one:
    /// on a patient-wise split, linear models of mean RGB stay far from perfect while one texture feature,
    /// the mean size of dark blobs, separates the classes.
    func testMeanColourIsNotEnoughButStructureIs() throws {
        let folder = try temporaryFolder()
        try SyntheticHistology(patients: 24, imagesPerPatient: 10, size: 64, seed: 1).write(to: folder)
        let dataset = try Dataset(root: folder)
        let split = try dataset.split([("train", 0.5), ("test", 0.5)], seed: 1)
        let images = try dataset.samples.map { try PNGCodec.decode(contentsOf: URL(fileURLWithPath: $0.path)) }
        let labels = dataset.samples.map(\.label)
        let train = split["train"]!, test = split["test"]!

        let meanColour = images.map(meanRGB)
        let logistic = LogisticRegression(features: train.map { meanColour[$0] }, labels: train.map { labels[$0] })
        let logisticAccuracy = accuracy(test.map { logistic.predict(meanColour[$0]) }, test.map { labels[$0] })
        let centroids = (0..<2).map { label in
            let members = train.filter { labels[$0] == label }.map { meanColour[$0] }
            return (0..<3).map { channel in members.map { $0[channel] }.reduce(0, +) / Double(members.count) }
        }
        let nearestMean = test.map { index in
            centroids.indices.min { squaredDistance(meanColour[index], centroids[$0]) < squaredDistance(meanColour[index], centroids[$1]) }!
        }
        let nearestMeanAccuracy = accuracy(nearestMean, test.map { labels[$0] })

        let blobSize = images.map(meanDarkBlobSize)
        let threshold = bestThreshold(train.map { blobSize[$0] }, train.map { labels[$0] })
        let blobAccuracy = accuracy(test.map { blobSize[$0] > threshold ? 1 : 0 }, test.map { labels[$0] })
        print(String(format: "synthetic histology, %d test images: mean-RGB logistic regression %.3f, nearest class mean %.3f, "
                     + "dark-blob size threshold %.3f", test.count, logisticAccuracy, nearestMeanAccuracy, blobAccuracy))
        XCTAssertLessThan(logisticAccuracy, 0.95)
        XCTAssertLessThan(nearestMeanAccuracy, 0.95)
        XCTAssertGreaterThan(blobAccuracy, 0.9)
    }
}

private func meanRGB(_ image: RGBImage) -> [Double] {
    var sums = [0.0, 0.0, 0.0]
    for (index, value) in image.pixels.enumerated() { sums[index % 3] += Double(value) }
    return sums.map { $0 / Double(image.width * image.height) }
}

private func squaredDistance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }

private func accuracy(_ predictions: [Int], _ labels: [Int]) -> Double {
    Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
}

/// Mean size in pixels of 4-connected regions darker than halfway between the image's 5th percentile and median
/// brightness: a stain-independent measure of nucleus size.
private func meanDarkBlobSize(_ image: RGBImage) -> Double {
    let count = image.width * image.height
    let brightness = (0..<count).map { pixel -> Int in
        let rgb = image.pixels[(3 * pixel)..<(3 * pixel + 3)]
        return rgb.reduce(0) { $0 + Int($1) }
    }
    let sorted = brightness.sorted()
    let threshold = (sorted[count / 20] + sorted[count / 2]) / 2
    var seen = Array(repeating: false, count: count)
    var blobs = 0, darkPixels = 0
    for start in 0..<count where brightness[start] < threshold && !seen[start] {
        blobs += 1
        var stack = [start]
        seen[start] = true
        while let pixel = stack.popLast() {
            darkPixels += 1
            let x = pixel % image.width, y = pixel / image.width
            for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
            where nx >= 0 && ny >= 0 && nx < image.width && ny < image.height {
                let neighbour = ny * image.width + nx
                if brightness[neighbour] < threshold && !seen[neighbour] { seen[neighbour] = true; stack.append(neighbour) }
            }
        }
    }
    return blobs == 0 ? 0 : Double(darkPixels) / Double(blobs)
}

/// The threshold on a one-dimensional feature with the best training accuracy for "above means class 1".
private func bestThreshold(_ values: [Double], _ labels: [Int]) -> Double {
    let candidates = values.sorted()
    return candidates.max { a, b in
        accuracy(values.map { $0 > a ? 1 : 0 }, labels) < accuracy(values.map { $0 > b ? 1 : 0 }, labels)
    }!
}

/// Binary logistic regression on standardised features, fitted by full-batch gradient descent.
private struct LogisticRegression {
    var mean: [Double], scale: [Double], weights: [Double], bias = 0.0

    init(features: [[Double]], labels: [Int]) {
        let dimensions = features[0].count, n = Double(features.count)
        mean = (0..<dimensions).map { d in features.map { $0[d] }.reduce(0, +) / n }
        scale = (0..<dimensions).map { [mean] d in
            max(1e-9, (features.map { ($0[d] - mean[d]) * ($0[d] - mean[d]) }.reduce(0, +) / n).squareRoot())
        }
        weights = Array(repeating: 0, count: dimensions)
        let standardised = features.map(standardise)
        for _ in 0..<3000 {
            var gradient = Array(repeating: 0.0, count: dimensions), biasGradient = 0.0
            for (x, label) in zip(standardised, labels) {
                let error = probability(x) - Double(label)
                for d in 0..<dimensions { gradient[d] += error * x[d] / n }
                biasGradient += error / n
            }
            for d in 0..<dimensions { weights[d] -= 0.5 * gradient[d] }
            bias -= 0.5 * biasGradient
        }
    }

    func standardise(_ x: [Double]) -> [Double] { x.indices.map { (x[$0] - mean[$0]) / scale[$0] } }
    func probability(_ standardised: [Double]) -> Double {
        1 / (1 + exp(-(zip(weights, standardised).map(*).reduce(bias, +))))
    }
    func predict(_ x: [Double]) -> Int { probability(standardise(x)) > 0.5 ? 1 : 0 }
}
