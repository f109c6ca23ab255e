import Foundation
import Images
import Tensors

/// Where `bc-predict --heatmaps` puts each image's Grad-CAM: `NAME.gradcam.png`, the map blended over the image at
/// its own size, and `NAME.gradcam.npy`, the map itself (height x width float32 in [0, 1], at the resolution of the
/// layer it weights). Images with the same name from different folders get `NAME-2`, `NAME-3`, ...
public final class HeatmapFolder {
    public let folder: URL
    /// How much of the blended picture is the map's colour.
    public let opacity: Double
    private var usedNames: Set<String> = []

    public init(folder: URL, opacity: Double = 0.4) {
        precondition((0...1).contains(opacity), "opacity must be in [0, 1]")
        (self.folder, self.opacity) = (folder, opacity)
    }

    /// Writes `map` for the image read from `file`; returns the picture's path.
    func write(_ map: ClassActivationMap, over image: RGBImage, file: String) throws -> String {
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var name = stem, copy = 1
        while usedNames.contains(name) {
            copy += 1
            name = "\(stem)-\(copy)"
        }
        usedNames.insert(name)
        let picture = folder.appendingPathComponent(name + ".gradcam.png")
        try PNGCodec.encode(map.heatmap.blended(over: image, opacity: opacity)).write(to: picture, options: .atomic)
        let values = Tensor(shape: [map.heatmap.height, map.heatmap.width], scalars: map.heatmap.values)
        try values.numpyData.write(to: folder.appendingPathComponent(name + ".gradcam.npy"), options: .atomic)
        return picture.path
    }
}
