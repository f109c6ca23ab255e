import Foundation
import Images
import KerasHDF5
import Models
import Serving
import Tensors
import XCTest

/// Grad-CAM against Keras: Tests/Python/gradcam_referee.py builds keras.applications ResNet50 and DenseNet121 with
/// the report's head at 128x128 (seeded random weights), saves them, and computes Grad-CAM with tf.GradientTape on
/// four crops of the real BreakHis samples, for both classes. bc-train computes the maps from Keras' file, and from
/// its own file of a model it built itself with those weights.
final class GradCAMRefereeTests: XCTestCase {
    func testMapsEqualKerasGradientTapeGradCAM() throws {
        let folder = try temporaryFolder(self)
        let samples = ["benign/SOB_B_A-14-22549CD-400-006.png", "benign/SOB_B_PT-14-22704-400-028.png",
                       "malignant/SOB_M_DC-14-17614-400-014.png", "malignant/SOB_M_PC-14-19440-400-034.png"]
        var images: [RGBImage] = []
        for (index, sample) in samples.enumerated() {
            let image = try PNGCodec.decode(contentsOf: breakHisSampleFolder.appendingPathComponent("400X/" + sample))
            images.append(image.cropped(x: (image.width - 128) / 2, y: (image.height - 128) / 2, width: 128, height: 128))
            try writePNG(images[index], to: folder.appendingPathComponent("image_\(index).png"))
        }
        try runPython("gradcam_referee.py", [folder.path, "resnet50", "densenet121"])
        for (architecture, name) in [(Architecture.resnet50, "resnet50"), (.densenet121, "densenet121")] {
            let kerasFile = folder.appendingPathComponent("k3_\(name).h5").path
            let expected = try readNumpy(folder.appendingPathComponent("\(name)_maps.npy"))
            let expectedPeaks = try readNumpy(folder.appendingPathComponent("\(name)_peaks.npy")).scalars
            let layer = try String(contentsOf: folder.appendingPathComponent("\(name)_layer.txt"), encoding: .utf8)
            let (height, width) = (expected.shape[2], expected.shape[3])
            XCTAssertTrue((0..<images.count).allSatisfy { max(expectedPeaks[2 * $0], expectedPeaks[2 * $0 + 1]) > 0 },
                          "\(name): every image has a map for at least one class: \(expectedPeaks)")

            let ownFile = folder.appendingPathComponent("bc_\(name).h5").path
            let graph = try buildModel(architecture, inputShape: [128, 128, 3], head: HeadOptions(classes: 2), seed: 5)
            XCTAssertEqual(try importWeights(fromFile: kerasFile, into: graph).notInFile, [])
            try writeKerasModel(graph, to: ownFile)

            for file in [kerasFile, ownFile] {
                let predictor = try Predictor(modelPath: file)
                XCTAssertEqual(predictor.classActivationLayer, layer, file)
                for classIndex in 0..<2 {
                    let maps = try predictor.classActivationMaps(images, classes: Array(repeating: classIndex, count: images.count),
                                                                 batchSize: 3)
                    for (image, map) in maps.enumerated() {
                        XCTAssertEqual(map.layer, layer)
                        XCTAssertEqual([map.heatmap.height, map.heatmap.width], [height, width])
                        let offset = (image * 2 + classIndex) * height * width
                        let reference = Array(expected.scalars[offset..<(offset + height * width)])
                        let difference = zip(map.heatmap.values, reference).map { abs($0 - $1) }.max()!
                        XCTAssertLessThanOrEqual(difference, 1e-4, "\(file) image \(image) class \(classIndex)")
                        let peak = expectedPeaks[image * 2 + classIndex]
                        XCTAssertEqual(map.peak, peak, accuracy: 1e-3 * peak + 1e-9, "\(file) image \(image) class \(classIndex)")
                        print("\(name) \(URL(fileURLWithPath: file).lastPathComponent) image \(image) class \(classIndex): "
                              + "max difference \(difference), peak \(map.peak) (Keras \(peak))")
                    }
                }
            }
        }
    }
}
