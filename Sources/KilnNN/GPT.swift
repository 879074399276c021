import Foundation
import Kiln

/// A GPT-2-style decoder-only language model: token and position embeddings, pre-norm causal transformer blocks,
/// a final layer norm and an untied output head. Parameter names follow nanoGPT (`wte`, `wpe`, `blocks.0.attn.qkv`,
/// `ln_f`, `head`).
public final class GPT: Module, UnaryLayer {
    /// The model's sizes.
    public struct Configuration: Sendable, Equatable {
        /// The number of distinct tokens.
        public var vocabularySize: Int
        /// The longest sequence the position embedding covers.
        public var contextLength: Int
        /// The width of the residual stream.
        public var dimensions: Int
        /// The number of transformer blocks.
        public var layers: Int
        /// The number of attention heads per block.
        public var heads: Int
        /// Dropout on the embeddings and residual branches while training.
        public var dropout: Double

        /// A configuration.
        public init(vocabularySize: Int, contextLength: Int, dimensions: Int, layers: Int, heads: Int, dropout: Double = 0) {
            self.vocabularySize = vocabularySize; self.contextLength = contextLength; self.dimensions = dimensions
            self.layers = layers; self.heads = heads; self.dropout = dropout
        }
    }

    /// The sizes this model was built with.
    public let configuration: Configuration
    /// Token embeddings, `[vocabularySize, dimensions]`.
    public let wte: Embedding
    /// Position embeddings, `[contextLength, dimensions]`.
    public let wpe: Embedding
    /// The transformer blocks.
    public let blocks: [TransformerBlock]
    /// The final layer norm.
    public let lnF: LayerNorm
    /// The output projection to logits.
    public let head: Linear
    /// Dropout on the summed embeddings.
    public let dropout: Dropout

    /// A model with freshly initialised parameters (GPT-2's: normal(0, 0.02) for weights, zero biases, and the
    /// residual projections scaled by 1/√(2·layers)), drawn from `RandomGenerator.default` (which also drives
    /// dropout).
    public init(_ configuration: Configuration, dtype: DType = .float32, device: Device = .default) {
        let c = configuration
        self.configuration = c
        wte = Embedding(c.vocabularySize, c.dimensions, dtype: dtype, device: device)
        wpe = Embedding(c.contextLength, c.dimensions, dtype: dtype, device: device)
        blocks = (0..<c.layers).map { _ in
            TransformerBlock(dimensions: c.dimensions, heads: c.heads, dropout: c.dropout, dtype: dtype, device: device)
        }
        lnF = LayerNorm(c.dimensions, dtype: dtype, device: device)
        head = Linear(c.dimensions, c.vocabularySize, bias: false, dtype: dtype, device: device)
        dropout = Dropout(c.dropout)
        super.init()
        noGrad {
            let residualScale = 1 / (2 * Double(c.layers)).squareRoot()
            for (name, parameter) in namedParameters() {
                if name.hasSuffix(".bias") {
                    parameter.assign(Tensor.zeros(parameter.shape, dtype: dtype, device: device))
                } else if !name.hasPrefix("ln") && !name.contains(".ln") {
                    let scale = name.hasSuffix("proj.weight") ? residualScale : 1
                    parameter.assign(Tensor.normal(parameter.shape, std: 0.02 * scale, dtype: dtype, device: device))
                }
            }
        }
    }

    /// Logits `[batch, time, vocabularySize]` for the token ids `tokens` (`[batch, time]`, time ≤ contextLength).
    public func callAsFunction(_ tokens: Tensor) -> Tensor { logits(tokens, cache: nil, lastOnly: false) }

    /// Logits `[batch, time, vocabularySize]` for `tokens` (`[batch, time]`), the positions that follow those held
    /// in `cache` (one `KVCache` per block, as `makeCache()` returns), which it extends: decoding token by token
    /// costs one position a step. Cached and new positions together must fit the context length. Inference only
    /// (inside `noGrad`).
    public func callAsFunction(_ tokens: Tensor, cache: [KVCache]) -> Tensor { logits(tokens, cache: cache, lastOnly: false) }

