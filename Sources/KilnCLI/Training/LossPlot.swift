import Foundation
import KilnNN

/// The loss curve as a small standalone SVG: the training loss per step (raw and smoothed) on a log scale, with
/// axes, ticks and the held-out metrics marked where they were taken. Written by hand, no dependency.
enum LossPlot {
    /// Reads `metrics` (JSON lines) and writes the plot to `path` atomically.
    static func write(metrics: String, to path: String, title: String) throws {
        let records = MetricsLog.read(metrics)
        let points = records.compactMap { r -> (Double, Double)? in
            guard let step = r["step"] as? Double ?? (r["step"] as? Int).map(Double.init),
                  let loss = r["loss"] as? Double, loss > 0, loss.isFinite else { return nil }
            return (step, loss)
        }
        let evaluations = records.compactMap { r -> Double? in
            guard r["eval"] != nil else { return nil }
            return r["step"] as? Double ?? (r["step"] as? Int).map(Double.init)
        }
        let svg = render(points, evaluations: evaluations, title: title)
        do {
            try svg.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw SafetensorsError.io(file: path, detail: "cannot write the loss plot: \(error.localizedDescription)")
        }
    }

    /// The SVG text for `points` (step, loss) with vertical marks at the `evaluations` steps.
    static func render(_ points: [(Double, Double)], evaluations: [Double], title: String) -> String {
        let (width, height, left, right, top, bottom) = (720.0, 420.0, 70.0, 20.0, 40.0, 50.0)
        guard let first = points.first else {
            return #"<svg xmlns="http://www.w3.org/2000/svg" width="720" height="80"><text x="20" y="40">no training steps recorded</text></svg>"# + "\n"
        }
        let steps = points.map(\.0), logs = points.map { Foundation.log10($0.1) }
        let (x0, x1) = (steps.min() ?? first.0, Swift.max(steps.max() ?? first.0, (steps.min() ?? 0) + 1))
        let (y0, y1) = (Foundation.floor(logs.min()!), Swift.max(Foundation.ceil(logs.max()!), Foundation.floor(logs.min()!) + 1))
        func x(_ step: Double) -> Double { left + (step - x0) / (x1 - x0) * (width - left - right) }
        func y(_ log: Double) -> Double { top + (y1 - log) / (y1 - y0) * (height - top - bottom) }
        func path(_ values: [Double]) -> String {
            zip(steps, values).map { String(format: "%.1f,%.1f", x($0), y($1)) }.joined(separator: " ")
        }
        var smoothed: [Double] = [], running = logs[0]
        for value in logs { running = 0.95 * running + 0.05 * value; smoothed.append(running) }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title)): training loss</text>

        """
        for decade in Int(y0)...Int(y1) {
            let yy = y(Double(decade))
            svg += String(format: ##"<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>"##, left, yy, width - right, yy) + "\n"
            svg += String(format: ##"<text x="%.0f" y="%.1f" text-anchor="end">1e%d</text>"##, left - 6, yy + 4, decade) + "\n"
        }
        for i in 0...5 {
            let step = x0 + (x1 - x0) * Double(i) / 5
            svg += String(format: ##"<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>"##, x(step), height - bottom + 18, Int(step.rounded())) + "\n"
        }
        for step in evaluations where step >= x0 && step <= x1 {
            svg += String(format: ##"<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#9c9" stroke-dasharray="4 3"/>"##, x(step), top, x(step), height - bottom) + "\n"
        }
        svg += """
        <polyline fill="none" stroke="#9bd" stroke-width="1" points="\(path(logs))"/>
        <polyline fill="none" stroke="#c40" stroke-width="2" points="\(path(smoothed))"/>
        <rect x="\(Int(left))" y="\(Int(top))" width="\(Int(width - left - right))" height="\(Int(height - top - bottom))" fill="none" stroke="#444"/>
        <text x="\(Int((left + width - right) / 2))" y="\(Int(height - 12))" text-anchor="middle">step (dashed: held-out evaluations)</text>
        </svg>

        """
        return svg
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
