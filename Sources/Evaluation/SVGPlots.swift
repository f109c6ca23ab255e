import Foundation

/// Small, dependency-free SVG charts for reports that must render offline.
enum SVGPlot {
    struct Series {
        let name: String
        let x: [Double], y: [Double]
        let color: String
        var dashed = false
    }

    static let width = 420.0, height = 320.0
    static let margin = (left: 56.0, right: 16.0, top: 16.0, bottom: 44.0)

    /// A line chart with axes, ticks, labels and a legend.
    static func lines(_ series: [Series], xLabel: String, yLabel: String, xRange: ClosedRange<Double>,
                      yRange: ClosedRange<Double>, title: String) -> String {
        let plotWidth = width - margin.left - margin.right, plotHeight = height - margin.top - margin.bottom
        func px(_ x: Double) -> Double {
            margin.left + (x - xRange.lowerBound) / max(xRange.upperBound - xRange.lowerBound, 1e-12) * plotWidth
        }
        func py(_ y: Double) -> Double {
            margin.top + plotHeight - (y - yRange.lowerBound) / max(yRange.upperBound - yRange.lowerBound, 1e-12) * plotHeight
        }
        var svg = #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(width) \#(height)" role="img" aria-label="\#(escape(title))">"#
        svg += #"<rect x="\#(margin.left)" y="\#(margin.top)" width="\#(plotWidth)" height="\#(plotHeight)" fill="none" stroke="gray"/>"#
        for tick in 0...4 {
            let fraction = Double(tick) / 4
            let x = xRange.lowerBound + fraction * (xRange.upperBound - xRange.lowerBound)
            let y = yRange.lowerBound + fraction * (yRange.upperBound - yRange.lowerBound)
            svg += #"<text x="\#(px(x))" y="\#(height - margin.bottom + 16)" text-anchor="middle" class="tick">\#(format(x))</text>"#
            svg += #"<text x="\#(margin.left - 6)" y="\#(py(y) + 4)" text-anchor="end" class="tick">\#(format(y))</text>"#
            svg += #"<line x1="\#(margin.left)" x2="\#(width - margin.right)" y1="\#(py(y))" y2="\#(py(y))" stroke="gainsboro"/>"#
        }
        svg += #"<text x="\#(margin.left + plotWidth / 2)" y="\#(height - 6)" text-anchor="middle">\#(escape(xLabel))</text>"#
        svg += #"<text transform="translate(14 \#(margin.top + plotHeight / 2)) rotate(-90)" text-anchor="middle">\#(escape(yLabel))</text>"#
        for (index, line) in series.enumerated() where !line.x.isEmpty {
            let points = zip(line.x, line.y).map { "\(format(px($0), digits: 1)),\(format(py($1), digits: 1))" }.joined(separator: " ")
            svg += #"<polyline fill="none" stroke="\#(line.color)" stroke-width="2"\#(line.dashed ? #" stroke-dasharray="5 4""# : "") points="\#(points)"/>"#
            let legendY = margin.top + 14 + Double(index) * 16
            svg += #"<line x1="\#(width - margin.right - 120)" x2="\#(width - margin.right - 100)" y1="\#(legendY - 4)" y2="\#(legendY - 4)" stroke="\#(line.color)" stroke-width="2"/>"#
            svg += #"<text x="\#(width - margin.right - 96)" y="\#(legendY)" class="tick">\#(escape(line.name))</text>"#
        }
        return svg + "</svg>"
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
