import Foundation

/// One benchmark figure: Kiln's median time on a device, its throughput, and the same workload timed by a peer
/// in the same run.
public struct BenchResult: Sendable {
    /// The workload (`gemm`, `softmax`, `train/gpt`, …).
    public var name: String
    /// The device it ran on.
    public var device: String
    /// The element type.
    public var dtype: String
    /// The operand shapes, as text (`1024x1024x1024`).
    public var shape: String
    /// Kiln's median milliseconds.
    public var medianMilliseconds: Double
    /// Throughput: GFLOP/s for compute-bound work, GB/s for memory-bound work, nil for training steps.
    public var throughput: (value: Double, unit: String)?
    /// The peer (`numpy`, `torch`) and its median milliseconds; `peerNote` says why a peer is missing.
    public var peer: String?, peerMilliseconds: Double?, peerNote: String?
    /// Extra figures (fraction of copy bandwidth, allocations per step).
    public var extra: [String: Double] = [:]

    /// Kiln's speed relative to the peer: peer time / Kiln time (above 1: Kiln is faster).
    public var ratio: Double? { peerMilliseconds.map { $0 / medianMilliseconds } }

    /// The JSON object of the documented schema.
    var json: [String: Any] {
        var object: [String: Any] = ["name": name, "device": device, "dtype": dtype, "shape": shape, "median_ms": medianMilliseconds]
        if let throughput { object[throughput.unit == "GFLOP/s" ? "gflops" : "gbps"] = throughput.value }
        object["peer"] = peer ?? NSNull()
        object["peer_median_ms"] = peerMilliseconds ?? NSNull()
        object["ratio"] = ratio ?? NSNull()
        if let peerNote { object["peer_note"] = peerNote }
        for (key, value) in extra { object[key] = value }
        return object
    }

    /// The results as an aligned text table.
    static func table(_ results: [BenchResult]) -> String {
        let header = ["benchmark", "device", "dtype", "shape", "median ms", "throughput", "peer", "peer ms", "ratio", "notes"]
        let rows = results.map { r -> [String] in
            [r.name, r.device, r.dtype, r.shape, String(format: "%.3f", r.medianMilliseconds),
             r.throughput.map { String(format: "%.1f %@", $0.value, $0.unit) } ?? "",
             r.peer ?? "-", r.peerMilliseconds.map { String(format: "%.3f", $0) } ?? (r.peerNote ?? "missing"),
             r.ratio.map { String(format: "%.2f×", $0) } ?? "",
             (r.extra.keys.sorted().map { "\($0) \(String(format: "%.2f", r.extra[$0]!))" } + (r.peer != nil ? [r.peerNote].compactMap { $0 } : []))
                .joined(separator: ", ")]
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(separator: "\n")
    }
}
