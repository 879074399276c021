import Foundation
import Kiln
import KilnCheck
import KilnNN

/// Text classification from a `label,text` CSV (one example per line; a first line `label,text` is skipped) or
/// a folder with one subfolder of text files per class. Words are tokenized as Keras does (10,000 most frequent
/// words), sequences cut or padded to `context` tokens; a seeded 10% is held out. The model is an LSTM (last
/// real state → linear) or `bag`, an embedding-pooling classifier (mean of the real tokens' embeddings → MLP).
public final class TextClassificationTask: ClassificationTask {
    /// The classifier's layers: `embedding`, then `lstm` or `hidden`, then `head` (also `kiln bench`'s LSTM
    /// workload).
    final class Classifier: Module {
        let embedding: Embedding
        let lstm: LSTM?
        let hidden: Linear?
        let head: Linear

        init(vocabulary: Int, embedding width: Int, hidden features: Int, classes: Int, architecture: String, device: Device) {
            embedding = Embedding(vocabulary, width, device: device)
            lstm = architecture == "lstm" ? LSTM(inputSize: width, hiddenSize: features, device: device) : nil
            hidden = architecture == "lstm" ? nil : Linear(width, features, device: device)
            head = Linear(features, classes, device: device)
            super.init()
        }

        /// Logits for `tokens` (`[batch, time]`, padded after the `lengths` real tokens; all real when nil).
        func callAsFunction(_ tokens: Tensor, lengths: [Int]? = nil) -> Tensor {
            let x = embedding(tokens)
            if let lstm { return head(lstm.run(x, lengths: lengths).states[0].squeezed(axis: 0)) }
            let (batch, time) = (tokens.shape[0], tokens.shape[1])
            let lengths = lengths ?? Array(repeating: time, count: batch)
            let mask = Tensor(lengths.flatMap { n in (0..<time).map { $0 < n ? 1.0 : 0.0 } }, shape: [batch, time, 1], device: x.device).to(x.dtype)
            let counts = Tensor(lengths.map { Double(Swift.max($0, 1)) }, shape: [batch, 1], device: x.device).to(x.dtype)
            return head(hidden!((x * mask).sum(axis: 1) / counts).relu())
        }
    }

    /// The classifier.
    let classifier: Classifier
    /// The classes, sorted by name.
    public let classNames: [String]
    /// Words to ids.
    public let tokenizer: WordTokenizer
    private let train: [(tokens: [Int], label: Int)], test: [(tokens: [Int], label: Int)]
    private let dataPath: String, architecture: String, dimensions: Int, context: Int
    /// The seed of the split and the epoch order.
    public let seed: UInt64
    /// The device the model lives on.
    public let device: Device

    /// Reads the labelled texts at `dataPath` and builds the `architecture` (`lstm` or `bag`) classifier.
    init(dataPath: String, architecture: String, dimensions: Int, context: Int, seed: UInt64, device: Device) throws {
        self.dataPath = dataPath; self.architecture = architecture; self.dimensions = dimensions; self.context = context; self.seed = seed
        self.device = device
        let examples = try Self.read(dataPath)
        classNames = Array(Set(examples.map(\.label))).sorted()
        guard classNames.count >= 2 else { throw DataFileError.malformed(file: dataPath, detail: "needs at least two classes, found \(classNames)") }
        guard examples.count >= 10 else { throw DataFileError.malformed(file: dataPath, detail: "needs at least 10 examples, found \(examples.count)") }
        let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        var order = Array(examples.indices)
        var rng = SplitMix64.forStep(0, seed: seed ^ 0x5350_4C49)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let heldOut = Swift.max(1, examples.count / 10)
        let trainTexts = order.dropFirst(heldOut).map { examples[$0].text }
        let words = WordTokenizer(texts: trainTexts, maxWords: 10_000)
        tokenizer = words
        func encode(_ i: Int) -> (tokens: [Int], label: Int) {
            (Array(words.encode(examples[i].text).prefix(context)), classIndex[examples[i].label]!)
        }
        test = order.prefix(heldOut).map(encode)
        train = order.dropFirst(heldOut).map(encode)
        classifier = Classifier(vocabulary: words.vocabulary.count, embedding: dimensions, hidden: dimensions, classes: classNames.count,
                                architecture: architecture, device: device)
    }

    /// `(label, text)` pairs from a CSV file or a folder of class folders.
    static func read(_ path: String) throws -> [(label: String, text: String)] {
        var isFolder: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
        if isFolder.boolValue {
            let classes = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
            return try classes.flatMap { label -> [(label: String, text: String)] in
                let folder = path + "/" + label
                let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
                return try files.map { (label, String(decoding: try DataFiles.contents(of: folder + "/" + $0), as: UTF8.self)) }
            }
        }
        let text = String(decoding: try DataFiles.contents(of: path), as: UTF8.self)
        var rows: [(label: String, text: String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || (number == 0 && trimmed.lowercased().hasPrefix("label,")) { continue }
            guard let comma = trimmed.firstIndex(of: ",") else {
                throw DataFileError.malformed(file: path, detail: "line \(number + 1): expected label,text")
            }
            var body = String(trimmed[trimmed.index(after: comma)...])
            if body.hasPrefix("\""), body.hasSuffix("\""), body.count >= 2 { body = String(body.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"") }
            rows.append((String(trimmed[..<comma]).trimmingCharacters(in: .whitespaces), body))
        }
        return rows
    }

    /// `classify`.
    public var kind: String { "classify" }
    /// The classifier.
    public var model: Module { classifier }
    /// The data and model in a line.
    public var summary: String {
        "\(architecture == "lstm" ? "LSTM" : "embedding-bag") classifier on \(dataPath): \(train.count) training and \(test.count) held-out texts, "
            + "\(classNames.count) classes, \(tokenizer.vocabulary.count) words, \(classifier.parameterCount) parameters"
    }
    /// Architecture, sizes and data path.
    public var settings: [String: String] {
        ["data": dataPath, "model": architecture, "dimensions": String(dimensions), "context": String(context), "seed": String(seed)]
    }
    /// Training texts.
    public var trainingCount: Int { train.count }
    /// Held-out texts.
    public var heldOutCount: Int { test.count }

    /// The classifier's logits for the texts at `indices`.
    public func logits(_ indices: [Int], heldOut: Bool) -> Tensor {
        let rows = indices.map { (heldOut ? test : train)[$0].tokens }
        let width = Swift.max(1, rows.map(\.count).max() ?? 1)
        let padded = padSequences(rows, maxLength: width, padding: .post)
        return classifier(Tensor(padded.flatMap { $0.map(Int64.init) }, shape: [rows.count, width], device: device), lengths: rows.map(\.count))
    }

    /// Those texts' classes.
    public func labels(_ indices: [Int], heldOut: Bool) -> [Int] { indices.map { (heldOut ? test : train)[$0].label } }
}
