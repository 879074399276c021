import Foundation
import Kiln

/// The text and JSON forms of a `kiln check` run.
public struct CheckReport: Sendable {
    /// Every result.
    public let results: [CaseResult]

    /// A report of `results`.
    public init(results: [CaseResult]) { self.results = results }

    /// Results that passed.
    public var passed: Int { results.filter { $0.status == .pass }.count }
    /// Results that failed.
    public var failed: Int { results.filter { $0.status == .fail }.count }
    /// Results the device declined.
    public var unsupported: Int { results.filter { $0.status == .unsupported }.count }
    /// The distinct ops checked.
    public var ops: Int { Set(results.map(\.testCase.op)).count }
    /// The share of results that were not declined, in percent.
    public var coverage: Double { results.isEmpty ? 0 : 100 * Double(results.count - unsupported) / Double(results.count) }

    /// One line for a result: op, dtype, shapes, device, error, verdict (and what differed).
    public static func line(_ r: CaseResult) -> String {
        let error = r.medianMilliseconds != nil ? r.detail : String(format: "%.3g", r.error)
        let verdict = r.status == .fail ? "FAIL (\(r.detail)) seed=\(r.testCase.seed)" : r.status.rawValue
        return "\(r.testCase.op)  \(r.testCase.dtype)  \(r.testCase.shapes)  \(r.device)  \(error)  \(verdict)"
    }

    /// The summary line: `N passed, N failed, N unsupported`.
    public var summary: String { "\(passed) passed, \(failed) failed, \(unsupported) unsupported" }

    /// A table with one row per op and device: cases passed, failed and unsupported.
    public var table: String {
        var rows: [String: (Int, Int, Int)] = [:]
        var order: [String] = []
        for r in results {
            let key = "\(r.testCase.op)\t\(r.device)"
            if rows[key] == nil { order.append(key) }
            var counts = rows[key] ?? (0, 0, 0)
            switch r.status {
            case .pass: counts.0 += 1
            case .fail: counts.1 += 1
            case .unsupported: counts.2 += 1
            }
            rows[key] = counts
        }
        let pad = { (s: String, n: Int) in s.padding(toLength: Swift.max(n, s.count), withPad: " ", startingAt: 0) }
        var lines = [pad("op", 22) + pad("device", 11) + "passed  failed  unsupported"]
        for key in order {
            let parts = key.split(separator: "\t").map(String.init)
            let (p, f, u) = rows[key]!
            lines.append(pad(parts[0], 22) + pad(parts[1], 11) + pad("\(p)", 8) + pad("\(f)", 8) + "\(u)")
        }
        return lines.joined(separator: "\n")
    }

    private struct JSONCase: Encodable {
        let op, device, dtype, shapes, mode, status, tolerance: String
        let error: Double?
        let detail: String?
        let seed: UInt64
        let medianMs: Double?

        enum CodingKeys: String, CodingKey {
            case op, device, dtype, shapes, mode, status, tolerance, error, detail, seed
            case medianMs = "median_ms"
        }
    }

    private struct JSONSummary: Encodable {
        let passed, failed, unsupported, ops: Int
        let coverage: Double
    }

    private struct JSONReport: Encodable {
        let cases: [JSONCase]
        let summary: JSONSummary
    }

    /// `{"cases":[{"op","device","dtype","shapes","mode","status","error","tolerance",…}…],
    /// "summary":{"passed","failed","unsupported","ops","coverage"}}`; a non-finite error is `null`.
    public func json() throws -> Data {
        let cases = results.map { r in
            JSONCase(op: r.testCase.op, device: r.device, dtype: r.testCase.dtype.rawValue, shapes: r.testCase.shapes,
                     mode: r.mode.rawValue, status: r.status.rawValue,
                     tolerance: "\(r.mode == .grad ? r.testCase.gradientTolerance : r.testCase.tolerance)",
                     error: r.error.isFinite ? r.error : nil, detail: r.detail.isEmpty ? nil : r.detail, seed: r.testCase.seed,
                     medianMs: r.medianMilliseconds)
        }
        let report = JSONReport(cases: cases, summary: JSONSummary(passed: passed, failed: failed, unsupported: unsupported,
                                                                  ops: ops, coverage: coverage))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(report)
    }
}
