import Foundation
import Kiln
import KilnCheck

/// `kiln check`: the cross-check harness from the command line.
public enum CheckCommand {
    /// The command's help text.
    public static let help = """
    kiln check — every op, forward and backward, on every device, against a reference

    usage: kiln check [--device cpu|cuda|all] [--op NAME…] [--dtype DTYPE…] [--mode test|grad|perf|support]
                      [--seed N] [--json PATH] [--quiet] [--models]

      --device   the devices under test (default all): the CPU is checked against the naive float64 reference
                 backend, every other device against the CPU
      --op       only these ops (repeat or separate with commas); names as in the per-op table
      --dtype    only these dtypes: float32 float64 float16 bfloat16 int32 int64 uint8 bool
      --mode     test: forward results (default); grad: gradients against the reference, and the reference's
                 gradients against float64 finite differences; perf: median milliseconds per case; support:
                 which cases each device supports
      --seed     offsets every case's input seed (default 0), to draw fresh inputs reproducibly
      --json     also write {"cases":[…],"summary":{…}} to PATH
      --quiet    print failures, the summary and the table, not every passing case
      --models   instead of op cases: train an MLP, a CNN, an LSTM classifier and a tiny GPT for 20 steps on
                 each device and on its reference, and compare the losses step by step

    Environment: KILN_FAULT=<op> makes the device under test return slightly wrong results for that op (to see
    the harness catch it); KILN_NUM_THREADS sets the CPU backend's threads.
    Exit status: 0 when nothing failed, 1 when a case failed, 2 for a usage error.
    """

    /// Runs `kiln check` with the words after `check`, printing to standard output; returns the exit status
    /// (0 all passed, 1 a case failed) or throws a usage error (exit status 2).
    public static func run(_ words: [String]) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        let args = try Arguments(words, valued: ["device", "op", "dtype", "mode", "seed", "json"], flags: ["quiet", "models"])
        let devices = try selectDevices(try args.value("device") ?? "all")
        if args.flag("models") { return runModels(on: devices) }
        let modeName = try args.value("mode") ?? "test"
        guard let mode = CheckMode(rawValue: modeName) else {
            throw UsageError(description: "unknown mode '\(modeName)': expected test, grad, perf or support")
        }
        let known = Set(Registry.opNames)
        let ops = args.list("op")
        for op in ops where !known.contains(op) {
            throw UsageError(description: "unknown op '\(op)'; known ops: \(Registry.opNames.joined(separator: " "))")
        }
        var dtypes: Set<DType> = []
        for name in args.list("dtype") {
            guard let dtype = DType(rawValue: name) else { throw UsageError(description: "unknown dtype '\(name)'") }
            dtypes.insert(dtype)
        }
        var seedOffset: UInt64 = 0
        if let text = try args.value("seed") {
            guard let value = UInt64(text) else { throw UsageError(description: "--seed needs a non-negative integer, got '\(text)'") }
            seedOffset = value
        }
        var checker = Checker(devices: devices, mode: mode, ops: ops.isEmpty ? nil : Set(ops), dtypes: dtypes.isEmpty ? nil : dtypes)
        checker.seedOffset = seedOffset
        let quiet = args.flag("quiet")
        let total = checker.cases.count * devices.count
        let progress = isatty(STDERR_FILENO) != 0
        let results = checker.run { done, _, latest in
            for r in latest where !quiet || r.status == .fail { print(CheckReport.line(r)) }
            if progress && (done % 50 == 0 || done == total) {
                FileHandle.standardError.write("\r\(done)/\(total) cases".data(using: .utf8)!)
                if done == total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
            }
        }
        let report = CheckReport(results: results)
        print("")
        print(report.table)
        print("")
        print("\(report.ops) ops, coverage \(String(format: "%.1f", report.coverage))%")
        print(report.summary)
        if let path = try args.value("json") {
            do {
                try report.json().write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw UsageError(description: "cannot write \(path): \(error.localizedDescription)")
            }
        }
        return report.failed > 0 ? 1 : 0
    }

    /// `--models`: one line per model and device, then a summary; status 1 when any model's losses disagree.
    static func runModels(on devices: [Device]) -> Int32 {
        var failed = 0, passed = 0
        for device in devices {
            for result in ModelCheck.run(on: device) {
                let verdict = result.passed ? "pass" : "FAIL"
                print("\(result.model)  \(result.device)  max relative loss difference \(String(format: "%.3g", result.error)) over \(result.losses.count) steps (tolerance \(ModelCheck.tolerance))  \(verdict)")
                if !result.passed { print("    losses \(result.losses)\n    reference \(result.referenceLosses)") }
                if result.passed { passed += 1 } else { failed += 1 }
            }
        }
        print("\(passed) passed, \(failed) failed, 0 unsupported")
        return failed > 0 ? 1 : 0
    }

    /// The devices `--device` names, wrapped for fault injection when `KILN_FAULT` is set.
    static func selectDevices(_ name: String) throws -> [Device] {
        var devices: [Device]
        switch name {
        case "all": devices = Device.available
        case "cpu": devices = [.cpu]
        default: devices = [try Device.named(name)]
        }
        if let fault = ProcessInfo.processInfo.environment["KILN_FAULT"], !fault.isEmpty {
            devices = devices.map { FaultInjectingBackend.device(wrapping: $0, faultyOp: fault) }
        }
        return devices
    }
}
