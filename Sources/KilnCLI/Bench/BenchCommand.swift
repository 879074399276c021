import Foundation
import Kiln
import KilnCPU

/// `kiln bench`: Kiln's speed on each device, side by side with NumPy and PyTorch timed in the same run.
public enum BenchCommand {
    /// The command's help text.
    public static let help = """
    kiln bench — time Kiln against NumPy and PyTorch on the same machine, in the same run

    usage: kiln bench [gemm|ops|train|all] [--device cpu|cuda|cuda:N] [--json PATH] [--peer-python PATH] [--no-peers]
                  [--only NAME,…] [--rounds N]

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
      --rounds N      time each benchmark N times (default 1), Kiln and its peers in turn, and report the
                      median round of each, with the lowest and highest ratio of a round (ratio_low, ratio_high)

    Times are medians over repeats after a warm-up, synchronised with the device, with inputs rotated between
    sets. Each benchmark's peers run right after Kiln's run of it. ratio = peer time / Kiln time: above 1, Kiln
    is faster. A peer that cannot run is reported as missing.
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
        let args = try Arguments(rest, valued: ["device", "json", "peer-python", "only", "rounds"], flags: ["no-peers"])
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
        let rounds = try args.int("rounds", default: 1, in: 1...100)
        let machine = Self.machine(device)
        print("kiln bench on \(device) (\(device.name)), \(machine["cpu"] ?? "")")
        let peers = args.flag("no-peers") ? nil
            : try PeerScript.start(device: device.description, threads: CPUBackend.shared.threadCount, python: python)
        defer { peers?.close() }
        // Each case is timed `rounds` times, Kiln and then its peers, so that both see the same spells of a shared
        // machine.
        let results = try cases.flatMap { bench -> [BenchResult] in
            var runs: [BenchResult] = [], peerRuns: [[String: Double]] = []
            for _ in 0..<rounds {
                let result: BenchResult
                do {
                    result = try KilnWorkloads.run(bench, on: device)
                } catch {
                    throw KilnError.deviceFailure(device: device.description, operation: "kiln bench \(bench.suite) \(bench.name) \(bench.shapeText)",
                                                  detail: "\(error)")
                }
                FileHandle.standardError.write(Data("kiln: \(bench.suite) \(result.name) \(bench.shapeText) \(String(format: "%.3f", result.medianMilliseconds)) ms\n".utf8))
                runs.append(result)
                if let peers { peerRuns.append(peers.measure(bench)) }
            }
            return peers.map { combine(runs, bench: bench, peers: peerRuns, missing: $0.missing) } ?? [median(runs)]
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

    /// The round of median time (the faster of the middle two for an even count), with its throughput and extras.
    static func median(_ runs: [BenchResult]) -> BenchResult { lowerMedian(runs, by: \.medianMilliseconds) }

    /// The element of median `key` in `items` (not empty), the smaller of the middle two for an even count.
    static func lowerMedian<T>(_ items: [T], by key: (T) -> Double) -> T {
        items.sorted { key($0) < key($1) }[(items.count - 1) / 2]
    }

    /// Kiln's median round paired with each peer's median over the rounds: PyTorch where it ran, else NumPy; both
    /// when both ran (the NumPy row repeated under its own peer name). Over several rounds the spread of the ratio
    /// between Kiln and the peer of the same round is kept as `ratio_low` and `ratio_high`.
    static func combine(_ runs: [BenchResult], bench: BenchCase, peers: [[String: Double]], missing: [String: String]) -> [BenchResult] {
        let result = median(runs)
        let names = ["numpy", "torch"].filter { name in peers.contains { $0[name] != nil } }
        guard !names.isEmpty else {
            var alone = result
            let wanted = bench.suite == "gemm" && result.device == "cpu" ? ["torch", "numpy"] : ["torch"]
            let reasons = wanted.map { missing[$0] ?? "\($0) did not run" }
            alone.peerNote = "missing: " + reasons.enumerated().filter { !reasons[..<$0.offset].contains($0.element) }
                .map(\.element).joined(separator: "; ")
            return [alone]
        }
        let absent = missing.keys.sorted().filter { !names.contains($0) }
        return names.map { name in
            var paired = result
            let times = peers.compactMap { $0[name] }
            paired.peer = name
            paired.peerMilliseconds = lowerMedian(times) { $0 }
            if runs.count > 1 {
                let ratios = zip(runs, peers).compactMap { run, peer in peer[name].map { $0 / run.medianMilliseconds } }
                paired.extra["ratio_low"] = ratios.min()
                paired.extra["ratio_high"] = ratios.max()
            }
            if !absent.isEmpty { paired.peerNote = absent.map { "\($0) missing" }.joined(separator: ", ") }
            return paired
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
