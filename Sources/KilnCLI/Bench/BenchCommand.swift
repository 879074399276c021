import Foundation
import Kiln
import KilnCPU

/// `kiln bench`: Kiln's speed on each device, side by side with NumPy and PyTorch timed in the same run.
public enum BenchCommand {
    /// The command's help text.
    public static let help = """
    kiln bench — time Kiln against NumPy and PyTorch on the same machine, in the same run

    usage: kiln bench [gemm|ops|train|all] [--device cpu|cuda|cuda:N] [--json PATH] [--peer-python PATH] [--no-peers]
                  [--only NAME,…]

      gemm     float32 matmul, square 256–4096 and GPT-2 small's shapes for 4096 rows (768×768, 768×3072,
               3072×768 and the 768×50304 head); float16 and bfloat16 too on a GPU. GFLOP/s.
      ops      copy, add, mul, exp, gelu, sum, softmax, layer norm, cross-entropy (GB/s, and as a fraction of the
               copy's bandwidth), conv2d (GFLOP/s), embedding lookup, the AdamW step
      train    milliseconds per training step (forward, backward, AdamW) of four fixed float32 workloads: mlp
               784-512-512-10 batch 128; cnn two conv+pool layers on 64×1×28×28; lstm Embedding(1000, 64) →
               LSTM(64→128) over 50 steps, batch 32; gpt bytes, context 128, width 128, 4 blocks, batch 16; on a
               GPU also gpt2, GPT-2 small (124M, context 1024, batch 8), with tokens per second.
               Also allocations per step (requests, and those that reached the system) and memory reserved.
      all      the three (default)

      --device        the device to time (default: KILN_DEVICE, else the best available)
      --json PATH     also write {"machine":{…},"results":[{"name","device","dtype","shape","median_ms",
                      "gflops"|"gbps","peer","peer_median_ms","ratio"}…]}
      --peer-python   the Python that runs the peers (default: KILN_PEER_PYTHON, else python3)
      --no-peers      time Kiln only
      --only NAME,…   only the named benchmarks of the chosen suites or shapes (e.g. --only lstm,gpt or
                      --only 1024x1024x1024); with gemm, any MxKxN or batched BxMxKxN is timed (--only
                      2048x128x384,64x128x32x128)

    Times are medians over repeats after a warm-up, synchronised with the device, with inputs rotated between
    sets. ratio = peer time / Kiln time: above 1, Kiln is faster. A peer that cannot run is reported as missing.
    """

    /// Runs `kiln bench` with the words after `bench`; returns the exit status or throws (status 2).
    public static func run(_ words: [String], print: (String) -> Void = { Swift.print($0) }) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        var rest = words
        var suites = ["gemm", "ops", "train"]
        if let first = rest.first, !first.hasPrefix("--") {
            guard ["gemm", "ops", "train", "all"].contains(first) else {
                throw UsageError(description: "unknown benchmark suite '\(first)': expected gemm, ops, train or all")
            }
            if first != "all" { suites = [first] }
            rest.removeFirst()
        }
        let args = try Arguments(rest, valued: ["device", "json", "peer-python", "only"], flags: ["no-peers"])
        let device = try args.value("device").map(Device.named) ?? Device.fromEnvironment()
        let python = try args.value("peer-python") ?? ProcessInfo.processInfo.environment["KILN_PEER_PYTHON"] ?? "python3"
        var cases = suites.flatMap { suite -> [BenchCase] in
            switch suite {
            case "gemm": BenchCase.gemm(halfPrecision: device.kind == .cuda)
            case "ops": BenchCase.ops
            default: BenchCase.train(gpu: device.kind == .cuda)
            }
        }
        if let only = try args.value("only") {
            let names = Set(only.split(separator: ",").map(String.init))
            // A gemm shape outside the suite's list is timed too: a kernel author's own shapes.
            let extraShapes = !suites.contains("gemm") ? [] : names.sorted().compactMap(BenchCase.gemmShape)
                .filter { shape in !cases.contains { $0.suite == "gemm" && $0.shape == shape } }
            cases = cases.filter { names.contains($0.name) || names.contains($0.shapeText) }
                + BenchCase.gemm(halfPrecision: device.kind == .cuda, shapes: extraShapes)
            guard !cases.isEmpty else {
                throw UsageError(description: "--only \(only): no benchmark of \(suites.joined(separator: ", ")) has that name or shape")
            }
        }
        let machine = Self.machine(device)
        print("kiln bench on \(device) (\(device.name)), \(machine["cpu"] ?? "")")
        var results = try cases.map { bench -> BenchResult in
            let result: BenchResult
            do {
                result = try KilnWorkloads.run(bench, on: device)
            } catch {
                throw KilnError.deviceFailure(device: device.description, operation: "kiln bench \(bench.suite) \(bench.name) \(bench.shapeText)",
                                              detail: "\(error)")
            }
            FileHandle.standardError.write(Data("kiln: \(bench.suite) \(result.name) \(bench.shapeText) \(String(format: "%.3f", result.medianMilliseconds)) ms\n".utf8))
            return result
        }
        if !args.flag("no-peers") {
            let (peerResults, missing) = PeerScript.run(cases, device: device.description, threads: CPUBackend.shared.threadCount, python: python)
            results = merge(results, cases: cases, peers: peerResults, missing: missing)
        }
        print(BenchResult.table(results))
        if let path = try args.value("json") {
            let object: [String: Any] = ["machine": machine, "results": results.map(\.json)]
            do {
                try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw UsageError(description: "cannot write \(path): \(error.localizedDescription)")
            }
        }
        return 0
    }

    /// Each Kiln result with its peer's time: PyTorch where it ran, else NumPy; both when both ran (the NumPy
    /// row repeated under its own peer name).
    static func merge(_ results: [BenchResult], cases: [BenchCase], peers: [[String: Any]], missing: [String: String]) -> [BenchResult] {
        zip(results, cases).flatMap { result, bench -> [BenchResult] in
            let matching = peers.filter {
                $0["suite"] as? String == bench.suite && $0["name"] as? String == bench.name && $0["dtype"] as? String == bench.dtype
                    && ($0["shape"] as? [Int]) == bench.shape
            }
            guard !matching.isEmpty else {
                var alone = result
                let wanted = bench.suite == "gemm" && result.device == "cpu" ? ["torch", "numpy"] : ["torch"]
                alone.peerNote = "missing: " + wanted.map { missing[$0] ?? "\($0) did not run" }.joined(separator: "; ")
                return [alone]
            }
            let absent = missing.keys.sorted().filter { name in !matching.contains { $0["peer"] as? String == name } }
            return matching.map { peer in
                var paired = result
                paired.peer = peer["peer"] as? String
                paired.peerMilliseconds = peer["median_ms"] as? Double
                if !absent.isEmpty { paired.peerNote = absent.map { "\($0) missing" }.joined(separator: ", ") }
                return paired
            }
        }
    }

    /// What the figures were measured on.
    static func machine(_ device: Device) -> [String: Any] {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let formatter = ISO8601DateFormatter()
        return ["cpu": cpu, "cores": ProcessInfo.processInfo.activeProcessorCount, "threads": CPUBackend.shared.threadCount,
                "device": device.description, "device_name": device.name, "date": formatter.string(from: Date()),
                "os": ProcessInfo.processInfo.operatingSystemVersionString]
    }
}
