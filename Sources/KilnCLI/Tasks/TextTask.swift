import Foundation
import Kiln
import KilnCheck
import KilnNN

/// A character-level GPT on a text file or a folder of text: the last 10% of the text is held out; batches are
/// windows at positions drawn for each step.
public final class TextTask: SupervisedTask, SamplingTask {
    /// Characters to ids (the vocabulary is stored in checkpoints, so sampling needs no data).
    public let tokenizer: CharTokenizer
    /// The model.
    public let gpt: GPT
    /// Training and held-out token ids (empty when built only to sample).
    let training: [Int], validation: [Int]
    private let dataPath: String, seed: UInt64

    /// A task over the text at `dataPath` (read when `loadData`), with `vocabulary` if given, else the text's
    /// characters.
    init(dataPath: String, vocabulary: String?, context: Int, dimensions: Int, layers: Int, heads: Int, seed: UInt64,
         loadData: Bool, device: Device) throws {
        self.dataPath = dataPath
        self.seed = seed
        var text = ""
        if loadData || vocabulary == nil {
            text = try DataFiles.readText(dataPath)
            guard text.count > 2 * (context + 1) else {
                throw DataFileError.malformed(file: dataPath, detail: "\(text.count) characters are too few for a context of \(context) (need more than \(2 * (context + 1)))")
            }
        }
        tokenizer = CharTokenizer(text: vocabulary ?? text)
        let ids: [Int]
        do {
            ids = try tokenizer.encode(text)
        } catch {
            throw DataFileError.malformed(file: dataPath, detail: "holds characters the checkpoint's vocabulary lacks")
        }
        let cut = ids.count - Swift.max(context + 2, ids.count / 10)
        training = Array(ids[..<Swift.max(cut, 0)])
        validation = Array(ids[Swift.max(cut, 0)...])
        gpt = GPT(.init(vocabularySize: tokenizer.vocabulary.count, contextLength: context, dimensions: dimensions,
                        layers: layers, heads: heads), device: device)
    }

    /// `text`.
    public var kind: String { "text" }
    /// The GPT.
    public var model: Module { gpt }
    /// Characters.
    public var unit: String { "tokens" }
    /// The data and model in a line.
    public var summary: String {
        let c = gpt.configuration
        return "character-level GPT on \(dataPath) (\(training.count) training, \(validation.count) held-out characters, vocabulary \(c.vocabularySize)), "
            + "\(c.layers)×\(c.dimensions), \(c.heads) heads, context \(c.contextLength), \(gpt.parameterCount) parameters"
    }
    /// Sizes, vocabulary and data path.
    public var settings: [String: String] {
        let c = gpt.configuration
        return ["data": dataPath, "vocabulary": String(tokenizer.vocabulary), "context": String(c.contextLength),
                "dimensions": String(c.dimensions), "layers": String(c.layers), "heads": String(c.heads), "seed": String(seed),
                "model": "gpt"]
    }

    /// Next-character cross-entropy over `batchSize` windows drawn for `step`.
    public func loss(step: Int, batchSize: Int) -> (loss: Tensor, units: Int) {
        var rng = SplitMix64.forStep(step, seed: seed)
        let context = gpt.configuration.contextLength
        let starts = (0..<batchSize).map { _ in Int(rng.next() % UInt64(training.count - context)) }
        return (loss(windowsAt: starts, in: training), batchSize * context)
    }

    /// Mean cross-entropy of the windows starting at `starts` in `ids`.
    func loss(windowsAt starts: [Int], in ids: [Int]) -> Tensor {
        let context = gpt.configuration.contextLength, device = gpt.wte.weight.device
        let inputs = starts.flatMap { ids[$0..<($0 + context)].map(Int64.init) }
        let targets = starts.flatMap { ids[($0 + 1)...($0 + context)].map(Int64.init) }
        return crossEntropy(logits: gpt(Tensor(inputs, shape: [starts.count, context], device: device)),
                            targets: Tensor(targets, shape: [starts.count, context], device: device))
    }

    /// Held-out loss (nats per character) and bits per character, over up to 64 evenly spaced windows.
    public func evaluate() -> [(name: String, value: Double)] {
        let context = gpt.configuration.contextLength
        let span = validation.count - context
        let count = Swift.min(64, span)
        let starts = (0..<count).map { $0 * span / count }
        let loss = noGrad { self.loss(windowsAt: starts, in: validation).item(Double.self) }
        return [("loss", loss), ("bits_per_char", loss / Foundation.log(2))]
    }

    /// 200 characters generated from the start of the held-out text.
    public func showcase() -> [String] {
        let prompt = tokenizer.decode(Array(validation.prefix(Swift.min(32, gpt.configuration.contextLength / 2))))
        guard let text = try? sample(prompt: prompt, count: 200, temperature: 0.8, topK: nil, generator: .default) else { return [] }
        return ["sample (temperature 0.8):"] + text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
    }

    /// `prompt` continued by `count` characters.
    public func sample(prompt: String?, count: Int, temperature: Double, topK: Int?, generator: RandomGenerator) throws -> String {
        let text = prompt ?? String(tokenizer.vocabulary.first { $0 == "\n" } ?? tokenizer.vocabulary[0])
        let ids: [Int]
        do {
            ids = try tokenizer.encode(text)
        } catch {
            throw UsageError(description: "--prompt holds characters the model never saw (its vocabulary: \(String(tokenizer.vocabulary).debugDescription))")
        }
        guard !ids.isEmpty else { throw UsageError(description: "--prompt is empty") }
        let tensor = Tensor(ids.map(Int64.init), shape: [1, ids.count], device: gpt.wte.weight.device)
        let generated = gpt.generate(tensor, count: count, temperature: temperature, topK: topK, generator: generator)[0]
        return text + tokenizer.decode(generated)
    }
}
