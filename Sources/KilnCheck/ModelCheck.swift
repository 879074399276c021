import Kiln
import KilnNN

/// The model-level cross-check (`kiln check --models`): four small models train for a few steps from the same
/// seed and data on a device and on its reference (the naive backend for the CPU, the CPU for other devices);
/// the losses must agree step by step.
public enum ModelCheck {
    /// The models: an MLP, a small CNN, an LSTM text classifier and a tiny GPT.
    public static let names = ["mlp", "cnn", "lstm", "gpt"]

    /// The largest relative difference allowed between a step's losses (float32, accumulated over the steps).
    public static let tolerance = 1e-4

    /// The outcome for one model on one device.
    public struct Result: Sendable {
        /// The model's name.
        public let model: String
        /// The device checked.
        public let device: String
        /// The losses on the device and on its reference.
        public let losses: [Double], referenceLosses: [Double]
        /// The largest relative difference over the steps.
        public var error: Double {
            zip(losses, referenceLosses).map { Swift.abs($0 - $1) / Swift.max(Swift.abs($1), 1e-12) }.max() ?? .infinity
        }
        /// Whether every step agrees within `tolerance`.
        public var passed: Bool { losses.count == referenceLosses.count && error <= ModelCheck.tolerance }
    }

    /// Trains `model` for `steps` AdamW steps on `device` and returns the losses.
    public static func losses(_ model: String, on device: Device, steps: Int) -> [Double] {
        // Parameters and data are drawn on the CPU from fixed seeds, then moved, so every device starts equal.
        let (network, inputs, targets, loss) = RandomGenerator.withDefault(RandomGenerator(seed: 2024)) {
            Device.withDefault(.cpu) { build(model) }
        }
        network.to(device)
        let (x, y) = (inputs.to(device), targets.to(device))
        let optimizer = AdamW(learningRate: 1e-3)
        return Device.withDefault(device) {
            (0..<steps).map { _ in
                network.zeroGrad()
                let value = loss(x, y)
                value.backward()
                optimizer.update(model: network)
                return value.item(Double.self)
            }
        }
    }

    /// Checks every model (or those named) on `device` against its reference.
    public static func run(on device: Device, models: [String] = names, steps: Int = 20) -> [Result] {
        let reference = Checker.reference(for: device)
        return models.map { name in
            Result(model: name, device: device.description, losses: losses(name, on: device, steps: steps),
                   referenceLosses: losses(name, on: reference, steps: steps))
        }
    }

    private final class GPT: Module {
        let tokenEmbedding = Embedding(16, 16), positionEmbedding = Embedding(8, 16)
        let blocks = [TransformerBlock(dimensions: 16, heads: 2)]
        let lnF = LayerNorm(16), head = Linear(16, 16, bias: false)
        func callAsFunction(_ tokens: Tensor) -> Tensor {
            var h = tokenEmbedding(tokens) + positionEmbedding(Tensor.arange(0, Double(tokens.shape[1]), device: tokens.device))
            for block in blocks { h = block(h) }
            return head(lnF(h))
        }
    }

    private final class TextClassifier: Module {
        let embedding = Embedding(20, 8), lstm = LSTM(inputSize: 8, hiddenSize: 12), head = Linear(12, 2)
        func callAsFunction(_ tokens: Tensor) -> Tensor { head(lstm.run(embedding(tokens)).states[0].squeezed(axis: 0)) }
    }

    private static func build(_ name: String) -> (Module, Tensor, Tensor, (Tensor, Tensor) -> Tensor) {
        switch name {
        case "mlp":
            let m = Sequential([Linear(12, 16), ReLU(), Linear(16, 4)])
            return (m, Tensor.normal([8, 12]), Tensor((0..<8).map { Int64($0 % 4) }), { crossEntropy(logits: m($0), targets: $1) })
        case "cnn":
            let m = Sequential([Conv2d(1, 4, kernel: (3, 3), padding: (1, 1)), ReLU(), MaxPool2d(kernel: (2, 2)), Flatten(), Linear(4 * 4 * 4, 3)])
            return (m, Tensor.normal([4, 1, 8, 8]), Tensor((0..<4).map { Int64($0 % 3) }), { crossEntropy(logits: m($0), targets: $1) })
        case "lstm":
            let m = TextClassifier()
            let tokens = Tensor((0..<30).map { Int64(($0 * 7) % 20) }, shape: [5, 6])
            return (m, tokens, Tensor([0, 1, 1, 0, 1] as [Int64]), { crossEntropy(logits: m($0), targets: $1) })
        case "gpt":
            let m = GPT()
            let text = (0..<17).map { Int64(($0 * 5 + 1) % 16) }
            return (m, Tensor(Array(text[0..<16]), shape: [2, 8]), Tensor(Array(text[1..<17]), shape: [2, 8]),
                    { crossEntropy(logits: m($0), targets: $1) })
        default:
            fatalError("ModelCheck: unknown model '\(name)'; known: \(names.joined(separator: ", "))")
        }
    }
}
