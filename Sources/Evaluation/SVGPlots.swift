import Foundation

/// Small, dependency-free SVG charts for reports that must render offline.
package enum SVGPlot {
    struct Series {
        let name: String
        let x: [Double], y: [Double]
        let color: String
        var dashed = false
    }

    /// One axis: the values its ends stand for, and its ticks with their labels.
    /// Ticks follow the 1-2-5 rule (like matplotlib's MaxNLocator or d3's ticks), so they read 0, 10, 20 rather
    /// than 10.92, 21.83; a logarithmic axis, for losses that fall by orders of magnitude, puts them at powers of ten.
    package struct Axis {
        package let range: ClosedRange<Double>
        package let ticks: [Double]
        package let labels: [String]
        package let isLogarithmic: Bool

        /// About `maxTicks` steps of 1, 2 or 5 × 10^k; labels carry only the decimals the step needs. The range widens
        /// to the outer ticks, except on a whole-number axis (epochs), whose steps are never below 1 and which shows
        /// no epoch that was not run.
        package static func linear(_ range: ClosedRange<Double>, maxTicks: Int = 6, integers: Bool = false) -> Axis {
            let low = range.lowerBound, high = range.upperBound > low ? range.upperBound : low + 1
            let rough = (high - low) / Double(maxTicks)
            var exponent = Int(floor(log10(rough)))
            var mantissa = [1, 2, 5, 10].first { Double($0) * pow(10, Double(exponent)) >= rough * (1 - 1e-9) }!
            if mantissa == 10 { (mantissa, exponent) = (1, exponent + 1) }
            if integers && exponent < 0 { (mantissa, exponent) = (1, 0) }
            // The n-th multiple of the step, computed so that 3 × 0.2 is 0.6 rather than 0.6000000000000001.
            func tick(_ n: Int) -> Double {
                exponent < 0 ? Double(n * mantissa) / pow(10, Double(-exponent)) : Double(n * mantissa) * pow(10, Double(exponent))
            }
            let step = tick(1)
            let first = Int(integers ? ceil(low / step - 1e-9) : floor(low / step + 1e-9))
            let last = Int(integers ? floor(high / step + 1e-9) : ceil(high / step - 1e-9))
            let ticks = (first...last).map(tick)
            return Axis(range: integers ? low...high : ticks.first!...ticks.last!, ticks: ticks,
                        labels: ticks.map { format($0, digits: max(0, -exponent)) }, isLogarithmic: false)
        }

        /// Ticks at powers of ten (every second or third one when there are many decades); the range widens to the outer
        /// ticks. Only positive ranges.
        package static func logarithmic(_ range: ClosedRange<Double>, maxTicks: Int = 6) -> Axis {
            let low = Int(floor(log10(range.lowerBound) + 1e-9)), decades = max(Int(ceil(log10(range.upperBound) - 1e-9)) - low, 1)
            let step = (decades + maxTicks - 1) / maxTicks
            let exponents = Array(stride(from: low, through: low + step * ((decades + step - 1) / step), by: step))
            let ticks = exponents.map { $0 < 0 ? 1 / pow(10, Double(-$0)) : pow(10, Double($0)) }
            return Axis(range: ticks.first!...ticks.last!, ticks: ticks,
                        labels: zip(ticks, exponents).map { format($0, digits: max(0, -$1)) }, isLogarithmic: true)
        }

        /// An axis for values such as losses: logarithmic when the positive ones span more than two decades, otherwise
        /// linear and including zero. Values that are not finite are left out.
        package static func fitting(_ values: [Double]) -> Axis {
            let finite = values.filter(\.isFinite), positive = finite.filter { $0 > 0 }
            if let low = positive.min(), let high = positive.max(), high / low > 100 { return logarithmic(low...high) }
            return linear(min(finite.min() ?? 0, 0)...max(finite.max() ?? 1, 0))
        }

        /// Where a value lies along the axis, 0 at its lower end and 1 at its upper; nil for a value it cannot show
        /// (not finite, or not positive on a logarithmic axis).
        package func fraction(_ value: Double) -> Double? {
            guard value.isFinite, !isLogarithmic || value > 0 else { return nil }
            func scaled(_ v: Double) -> Double { isLogarithmic ? log10(v) : v }
            return (scaled(value) - scaled(range.lowerBound)) / (scaled(range.upperBound) - scaled(range.lowerBound))
        }
    }

    static let width = 420.0
    /// The plot box; the ticks, axis labels and legend lie outside it.
    static let box = (left: 56.0, top: 16.0, width: 348.0, height: 260.0)

    /// A line chart with axes, ticks, labels and, below it, a legend (so that it never covers a curve).
    /// Points an axis cannot show (NaN, infinite, or not positive on a logarithmic axis) are left out of the lines.
    static func lines(_ series: [Series], xLabel: String, yLabel: String, x xAxis: Axis, y yAxis: Axis, title: String) -> String {
        let bottom = box.top + box.height, right = box.left + box.width
        func px(_ fraction: Double) -> String { format(box.left + fraction * box.width, digits: 1) }
        func py(_ fraction: Double) -> String { format(bottom - fraction * box.height, digits: 1) }
        var svg = #"<rect x="\#(box.left)" y="\#(box.top)" width="\#(box.width)" height="\#(box.height)" fill="none" stroke="gray"/>"#
        for (tick, label) in zip(xAxis.ticks, xAxis.labels) {
            let x = px(xAxis.fraction(tick)!)
            svg += #"<line x1="\#(x)" x2="\#(x)" y1="\#(box.top)" y2="\#(bottom)" stroke="gainsboro"/>"#
            svg += #"<text x="\#(x)" y="\#(bottom + 16)" text-anchor="middle" class="tick">\#(label)</text>"#
        }
        for (tick, label) in zip(yAxis.ticks, yAxis.labels) {
            let y = py(yAxis.fraction(tick)!)
            svg += #"<line x1="\#(box.left)" x2="\#(right)" y1="\#(y)" y2="\#(y)" stroke="gainsboro"/>"#
            svg += #"<text x="\#(box.left - 6)" y="\#(y)" dy="4" text-anchor="end" class="tick">\#(label)</text>"#
        }
        svg += #"<text x="\#(box.left + box.width / 2)" y="\#(bottom + 34)" text-anchor="middle">\#(escape(xLabel))</text>"#
        svg += #"<text transform="translate(14 \#(box.top + box.height / 2)) rotate(-90)" text-anchor="middle">\#(escape(yLabel))</text>"#
        var legend = "", legendX = box.left, legendY = bottom + 56
        for line in series {
            let points = zip(line.x, line.y).compactMap { x, y in
                xAxis.fraction(x).flatMap { fx in yAxis.fraction(y).map { fy in "\(px(fx)),\(py(fy))" } }
            }
            let dash = line.dashed ? #" stroke-dasharray="5 4""# : ""
            if !points.isEmpty {
                svg += #"<polyline fill="none" stroke="\#(line.color)" stroke-width="2"\#(dash) points="\#(points.joined(separator: " "))"/>"#
            }
            // Entries run left to right, wrapping to a new row when one would pass the plot's right edge.
            let entryWidth = 28 + 6.5 * Double(line.name.count)
            if legendX > box.left && legendX + entryWidth > right { (legendX, legendY) = (box.left, legendY + 18) }
            legend += #"<line x1="\#(legendX)" x2="\#(legendX + 20)" y1="\#(legendY - 4)" y2="\#(legendY - 4)" stroke="\#(line.color)" stroke-width="2"\#(dash)/>"#
            legend += #"<text x="\#(legendX + 24)" y="\#(legendY)" class="tick">\#(escape(line.name))</text>"#
            legendX += entryWidth + 16
        }
        return #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(width) \#(legendY + 10)" role="img" aria-label="\#(escape(title))">"#
            + svg + #"<g class="legend">\#(legend)</g></svg>"#
    }

    /// A confusion matrix as a heat map, each cell shaded by its share of the actual class.
    static func confusionMatrix(_ counts: [[Int]], classNames: [String]) -> String {
        let cell = 90.0, left = 110.0, top = 40.0
        let size = Double(classNames.count)
        var svg = #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(left + cell * size + 10) \#(top + cell * size + 30)" role="img" aria-label="confusion matrix">"#
        svg += #"<text x="\#(left + cell * size / 2)" y="14" text-anchor="middle">predicted</text>"#
        for (column, name) in classNames.enumerated() {
            svg += #"<text x="\#(left + (Double(column) + 0.5) * cell)" y="\#(top - 8)" text-anchor="middle" class="tick">\#(escape(name))</text>"#
        }
        for (row, name) in classNames.enumerated() {
            let rowTotal = max(counts[row].reduce(0, +), 1)
            svg += #"<text x="\#(left - 8)" y="\#(top + (Double(row) + 0.5) * cell + 4)" text-anchor="end" class="tick">\#(escape(name))</text>"#
            for column in classNames.indices {
                let share = Double(counts[row][column]) / Double(rowTotal)
                let x = left + Double(column) * cell, y = top + Double(row) * cell
                svg += #"<rect x="\#(x)" y="\#(y)" width="\#(cell)" height="\#(cell)" fill="rgb(37,99,235)" fill-opacity="\#(format(0.08 + 0.85 * share, digits: 3))" stroke="white"/>"#
                svg += #"<text x="\#(x + cell / 2)" y="\#(y + cell / 2 + 5)" text-anchor="middle" fill="\#(share > 0.5 ? "white" : "black")">\#(counts[row][column])</text>"#
            }
        }
        svg += #"<text x="\#(left + cell * size / 2)" y="\#(top + cell * size + 22)" text-anchor="middle" class="tick">rows: actual class</text>"#
        return svg + "</svg>"
    }

    static func format(_ value: Double, digits: Int = 2) -> String {
        String(format: "%.\(digits)f", value)
    }
}

/// Escapes text for HTML and SVG content and attributes.
func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
