import Foundation
import Testing
import Kiln
import KilnCheck
import KilnCLI

/// The cross-check registry driving Swift Testing: the optimised CPU backend against the naive reference,
/// forward and backward, and the harness's ability to catch a faulty kernel.
@Suite struct HarnessTests {
    /// One test case per op (its registry cases run inside), so the log stays readable.
    @Test(arguments: Registry.opNames)
    func cpuForwardMatchesReference(_ op: String) {
        let checker = Checker(devices: [.cpu], mode: .test, ops: [op])
        for r in checker.run() { #expect(r.status == .pass, "\(CheckReport.line(r))") }
    }

    @Test(arguments: Set(Registry.cases.filter(\.differentiable).map(\.op)).sorted())
    func cpuGradientsMatchReference(_ op: String) {
        let checker = Checker(devices: [.cpu], mode: .grad, ops: [op])
        let results = checker.run()
        #expect(!results.isEmpty)
        for r in results { #expect(r.status == .pass, "\(CheckReport.line(r))") }
    }

    @Test func registryCoversEveryDeviceOp() {
        let names = Set(Registry.opNames)
        let uncovered = Op.allCases.filter { op in
            !names.contains(op.name) && !Registry.opNames.contains { Checker.requiredOps($0, gradients: true).contains(op) }
        }
        #expect(uncovered.isEmpty, "device ops without a case: \(uncovered)")
        #expect(Registry.cases.count > 4000)
    }

    /// (faulty device op, mode, ops run, the one op that must fail).
    static let faults: [(String, CheckMode, [String], String)] = [
        ("add", .test, ["add", "sub", "mul", "sum"], "add"),
        ("sum", .test, ["sum", "max", "exp"], "sum"),
        ("matmul", .test, ["matmul", "add", "softmax"], "matmul"),
        ("softmaxBackward", .grad, ["softmax", "exp", "matmul"], "softmax"),
        ("layerNormBackward", .grad, ["layerNorm", "sum", "tanh"], "layerNorm"),
    ]

    @Test(arguments: 0..<faults.count)
    func faultInjectionIsCaughtForExactlyThatOp(_ i: Int) {
        let (fault, mode, ops, failing) = Self.faults[i]
        let device = FaultInjectingBackend.device(wrapping: .cpu, faultyOp: fault)
        let checker = Checker(devices: [device], mode: mode, ops: Set(ops), dtypes: [.float32, .float64])
        let results = checker.run().filter { $0.device != "reference" }
        let failedOps = Set(results.filter { $0.status == .fail }.map(\.testCase.op))
        #expect(failedOps == [failing], "failed: \(failedOps)")
        // Every case of the faulty op fails, except those whose outputs are empty or all zero (a softmax over one
        // element has a zero gradient), which a multiplicative fault cannot change: they match exactly.
        let cases = results.filter { $0.testCase.op == failing }
        #expect(cases.contains { $0.status == .fail })
        let missed = cases.filter { $0.status == .pass && $0.error != 0 }
        #expect(missed.isEmpty, "not caught: \(missed.map(CheckReport.line))")
    }

    @Test func modelsTrainTheSameOnTheCPUAndTheReference() {
        let results = ModelCheck.run(on: .cpu)
        #expect(results.map(\.model) == ModelCheck.names)
        for r in results { #expect(r.passed, "\(r.model): \(r.losses) vs \(r.referenceLosses)") }
        // The losses fall: the models really train.
        #expect(results.allSatisfy { $0.losses.last! < $0.losses.first! })
        let faulty = ModelCheck.run(on: FaultInjectingBackend.device(wrapping: .cpu, faultyOp: "matmul"), models: ["mlp", "gpt"])
        #expect(faulty.allSatisfy { !$0.passed })
    }

    @Test func unsupportedOpsAreReportedNotPassed() {
        let declining = Device(backend: FaultInjectingBackend(wrapping: Device.cpu.backend, fault: .declined("exp")))
        let results = Checker(devices: [declining], ops: ["exp", "neg"], dtypes: [.float32]).run()
        #expect(results.filter { $0.testCase.op == "exp" }.allSatisfy { $0.status == .unsupported })
        #expect(results.filter { $0.testCase.op == "neg" }.allSatisfy { $0.status == .pass })
        let report = CheckReport(results: results)
        #expect(report.summary.hasSuffix("0 failed, \(report.unsupported) unsupported") && report.unsupported > 0)
    }

    @Test func commandWritesTheDocumentedJSON() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-check-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let status = try CheckCommand.run(["--device", "cpu", "--op", "add,argmax", "--dtype", "float32", "--quiet", "--json", path])
        #expect(status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        let cases = object["cases"] as! [[String: Any]], summary = object["summary"] as! [String: Any]
        #expect(!cases.isEmpty && cases.allSatisfy { Set(["op", "device", "dtype", "shapes", "mode", "status", "error", "tolerance"]).isSubset(of: $0.keys) })
        #expect(Set(cases.map { $0["op"] as! String }) == ["add", "argmax"])
        #expect(summary["failed"] as? Int == 0 && summary["passed"] as? Int == cases.count && summary["ops"] as? Int == 2)
        #expect(summary["coverage"] as? Double == 100)
    }

    @Test func commandRejectsBadArguments() {
        #expect(throws: UsageError.self) { try CheckCommand.run(["--op", "nosuchop"]) }
        #expect(throws: UsageError.self) { try CheckCommand.run(["--mode", "fast"]) }
        #expect(throws: UsageError.self) { try CheckCommand.run(["--dtype", "float8"]) }
        #expect(throws: UsageError.self) { try CheckCommand.run(["--seed"]) }
        #expect(throws: UsageError.self) { try CheckCommand.run(["--frobnicate"]) }
        #expect(throws: KilnError.self) { try CheckCommand.run(["--device", "cuda:99"]) }
    }
}
