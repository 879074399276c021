import Foundation
import Kiln

/// What a run checks.
public enum CheckMode: String, Sendable, CaseIterable {
    /// Forward results against the reference.
    case test
    /// Gradients against the reference, and the reference's gradients against finite differences.
    case grad
    /// Median time per case after warm-up, with device synchronisation.
    case perf
    /// Which cases each device supports, and the coverage.
    case support
}

/// The verdict on one case.
public enum CaseStatus: String, Sendable {
    /// Within tolerance (or, in perf and support modes, run / supported).
    case pass
    /// Outside tolerance, or the wrong shape.
    case fail
    /// The device declines an op the case needs.
    case unsupported
}

/// One line of a report.
public struct CaseResult: Sendable {
    /// The case.
    public let testCase: CheckCase
    /// The device checked (`cpu`, `cuda:0`, `reference`).
    public let device: String
    /// The mode.
    public let mode: CheckMode
    /// The verdict.
    public let status: CaseStatus
    /// The largest error over the outputs, in the tolerance's measure (0 when not compared).
    public let error: Double
    /// What went wrong, or the timing in perf mode.
    public let detail: String
    /// Median milliseconds (perf mode).
    public let medianMilliseconds: Double?
}

/// Runs registry cases on devices against their references: the reference backend for the CPU, the CPU for
/// every other device.
public struct Checker: Sendable {
    /// The devices under test.
    public var devices: [Device]
    /// The mode.
    public var mode: CheckMode
    /// Only cases of these ops, when set.
    public var ops: Set<String>?
    /// Only cases of these dtypes, when set.
    public var dtypes: Set<DType>?
    /// Repeats per case in perf mode (after one warm-up).
    public var repeats = 5
    /// Added to every case's seed, to draw other inputs reproducibly.
    public var seedOffset: UInt64 = 0

    /// A checker.
    public init(devices: [Device], mode: CheckMode = .test, ops: Set<String>? = nil, dtypes: Set<DType>? = nil) {
        self.devices = devices; self.mode = mode; self.ops = ops; self.dtypes = dtypes
    }

    /// The registry cases the filters select.
    public var cases: [CheckCase] {
        Registry.cases.filter { c in
            (ops?.contains(c.op) ?? true) && (dtypes?.contains(c.dtype) ?? true) && (mode != .grad || c.differentiable)
        }.map { $0.reseeded(by: seedOffset) }
    }

    /// The device a device's results are held against.
    public static func reference(for device: Device) -> Device { device.kind == .cpu ? .reference : .cpu }

    /// The protocol ops a registry op needs on a device, so a declined one makes the case `unsupported`.
    public static func requiredOps(_ name: String, gradients: Bool) -> [Op] {
        let direct = Op.allCases.filter { $0.name == name }
        let forward: [Op] = switch name {
        case "concat", "stack", "split": [.copy]
        case "conv2d": [.im2col, .matmul, .binary(.add)]
        case "linear": [.matmul, .binary(.add)]
        case "causalSoftmax": [.softmax, .binary(.add)]
        case "lstmLayer": [.copy, .binary(.add), .matmul, .lstmCell]
        case "embedding": [.indexSelect]
        case "clamp": [.binary(.maximum), .binary(.minimum)]
        case "leakyRelu": [.select, .binary(.mul)]
        case "oneHot": [.compare(.eq)]
        default: direct
        }
        guard gradients else { return forward }
        if let op = UnaryOp(rawValue: name), UnaryOp.fusedBackward.contains(op) { return forward + [.unaryBackward(op)] }
        let backward: [Op] = switch name {
        case "softmax", "logSoftmax", "causalSoftmax": [.softmaxBackward]
        case "layerNorm": [.layerNormBackward]
        case "lstmCell": [.lstmCellBackward]
        case "lstmLayer": [.lstmCellBackward, .reduce(.sum)]
        case "linear": [.reduce(.sum)]
        case "crossEntropy": [.crossEntropyBackward]
        case "maxPool2d": [.pool2dBackward(.max)]
        case "avgPool2d": [.pool2dBackward(.average)]
        case "im2col", "conv2d": [.col2im]
        case "indexSelect", "embedding": [.indexAdd]
        case "gather": [.scatterAdd]
        default: []
        }
        return forward + backward
    }

