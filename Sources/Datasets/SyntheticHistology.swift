import Foundation
import Tensors
import Images

/// A generated stand-in for BreakHis: H&E-like patches of two classes written in the original BreakHis tree.
///
/// Benign patches (SOB_B_F) have many small, round, regular nuclei; malignant ones (SOB_M_DC) fewer, larger,
/// irregular, variably sized nuclei. Both classes draw the same nuclear area fraction and share the stain model,
/// and each patient has its own stain colours and nuclear density, so mean colour says little about the class
/// while the shapes of the nuclei say it clearly. Every image is a pure function of (seed, patient, magnification,
/// sequence); magnification changes only names and folders.
public struct SyntheticHistology: Sendable {
    public let patients: Int
    public let imagesPerPatient: Int
    public let size: Int
    public let seed: UInt64
    public let magnifications: [Magnification]

    public init(patients: Int, imagesPerPatient: Int, size: Int = 64, seed: UInt64 = 1,
                magnifications: [Magnification] = [.x400]) throws {
        guard patients >= 2, imagesPerPatient >= 1, size >= 16, !magnifications.isEmpty else {
            throw SyntheticHistologyError("need at least 2 patients, 1 image per patient, size 16 and one "
                                          + "magnification; got \(patients), \(imagesPerPatient), \(size), "
                                          + "[\(magnifications.map(\.folderName).joined(separator: ", "))]")
        }
        (self.patients, self.imagesPerPatient, self.size, self.seed) = (patients, imagesPerPatient, size, seed)
        self.magnifications = Array(Set(magnifications)).sorted()
    }

    /// Patients alternate benign, malignant, benign, ...; ids look like BreakHis' ("14-10001").
    public func isMalignant(patient: Int) -> Bool { patient % 2 == 1 }

    /// One image's identity: patient index, magnification and sequence number (from 1).
    public struct Item: Sendable, Hashable {
        public let patient: Int
        public let magnification: Magnification
        public let sequence: Int
    }

    /// Every image, patient by patient.
    public var items: [Item] {
        (0..<patients).flatMap { patient in
            magnifications.flatMap { magnification in
                (1...imagesPerPatient).map { Item(patient: patient, magnification: magnification, sequence: $0) }
            }
        }
    }

    public func name(of item: Item) -> BreakHisName {
        let malignant = isMalignant(patient: item.patient)
        return BreakHisName(isMalignant: malignant, subtype: malignant ? "DC" : "F", patient: "14-\(10001 + item.patient)",
                            magnification: item.magnification, sequence: item.sequence)
    }

