import Foundation
import Kiln
import KilnNN

/// Kiln's side of each benchmark: builds the inputs (three rotated sets where caches could flatter), times the
/// workload and derives its throughput.
enum KilnWorkloads {
    /// Times `bench` on `device`.
    static func run(_ bench: BenchCase, on device: Device) throws -> BenchResult {
        try Device.withDefault(device) {
            try RandomGenerator.withDefault(RandomGenerator(seed: 7)) {
                var result = BenchResult(name: bench.suite == "train" ? "train/\(bench.name)" : bench.name, device: device.description,
                                         dtype: bench.dtype, shape: bench.shapeText, medianMilliseconds: 0)
                switch bench.suite {
                case "gemm": try gemm(bench, &result)
                case "ops": try op(bench, &result)
                default: try train(bench, &result, device: device)
                }
                return result
            }
        }
    }

    private static func gemm(_ bench: BenchCase, _ result: inout BenchResult) throws {
        // [m, k, n], or [batch, m, k, n] for a batched product.
        let batch = Array(bench.shape.dropLast(3)), product = Array(bench.shape.suffix(3))
        let dtype = DType(rawValue: bench.dtype) ?? .float32
        let sets = (0..<2).map { _ in
            (Tensor.normal(batch + product[0...1]).to(dtype), Tensor.normal(batch + product[1...2]).to(dtype))
        }
        let flops = 2.0 * Double(bench.shape.reduce(1, *))
        let budget = flops > 1e11 ? 0.0 : 1.0
        result.medianMilliseconds = try medianMilliseconds(on: Device.default, minimumRepeats: flops > 1e11 ? 2 : 3, budget: budget) { i in
            _ = sets[i % 2].0.matmul(sets[i % 2].1)
        }
        result.throughput = (flops / result.medianMilliseconds / 1e6, "GFLOP/s")
    }

    private static func op(_ bench: BenchCase, _ result: inout BenchResult) throws {
        let s = bench.shape, count = s.reduce(1, *)
        var bytes = 0.0, flops = 0.0
        let body: (Int) -> Void
        switch bench.name {
        case "conv2d":
            let x = (0..<2).map { _ in Tensor.normal(s) }, w = Tensor.normal([s[1], s[1], 3, 3])
            body = { i in _ = conv2d(x[i % 2], weight: w, padding: (1, 1)) }
            flops = 2 * Double(count) * Double(s[1]) * 9
        case "embedding":
            let table = Tensor.normal([s[1], s[2]])
            let ids = (0..<3).map { j in Tensor((0..<s[0]).map { Int64(($0 * 7919 + j * 104729) % s[1]) }) }
            body = { i in _ = embedding(ids[i % 3], weight: table) }
            bytes = 2 * 4 * Double(s[0] * s[2])
        case "adamw":
            let p = Tensor.normal(s), g = Tensor.normal(s), m = Tensor.zeros(s), v = Tensor.zeros(s)
            let parameters = AdamParameters(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, decoupledWeightDecay: true)
            body = { i in
                FusedUpdate.adam(parameter: p, gradient: g, firstMoment: m, secondMoment: v, parameters: parameters, step: i + 1)
            }
            bytes = 7 * 4 * Double(count)
        default:
            let x = (0..<3).map { _ in Tensor.normal(s) }, y = (0..<3).map { _ in Tensor.normal(s) }
            let targets = s.count == 2 ? Tensor((0..<s[0]).map { Int64($0 % s[1]) }) : Tensor.zeros([1])
            let (weight, bias) = (Tensor.ones([s[s.count - 1]]), Tensor.zeros([s[s.count - 1]]))
            switch bench.name {
            case "copy": body = { _ = x[$0 % 3].copied() }; bytes = 2
            case "add": body = { _ = x[$0 % 3] + y[$0 % 3] }; bytes = 3
            case "mul": body = { _ = x[$0 % 3] * y[$0 % 3] }; bytes = 3
            case "exp": body = { _ = x[$0 % 3].exp() }; bytes = 2
            case "gelu": body = { _ = x[$0 % 3].gelu() }; bytes = 2
            case "sum": body = { _ = x[$0 % 3].sum() }; bytes = 1
            case "softmax": body = { _ = x[$0 % 3].softmax(axis: -1) }; bytes = 2
            case "layer_norm": body = { _ = layerNorm(x[$0 % 3], weight: weight, bias: bias) }; bytes = 2
            default: body = { _ = crossEntropy(logits: x[$0 % 3], targets: targets) }; bytes = 1
            }
            bytes *= 4 * Double(count)
        }
        let time: Double
        if bytes > 0 && bench.name != "copy" {
            // A memory-bound op is timed in turn with the copy of the `copy` row (16M float32), and its fraction of
            // the copy's bandwidth compares the two under the same conditions: on a shared machine the bandwidth
            // moves between runs of a few seconds.
            let sources = (0..<3).map { _ in Tensor.normal([1 << 24]) }
            let times = try medianMilliseconds(on: Device.default, alternating: 2) { k, i in
                if k == 0 { body(i) } else { _ = sources[i % 3].copied() }
            }
            time = times[0]
            result.extra["of_copy_bandwidth"] = bytes / time / (2 * 4 * Double(1 << 24) / times[1])
        } else {
            time = try medianMilliseconds(on: Device.default, body)
        }
        result.medianMilliseconds = time
        result.throughput = flops > 0 ? (flops / time / 1e6, "GFLOP/s") : (bytes / time / 1e6, "GB/s")
    }