    /// An empty `KVCache` for each block.
    public func makeCache() -> [KVCache] { blocks.map { _ in KVCache() } }

    /// The logits of `tokens` after the positions in `cache`; of the last position only when `lastOnly`.
    private func logits(_ tokens: Tensor, cache: [KVCache]?, lastOnly: Bool) -> Tensor {
        require(tokens.rank == 2, "GPT: tokens must be [batch, time], got \(tokens.shape)")
        require(cache.map { layers in layers.count == blocks.count && layers.allSatisfy { $0.count == layers[0].count } } ?? true,
                "GPT: the cache must hold one KVCache per block (\(blocks.count)), all of one length; got lengths \(cache?.map(\.count) ?? [])")
        let start = cache?.first?.count ?? 0, time = tokens.shape[1]
        require(start + time <= configuration.contextLength,
                "GPT: \(start > 0 ? "\(start) cached and " : "")\(time) tokens exceed the context length \(configuration.contextLength)")
        let positions = Tensor.arange(Double(start), Double(start + time), dtype: .int64, device: tokens.device)
        var h = dropout(wte(tokens) + wpe(positions))
        for (i, block) in blocks.enumerated() { h = block(h, cache: cache?[i]) }
        if lastOnly { h = h.sliced(axis: 1, start: time - 1, end: time) }
        return head(lnF(h))
    }

    /// Continues each row of `prompt` (`[batch, time]` token ids) by `count` tokens, sampling from the softmax of
    /// the last position's logits divided by `temperature` (0 picks the most likely token), restricted to the
    /// `topK` most likely tokens when given. Runs without gradients in evaluation mode; returns the new tokens.
    /// While the sequence fits the context, each step runs only the new token against a `KVCache`; beyond it the
    /// window of the last `contextLength` tokens is run whole (its positions have all moved).
    public func generate(_ prompt: Tensor, count: Int, temperature: Double = 1, topK: Int? = nil,
                         generator: RandomGenerator = .default) -> [[Int]] {
        require(temperature >= 0, "GPT.generate: temperature must be ≥ 0, got \(temperature)")
        let wasTraining = isTraining
        eval()
        defer { if wasTraining { train() } }
        return noGrad {
            var context = prompt.to(.int64)
            var uncached = context
            let cache = makeCache()
            var produced = Array(repeating: [Int](), count: prompt.shape[0])
            for _ in 0..<count {
                let time = context.shape[1], limit = configuration.contextLength
                let last = time <= limit
                    ? logits(uncached, cache: cache, lastOnly: true)
                    : logits(context.sliced(axis: 1, start: time - limit, end: time), cache: nil, lastOnly: true)
                let values = last.reshaped([produced.count, configuration.vocabularySize]).to(.float64).toArray(Double.self)
                let next = (0..<produced.count).map { row in
                    let rowLogits = Array(values[(row * configuration.vocabularySize)..<((row + 1) * configuration.vocabularySize)])
                    return Self.pick(from: rowLogits, temperature: temperature, topK: topK, generator: generator)
                }
                for (row, token) in next.enumerated() { produced[row].append(token) }
                uncached = Tensor(next.map(Int64.init), shape: [next.count, 1], device: context.device)
                context = concat([context, uncached], axis: 1)
            }
            return produced
        }
    }

    /// One token drawn from `logits` (greedy at temperature 0).
    static func pick(from logits: [Double], temperature: Double, topK: Int?, generator: RandomGenerator) -> Int {
        // Greedy: the first of the largest, as the stable sort below would put it first.
        guard temperature > 0 else { return logits.indices.max { logits[$0] < logits[$1] }! }
        let order = logits.indices.sorted { logits[$0] > logits[$1] }
        let kept = Array(order.prefix(Swift.max(1, Swift.min(topK ?? logits.count, logits.count))))
        let top = logits[kept[0]]
        let weights = kept.map { Foundation.exp((logits[$0] - top) / temperature) }
        var u = Tensor.uniform([], dtype: .float64, device: .cpu, generator: generator).item(Double.self) * weights.reduce(0, +)
        for (token, weight) in zip(kept, weights) {
            u -= weight
            if u < 0 { return token }
        }
        return kept[kept.count - 1]
    }
}
