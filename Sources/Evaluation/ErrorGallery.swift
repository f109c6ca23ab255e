import Foundation

/// A misclassified image as the report shows it: what it is, what the model called it and how sure it was, and a
/// picture of where it looked (its Grad-CAM over the image, as a PNG).
public struct ErrorExample: Sendable, Equatable {
    public let file: String
    public let actual: String
    public let called: String
    /// The probability of the called class.
    public let probability: Double
    public let picture: Data

    public init(file: String, actual: String, called: String, probability: Double, picture: Data) {
        (self.file, self.actual, self.called, self.probability, self.picture) = (file, actual, called, probability, picture)
    }
}

extension EvaluationReport {
    /// The labelled images called wrongly at `threshold`, the surest calls first (ties by file), at most `limit`:
    /// the errors a model is most confidently wrong about are the ones worth a look.
    public static func mostConfidentErrors(_ predictions: [ImagePrediction], positiveClass: Int, threshold: Double,
                                           limit: Int) -> [(prediction: ImagePrediction, called: Int)] {
        let errors = predictions.compactMap { prediction -> (prediction: ImagePrediction, called: Int)? in
            let called = label(of: prediction, positiveClass: positiveClass, threshold: threshold)
            guard let actual = prediction.actual, actual != called else { return nil }
            return (prediction, called)
        }
        return Array(errors.sorted {
            let (a, b) = ($0.prediction.probabilities[$0.called], $1.prediction.probabilities[$1.called])
            return a != b ? a > b : $0.prediction.file < $1.prediction.file
        }.prefix(limit))
    }

    /// The report's section of such errors, each with its picture.
    func errorGallery(_ examples: [ErrorExample], layer: String) -> String {
        guard !examples.isEmpty else { return "" }
        var html = "<h2>Most confident errors</h2><p class=\"meta\">Grad-CAM of the class called, from layer <code>\(escape(layer))</code>: "
            + "red where the model looked most.</p><div class=\"gallery\">"
        for example in examples {
            html += "<figure><img alt=\"Grad-CAM of \(escape(example.file))\" src=\"data:image/png;base64,\(example.picture.base64EncodedString())\">"
                + "<figcaption><code>\(escape(URL(fileURLWithPath: example.file).lastPathComponent))</code><br>"
                + "\(escape(example.actual)), called \(escape(example.called)) with P "
                + String(format: "%.3f", example.probability) + "</figcaption></figure>"
        }
        return html + "</div>"
    }
}