    /// Whether `device` supports everything `c` needs in this mode.
    public func supports(_ c: CheckCase, on device: Device) -> Bool {
        Self.requiredOps(c.op, gradients: mode == .grad).allSatisfy { device.backend.supports($0, dtype: c.dtype) }
    }

    /// Checks one case on one device.
    public func check(_ c: CheckCase, on device: Device) -> [CaseResult] {
        func result(_ status: CaseStatus, _ error: Double = 0, _ detail: String = "", ms: Double? = nil, on d: Device = device) -> CaseResult {
            CaseResult(testCase: c, device: d.description, mode: mode, status: status, error: error, detail: detail, medianMilliseconds: ms)
        }
        guard supports(c, on: device) else { return [result(.unsupported)] }
        switch mode {
        case .support:
            return [result(.pass)]
        case .perf:
            let (times, bytes) = c.timings(on: device, repeats: repeats)
            let median = times.sorted()[times.count / 2]
            let rate = String(format: "%.4f ms, %.2f GB/s", median, Double(bytes) / median / 1e6)
            return [result(.pass, 0, rate, ms: median)]
        case .test, .grad:
            let reference = Self.reference(for: device)
            let run = { (d: Device) in mode == .test ? c.forward(on: d) : c.gradients(on: d) }
            let (actual, expected) = (run(device), run(reference))
            var results = [compare(c, actual, expected, device)]
            if mode == .grad, reference == .reference, let fd = c.finiteDifferenceCheck() {
                results.append(result(fd.passed ? .pass : .fail, fd.maxAbsoluteError, fd.passed ? "finite differences" : "\(fd)", on: .reference))
            }
            return results
        }
    }

    private func compare(_ c: CheckCase, _ actual: [Output], _ expected: [Output], _ device: Device) -> CaseResult {
        var worst = 0.0, failure: String?
        if actual.count != expected.count { failure = "\(actual.count) outputs, expected \(expected.count)" }
        for (k, (a, e)) in zip(actual, expected).enumerated() where failure == nil {
            if a.shape != e.shape { failure = "output \(k): shape \(a.shape), expected \(e.shape)"; break }
            let comparison = Comparison.of(a.values, e.values, tolerance: mode == .grad ? c.gradientTolerance : c.tolerance)
            worst = Swift.max(worst, comparison.error)
            if !comparison.passed { failure = "output \(k): \(comparison.detail)" }
        }
        return CaseResult(testCase: c, device: device.description, mode: mode, status: failure == nil ? .pass : .fail,
                          error: worst, detail: failure ?? "", medianMilliseconds: nil)
    }

    /// Runs every selected case on every device, calling `progress` after each.
    public func run(progress: (_ done: Int, _ total: Int, _ latest: [CaseResult]) -> Void = { _, _, _ in }) -> [CaseResult] {
        let selected = cases
        var results: [CaseResult] = []
        var done = 0
        for device in devices {
            for c in selected {
                let latest = check(c, on: device)
                results += latest
                done += 1
                progress(done, selected.count * devices.count, latest)
            }
        }
        return results
    }
}

extension CheckCase {
    /// The reference backend's gradients in float64 against central finite differences, for small float64 cases.
    func finiteDifferenceCheck() -> GradientCheckResult? {
        guard dtype == .float64, differentiable, operands.map({ $0.shape.reduce(1, *) }).reduce(0, +) <= 400,
              forward(on: .reference).allSatisfy({ $0.values.allSatisfy(\.isFinite) }) else { return nil }
        return Device.withDefault(.reference) {
            let storages = operands.enumerated().map { $1.storage(on: .reference, seed: seed &+ UInt64($0) &* 0x9E37) }
            let floating = operands.indices.filter { operands[$0].dtype.isFloatingPoint }
            return checkGradients(floating.map { storages[$0] }) { xs in
                var all = storages
                for (k, i) in floating.enumerated() { all[i] = xs[k] }
                let outputs = body(zip(operands, all).map { $0.view(of: $1) }).filter(\.dtype.isFloatingPoint)
                return concat(outputs.map { $0.reshaped([-1]).to(.float64) })
            }
        }
    }
}
