import Kiln

/// Characters to indices: the vocabulary is the distinct characters of the training text, sorted.
public struct CharTokenizer: Sendable {
    /// The characters, by index.
    public let vocabulary: [Character]
    private let index: [Character: Int]

    /// A tokenizer for the characters of `text`.
    public init(text: String) {
        vocabulary = Array(Set(text)).sorted()
        index = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0) })
    }

    /// The indices of `text`'s characters; characters outside the vocabulary are an error naming the first.
    public func encode(_ text: String) throws -> [Int] {
        try text.map { character in
            guard let i = index[character] else {
                throw KilnError.invalidConfiguration(setting: "text", value: String(character), expected: "a character of the tokenizer's vocabulary")
            }
            return i
        }
    }

    /// The text of `indices`.
    public func decode(_ indices: [Int]) -> String { String(indices.map { vocabulary[$0] }) }
}

/// Words to indices, as Keras's `Tokenizer`: text is lower-cased and split on anything that is not a letter,
/// digit or apostrophe; index 0 is reserved for padding, 1 for out-of-vocabulary words, then the `maxWords - 2`
/// most frequent words (ties by first appearance).
public struct WordTokenizer: Sendable {
    /// The words by index (`""` for padding and `oovToken` at 1).
    public let vocabulary: [String]
    private let index: [String: Int]
    /// The token standing for unknown words.
    public let oovToken: String

    /// The words of `texts` split as `encode` splits them.
    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "'") }.map(String.init)
    }

    /// A vocabulary of at most `maxWords` entries (padding and OOV included) built from `texts`.
    public init(texts: [String], maxWords: Int, oovToken: String = "<unk>") {
        require(maxWords >= 2, "WordTokenizer: maxWords must leave room for padding and the OOV token, got \(maxWords)")
        var counts: [String: Int] = [:], first: [String: Int] = [:]
        var position = 0
        for text in texts {
            for word in Self.words(text) {
                counts[word, default: 0] += 1
                if first[word] == nil { first[word] = position }
                position += 1
            }
        }
        let ranked = counts.keys.sorted { (counts[$0]!, -first[$0]!) > (counts[$1]!, -first[$1]!) }
        vocabulary = ["", oovToken] + ranked.prefix(maxWords - 2)
        index = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().dropFirst().map { ($1, $0) })
        self.oovToken = oovToken
    }

    /// The indices of `text`'s words (1 for words outside the vocabulary).
    public func encode(_ text: String) -> [Int] { Self.words(text).map { index[$0] ?? 1 } }

    /// The words of `indices`, padding dropped.
    public func decode(_ indices: [Int]) -> String { indices.filter { $0 != 0 }.map { vocabulary[$0] }.joined(separator: " ") }
}

/// Where `padSequences` pads or truncates.
public enum SequenceSide: Sendable {
    /// At the start (Keras's default).
    case pre
    /// At the end.
    case post
}

/// Sequences made one length, as Keras's `pad_sequences`: longer ones lose elements at `truncating`, shorter
/// ones get `value` at `padding`; the length defaults to the longest sequence.
public func padSequences(_ sequences: [[Int]], maxLength: Int? = nil, padding: SequenceSide = .pre,
                         truncating: SequenceSide = .pre, value: Int = 0) -> [[Int]] {
    let length = maxLength ?? sequences.map(\.count).max() ?? 0
    return sequences.map { sequence in
        let kept = sequence.count <= length ? sequence
            : Array(truncating == .pre ? sequence.suffix(length) : sequence.prefix(length))
        let fill = [Int](repeating: value, count: length - kept.count)
        return padding == .pre ? fill + kept : kept + fill
    }
}

/// Language-model batches from one token stream: `batchSize` windows of `context + 1` tokens at positions drawn
/// from `generator`, as `[batch, context]` inputs and the next-token targets (both int64).
public func languageModelBatch(_ tokens: [Int], context: Int, batchSize: Int, generator: RandomGenerator = .default,
                               device: Device = .default) -> (inputs: Tensor, targets: Tensor) {
    require(tokens.count > context, "languageModelBatch: \(tokens.count) tokens are too few for a context of \(context)")
    let span = tokens.count - context
    let draws = Tensor.uniform([batchSize], low: 0, high: Double(span), dtype: .float64, generator: generator).toArray(Double.self)
    var inputs: [Int64] = [], targets: [Int64] = []
    for start in draws.map({ Swift.min(Int($0), span - 1) }) {
        inputs += tokens[start..<(start + context)].map(Int64.init)
        targets += tokens[(start + 1)...(start + context)].map(Int64.init)
    }
    return (Tensor(inputs, shape: [batchSize, context], device: device), Tensor(targets, shape: [batchSize, context], device: device))
}
