import Foundation

extension EvaluationReport {
    /// A self-contained HTML page (inline CSS and SVG; no scripts, fonts or links to fetch): summary, ROC curve,
    /// confusion matrix, per-class and per-magnification tables, the training curves when a history is given, and the
    /// most confident errors with their Grad-CAM when given.
    public func html(title: String, model: String, history: TrainingHistory? = nil,
                     errors: (examples: [ErrorExample], layer: String)? = nil) -> String {
        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f%%", $0 * 100) } ?? "n/a" }
        var body = "<h1>\(escape(title))</h1><p class=\"meta\">model: <code>\(escape(model))</code> &middot; \(images) images &middot; \(patients) patients &middot; threshold \(threshold)</p>"
        body += "<table><tr><th>image-level accuracy</th><td>\(percent(accuracy))</td></tr>"
        body += "<tr><th>patient-level accuracy</th><td>\(percent(patientLevelAccuracy))</td></tr>"
        body += "<tr><th>ROC AUC (\(escape(classNames[positiveClass])))</th><td>\(auc.map { String(format: "%.4f", $0) } ?? "undefined: " + escape(aucNote ?? ""))</td></tr>"
        body += "<tr><th>ROC AUC over patients (mean P per patient)</th><td>\(patientAUC.map { String(format: "%.4f", $0) } ?? "n/a")</td></tr>"
        for (name, value) in calibrationRows {
            body += "<tr><th>\(escape(name))</th><td>" + String(format: "Brier %.4f &middot; ECE %.4f &middot; NLL %.4f", value.brierScore,
                                                                 value.expectedCalibrationError, value.negativeLogLikelihood) + "</td></tr>"
        }
        body += "</table>"
        body += "<div class=\"plots\">"
        if let roc {
            body += "<figure>" + SVGPlot.lines([
                .init(name: "chance", x: [0, 1], y: [0, 1], color: "#999", dashed: true),
                .init(name: String(format: "AUC %.3f", auc ?? 0), x: roc.falsePositiveRates, y: roc.truePositiveRates, color: "#dc2626"),
            ], xLabel: "false positive rate (1 - specificity)", yLabel: "true positive rate (sensitivity)",
               x: .linear(0...1), y: .linear(0...1), title: "ROC curve") + "<figcaption>ROC curve</figcaption></figure>"
        }
        body += "<figure>" + SVGPlot.confusionMatrix(confusionMatrix, classNames: classNames) + "<figcaption>Confusion matrix</figcaption></figure>"
        if let calibration { body += reliabilityDiagram(calibration) }
        if let history { body += trainingCurves(history) }
        body += "</div><h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall (sensitivity)</th><th>specificity</th><th>F1</th><th>support</th></tr>"
        for name in classNames {
            let s = classScores[name]!
            body += "<tr><td>\(escape(name))</td><td>\(percent(s.precision))</td><td>\(percent(s.recall))</td><td>\(percent(s.specificity))</td><td>\(percent(s.f1))</td><td>\(s.support)</td></tr>"
        }
        body += "</table>"
        if !perMagnification.isEmpty {
            body += "<h2>Per magnification</h2><table><tr><th>magnification</th><th>images</th><th>accuracy</th><th>patient-level</th><th>AUC</th></tr>"
            for (name, subset) in perMagnification.sorted(by: { Int($0.key.dropLast())! < Int($1.key.dropLast())! }) {
                body += "<tr><td>\(name)</td><td>\(subset.images)</td><td>\(percent(subset.accuracy))</td><td>\(percent(subset.patientLevelAccuracy))</td><td>\(subset.auc.map { String(format: "%.4f", $0) } ?? "n/a")</td></tr>"
            }
            body += "</table>"
        }
        if let errors { body += errorGallery(errors.examples, layer: errors.layer) }
        return """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title><style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#111;padding:0 1rem}
        table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ddd;padding:.35rem .7rem;text-align:right}
        th:first-child,td:first-child{text-align:left}.meta{color:#555}.plots{display:flex;flex-wrap:wrap;gap:1rem}
        figure{margin:0;width:440px}.gallery{display:flex;flex-wrap:wrap;gap:1rem}.gallery figure{width:320px}
        .gallery img{width:100%;display:block}.gallery figcaption{font-size:13px;text-align:left;word-break:break-all}figcaption{text-align:center;color:#444}svg{width:100%;height:auto;font-size:12px}.tick{font-size:11px;fill:#333}
        </style></head><body>\(body)</body></html>
        """
    }

    /// Fraction of positive images against mean predicted P(positive) per bin: on the diagonal, a probability of
    /// 0.8 is right 80% of the time. Before and, with a temperature, after scaling.
    private func reliabilityDiagram(_ before: Calibration) -> String {
        let positive = escape(classNames[positiveClass])
        var series = [SVGPlot.Series(name: "perfect", x: [0, 1], y: [0, 1], color: "#999", dashed: true),
                      SVGPlot.Series(name: String(format: "model, ECE %.3f", before.expectedCalibrationError),
                                     x: before.bins.map(\.meanPredicted), y: before.bins.map(\.fractionPositive), color: "#2563eb")]
        if let after = calibrationAfterScaling, let temperature {
            series.append(SVGPlot.Series(name: String(format: "T = %.2f, ECE %.3f", temperature, after.expectedCalibrationError),
                                         x: after.bins.map(\.meanPredicted), y: after.bins.map(\.fractionPositive), color: "#dc2626"))
        }
        return "<figure>" + SVGPlot.lines(series, xLabel: "mean predicted P(\(positive))", yLabel: "fraction \(positive)",
                                          x: .linear(0...1), y: .linear(0...1), title: "Reliability diagram")
            + "<figcaption>Reliability (\(Calibration.defaultBins) equal-width bins)</figcaption></figure>"
    }

    private func trainingCurves(_ history: TrainingHistory) -> String {
        guard let epochs = history.values("epoch"), let first = epochs.filter(\.isFinite).min(),
              let last = epochs.filter(\.isFinite).max() else { return "" }
        let epochAxis = SVGPlot.Axis.linear(first...last, maxTicks: 8, integers: true)
        var figures = ""
        for (metric, label) in [("loss", "loss"), ("accuracy", "accuracy")] {
            let series = [(metric, "training", "#2563eb"), ("val_" + metric, "validation", "#dc2626")].compactMap { column, name, color in
                history.values(column).map { SVGPlot.Series(name: name, x: epochs, y: $0, color: color) }
            }
            guard !series.isEmpty else { continue }
            let yAxis = metric == "accuracy" ? SVGPlot.Axis.linear(0...1) : SVGPlot.Axis.fitting(series.flatMap(\.y))
            figures += "<figure>" + SVGPlot.lines(series, xLabel: "epoch", yLabel: label, x: epochAxis, y: yAxis,
                                                  title: label + " per epoch") + "<figcaption>Training \(label)</figcaption></figure>"
        }
        return figures
    }
}
