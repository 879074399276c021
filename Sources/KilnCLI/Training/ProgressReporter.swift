import Foundation

/// Training progress: on a terminal, one status line redrawn in place on standard error (step, loss,
/// throughput, ETA); otherwise (CI logs, pipes) a plain line about every 5% of the run.
final class ProgressReporter {
    private let total: Int, unit: String
    private let print: (String) -> Void
    private let terminal = isatty(STDERR_FILENO) != 0
    private var smoothedLoss: Double?, smoothedRate: Double?, smoothedSeconds: Double?
    private var lastDrawn = Date.distantPast
    private var drawn = false

    /// A reporter for `total` steps counting `unit`s.
    init(total: Int, unit: String, print: @escaping (String) -> Void) {
        self.total = total; self.unit = unit; self.print = print
    }

    /// Records a finished step; returns the smoothed throughput in units per second.
    func record(step: Int, loss: Double, units: Int, seconds: Double) -> Double {
        let rate = Double(units) / Swift.max(seconds, 1e-9)
        smoothedLoss = smoothedLoss.map { 0.9 * $0 + 0.1 * loss } ?? loss
        smoothedRate = smoothedRate.map { 0.9 * $0 + 0.1 * rate } ?? rate
        smoothedSeconds = smoothedSeconds.map { 0.9 * $0 + 0.1 * seconds } ?? seconds
        let status = line(step: step, loss: smoothedLoss!, rate: smoothedRate!, secondsPerStep: smoothedSeconds!)
        if terminal {
            if Date().timeIntervalSince(lastDrawn) > 0.1 || step == total {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + bar(step) + " " + status).utf8))
                lastDrawn = Date()
                drawn = true
            }
        } else if step == 1 || step % Swift.max(1, total / 20) == 0 || step == total {
            print(status)
        }
        return smoothedRate!
    }

    /// Prints `text` on its own line without breaking the status line.
    func interject(_ text: String) {
        if terminal && drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print(text)
    }

    /// Ends the status line.
    func finish() {
        if terminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func line(step: Int, loss: Double, rate: Double, secondsPerStep seconds: Double) -> String {
        let eta = Double(total - step) * seconds
        return "step \(step)/\(total)  loss \(String(format: "%.4f", loss))  \(Self.compact(rate)) \(unit)/s  ETA \(Self.duration(eta))"
    }

    private func bar(_ step: Int) -> String {
        let width = 24, filled = Int(Double(width) * Double(step) / Double(Swift.max(total, 1)))
        return "[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "]"
    }

    /// `1.2k`, `35.0`.
    static func compact(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.1fM", value / 1e6) : value >= 1e3 ? String(format: "%.1fk", value / 1e3) : String(format: "%.1f", value)
    }

    /// `1h02m`, `3m05s`, `12s`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
    }
}