    /// Writes `directory/BreaKHis_v1/histology_slides/breast/<class>/SOB/<subtype>/<patient>/<mag>X/<name>.png`
    /// and returns the written files in the order of `items`.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        let breast = directory.appendingPathComponent("BreaKHis_v1/histology_slides/breast")
        return try items.map { item in
            let name = name(of: item)
            let folder = breast.appendingPathComponent(name.isMalignant ? "malignant" : "benign")
                .appendingPathComponent("SOB").appendingPathComponent(name.subtypeFolderName)
                .appendingPathComponent(name.patientFolderName).appendingPathComponent(name.magnification.folderName)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent(name.fileName)
            try PNGCodec.encode(image(of: item)).write(to: file, options: .atomic)
            return file
        }
    }

    public func image(of item: Item) -> RGBImage {
        let stain = Stain(seed: StableRandom.mix(seed, 0x57A1, UInt64(item.patient)))
        var generator = SplitMix64(seed: StableRandom.mix(seed, 0x1A6E, UInt64(item.patient),
                                                              UInt64(item.magnification.rawValue), UInt64(item.sequence)))
        var canvas = Canvas(size: size)
        paintStroma(&canvas, stain: stain, generator: &generator)
        paintNuclei(&canvas, malignant: isMalignant(patient: item.patient), stain: stain, generator: &generator)
        return canvas.rgbImage(noise: 5, generator: &generator)
    }

    /// A patient's stain colours and nuclear density, shared by all of its images.
    private struct Stain {
        var eosin: [Double], hematoxylin: [Double], lumen: [Double]
        var nuclearFraction: Double

        init(seed: UInt64) {
            var generator = SplitMix64(seed: seed)
            let tone = generator.uniform(0.82, 1.12)
            eosin = [232, 150, 196].map { min(255, $0 * tone * (1 + 0.07 * generator.normal())) }
            hematoxylin = [88, 52, 138].map { $0 * generator.uniform(0.7, 1.3) }
            lumen = [246, 238, 246].map { $0 * (1 + 0.02 * generator.normal()) }
            nuclearFraction = generator.uniform(0.08, 0.24)
        }
    }

    private func paintStroma(_ canvas: inout Canvas, stain: Stain, generator: inout SplitMix64) {
        let coarse = ValueNoise(size: size, cells: 3, generator: &generator)
        let fine = ValueNoise(size: size, cells: 9, generator: &generator)
        let angle = generator.uniform(0, .pi), frequency = generator.uniform(0.5, 0.9)
        let (along, across) = (frequency * cos(angle), frequency * sin(angle))
        let lumenLevel = generator.uniform(0.68, 0.85)
        for y in 0..<size {
            for x in 0..<size {
                let fibre = 0.5 + 0.5 * sin(Double(x) * along + Double(y) * across + 4 * fine[x, y])
                let shade = 0.86 + 0.1 * fibre + 0.08 * (fine[x, y] - 0.5)
                let t = 0.65 * coarse[x, y] + 0.35 * fine[x, y]
                let lumen = min(1, max(0, (t - lumenLevel) / 0.06))
                for channel in 0..<3 {
                    let tissue = stain.eosin[channel] * shade
                    canvas[x, y, channel] = tissue + (stain.lumen[channel] - tissue) * lumen
                }
            }
        }
    }

    private func paintNuclei(_ canvas: inout Canvas, malignant: Bool, stain: Stain,
                             generator: inout SplitMix64) {
        // Benign: small round regular nuclei; malignant: large, pleomorphic, irregular ones, at the same area.
        let radii = malignant ? (2.4, 4.4) : (1.6, 2.8)
        let irregularity = malignant ? (0.12, 0.28) : (0.0, 0.05)
        let elongation = malignant ? (1.0, 1.6) : (1.0, 1.15)
        let scale = Double(size) / 64
        let meanArea = Double.pi * pow((radii.0 + radii.1) / 2 * scale, 2)
        let targetArea = stain.nuclearFraction * generator.uniform(0.75, 1.25) * Double(size * size)
        let count = max(1, Int((targetArea / meanArea).rounded()))
        for _ in 0..<count {
            let cx = generator.uniform(0, Double(size)), cy = generator.uniform(0, Double(size))
            let radius = generator.uniform(radii.0, radii.1) * scale
            let stretch = generator.uniform(elongation.0, elongation.1), tilt = generator.uniform(0, .pi)
            let (tiltCos, tiltSin) = (cos(tilt), sin(tilt))
            let harmonics = (2...5).map { order in
                (order: Double(order), amplitude: generator.uniform(irregularity.0, irregularity.1) / Double(order - 1),
                 phase: generator.uniform(0, 2 * .pi))
            }
            let darkness = generator.uniform(0.8, 0.95)
            let colour = stain.hematoxylin.map { $0 * generator.uniform(0.85, 1.1) }
            let outermost = radius * harmonics.reduce(1) { $0 + $1.amplitude } + 0.5
            let reach = Int((outermost * stretch).rounded(.up)) + 1
            for y in max(0, Int(cy) - reach)...min(size - 1, Int(cy) + reach) {
                for x in max(0, Int(cx) - reach)...min(size - 1, Int(cx) + reach) {
                    let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                    let u = (dx * tiltCos + dy * tiltSin) / stretch, v = -dx * tiltSin + dy * tiltCos
                    let distance = (u * u + v * v).squareRoot()
                    guard distance < outermost else { continue }
                    let theta = atan2(v, u)
                    let boundary = radius * harmonics.reduce(1) { $0 + $1.amplitude * cos($1.order * theta + $1.phase) }
                    // Soft one-pixel edge, so small and large nuclei are drawn alike.
                    let coverage = min(1, max(0, boundary - distance + 0.5)) * darkness
                    guard coverage > 0 else { continue }
                    for channel in 0..<3 {
                        canvas[x, y, channel] += (colour[channel] - canvas[x, y, channel]) * coverage
                    }
                }
            }
        }
    }
}

public struct SyntheticHistologyError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// An RGB float image being painted.
private struct Canvas {
    let size: Int
    private var values: [Double]

    init(size: Int) { (self.size, values) = (size, Array(repeating: 0, count: size * size * 3)) }

    subscript(x: Int, y: Int, channel: Int) -> Double {
        get { values[(y * size + x) * 3 + channel] }
        set { values[(y * size + x) * 3 + channel] = newValue }
    }

    func rgbImage(noise: Double, generator: inout SplitMix64) -> RGBImage {
        let pixels = values.map { UInt8(min(255, max(0, ($0 + noise * generator.normal()).rounded()))) }
        return RGBImage(width: size, height: size, pixels: pixels)
    }
}

/// Smooth random field in [0, 1]: random values on a (cells+1)^2 grid, bilinearly interpolated.
private struct ValueNoise {
    let size: Int, cells: Int
    private let grid: [Double]

    init(size: Int, cells: Int, generator: inout SplitMix64) {
        (self.size, self.cells) = (size, cells)
        grid = (0..<((cells + 1) * (cells + 1))).map { _ in generator.nextUnit() }
    }

    subscript(x: Int, y: Int) -> Double {
        let gx = Double(x) / Double(size) * Double(cells), gy = Double(y) / Double(size) * Double(cells)
        let ix = min(Int(gx), cells - 1), iy = min(Int(gy), cells - 1)
        let fx = gx - Double(ix), fy = gy - Double(iy)
        let smoothX = fx * fx * (3 - 2 * fx), smoothY = fy * fy * (3 - 2 * fy)
        func at(_ i: Int, _ j: Int) -> Double { grid[j * (cells + 1) + i] }
        let top = at(ix, iy) + (at(ix + 1, iy) - at(ix, iy)) * smoothX
        let bottom = at(ix, iy + 1) + (at(ix + 1, iy + 1) - at(ix, iy + 1)) * smoothX
        return top + (bottom - top) * smoothY
    }
}