    /// GPT-2 small: 124M parameters, context 1024.
    static let gpt2 = GPT.Configuration(vocabularySize: 50304, contextLength: 1024, dimensions: 768, layers: 12, heads: 12)

    /// The training workloads: the four the issue defines, and GPT-2 small.
    static func model(_ name: String, batch: Int) -> (Module, (Int) -> Tensor) {
        switch name {
        case "mlp":
            let m = Sequential([Linear(784, 512), ReLU(), Linear(512, 512), ReLU(), Linear(512, 10)])
            let data = (0..<3).map { _ in (Tensor.normal([batch, 784]), Tensor((0..<batch).map { Int64($0 % 10) })) }
            return (m, { crossEntropy(logits: m(data[$0 % 3].0), targets: data[$0 % 3].1) })
        case "cnn":
            let m = Sequential([Conv2d(1, 32, kernel: (3, 3), padding: (1, 1)), ReLU(), MaxPool2d(kernel: (2, 2)),
                                Conv2d(32, 64, kernel: (3, 3), padding: (1, 1)), ReLU(), MaxPool2d(kernel: (2, 2)),
                                Flatten(), Linear(3136, 128), ReLU(), Linear(128, 10)])
            let data = (0..<3).map { _ in (Tensor.normal([batch, 1, 28, 28]), Tensor((0..<batch).map { Int64($0 % 10) })) }
            return (m, { crossEntropy(logits: m(data[$0 % 3].0), targets: data[$0 % 3].1) })
        case "lstm":
            let m = TextClassificationTask.Classifier(vocabulary: 1000, embedding: 64, hidden: 128, classes: 2, architecture: "lstm",
                                                      device: Device.default)
            let data = (0..<3).map { j in
                (Tensor((0..<(batch * 50)).map { Int64(($0 * 31 + j * 17) % 1000) }, shape: [batch, 50]), Tensor((0..<batch).map { Int64($0 % 2) }))
            }
            return (m, { crossEntropy(logits: m(data[$0 % 3].0), targets: data[$0 % 3].1) })
        default:
            let configuration = name == "gpt" ? GPT.Configuration(vocabularySize: 256, contextLength: 128, dimensions: 128, layers: 4, heads: 4)
                : gpt2
            let (vocabulary, context) = (configuration.vocabularySize, configuration.contextLength)
            let gpt = GPT(configuration)
            let data = (0..<3).map { j in
                let tokens = (0..<(batch * (context + 1))).map { Int64(($0 * 131 + j * 7) % vocabulary) }
                let rows = (0..<batch).map { Array(tokens[($0 * (context + 1))..<(($0 + 1) * (context + 1))]) }
                return (Tensor(rows.flatMap { $0.dropLast() }, shape: [batch, context]),
                        Tensor(rows.flatMap { $0.dropFirst() }, shape: [batch, context]))
            }
            return (gpt, { crossEntropy(logits: gpt(data[$0 % 3].0), targets: data[$0 % 3].1) })
        }
    }

    private static func train(_ bench: BenchCase, _ result: inout BenchResult, device: Device) throws {
        let (model, loss) = model(bench.name, batch: bench.shape[0])
        let optimizer = AdamW(learningRate: 1e-3)
        func step(_ i: Int) {
            model.zeroGrad()
            loss(i).backward()
            optimizer.update(model: model)
        }
        for i in 0..<2 { step(i) }
        try device.synchronize()
        let before = device.memory
        var steps = 0
        result.medianMilliseconds = try medianMilliseconds(on: device, warmup: 0, minimumRepeats: 5, budget: 2) {
            step($0)
            steps += 1
        }
        let after = device.memory
        result.extra["allocations_per_step"] = Double(after.allocations - before.allocations) / Double(steps)
        result.extra["system_allocations_per_step"] = Double(after.systemAllocations - before.systemAllocations) / Double(steps)
        result.extra["reserved_mb"] = Double(after.reserved) / 1e6
        if bench.name == "gpt2" {
            result.extra["tokens_per_second"] = Double(bench.shape[0] * gpt2.contextLength) / result.medianMilliseconds * 1e3
        }
    }
}

