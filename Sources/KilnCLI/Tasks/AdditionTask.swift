import Foundation
import Kiln
import KilnCheck
import KilnNN

/// The default workload: a small GPT learns to add two `digits`-digit numbers from problems it generates.
///
/// A problem is written `042+913=5590`: both operands zero-padded, the sum's `digits + 1` digits reversed
/// (least significant first, the order a person adds in, so each answer digit depends only on what is already
/// written). The loss covers the answer digits only. A fixed set of held-out problems, drawn from the seed, is
/// never trained on; accuracy is exact match of the greedily decoded answer on that set.
public final class AdditionTask: SupervisedTask, SamplingTask {
    /// `0`–`9`, `+` and `=`.
    static let alphabet = Array("0123456789+=")
    /// The operands' digit count.
    public let digits: Int
    /// The model.
    public let gpt: GPT
    /// The held-out problems, never drawn for training.
    public let heldOut: [(Int, Int)]
    private let heldOutKeys: Set<Int>
    private let seed: UInt64

    /// A task over `digits`-digit operands with a GPT of the given sizes; `heldOutCount` problems are held out.
    public init(digits: Int, dimensions: Int, layers: Int, heads: Int, seed: UInt64, heldOutCount: Int = 2000,
                device: Device) {
        require((1...9).contains(digits), "AdditionTask: digits must be 1…9, got \(digits)")
        self.digits = digits
        self.seed = seed
        let limit = Self.power(digits)
        let count = Swift.min(heldOutCount, limit * limit / 10)
        var rng = SplitMix64(seed ^ 0x48454C44)
        var keys = Set<Int>(), problems: [(Int, Int)] = []
        while problems.count < count {
            let (a, b) = (Int(rng.next() % UInt64(limit)), Int(rng.next() % UInt64(limit)))
            if keys.insert(a * limit + b).inserted { problems.append((a, b)) }
        }
        heldOut = problems
        heldOutKeys = keys
        gpt = GPT(.init(vocabularySize: Self.alphabet.count, contextLength: 3 * digits + 2, dimensions: dimensions,
                        layers: layers, heads: heads), device: device)
    }

    /// `addition`.
    public var kind: String { "addition" }
    /// The GPT.
    public var model: Module { gpt }
    /// Problems.
    public var unit: String { "samples" }
    /// The task in a line.
    public var summary: String {
        let limit = Self.power(digits)
        return "addition of \(digits)-digit numbers (\(limit * limit - heldOut.count) training problems, \(heldOut.count) held out), "
            + "GPT \(gpt.configuration.layers)×\(gpt.configuration.dimensions), \(gpt.configuration.heads) heads, \(gpt.parameterCount) parameters"
    }
    /// The digit count and model sizes.
    public var settings: [String: String] {
        ["digits": String(digits), "dimensions": String(gpt.configuration.dimensions),
         "layers": String(gpt.configuration.layers), "heads": String(gpt.configuration.heads), "seed": String(seed)]
    }

    /// The problem's tokens: `a+b=` then the reversed sum.
    func tokens(_ a: Int, _ b: Int) -> [Int] {
        let text = Self.padded(a, digits) + "+" + Self.padded(b, digits) + "=" + String(Self.padded(a + b, digits + 1).reversed())
        return text.map { Self.alphabet.firstIndex(of: $0)! }
    }

    /// Cross-entropy on the answer digits of the step's batch of training problems.
    public func loss(step: Int, batchSize: Int) -> (loss: Tensor, units: Int) {
        let limit = Self.power(digits)
        var rng = SplitMix64.forStep(step, seed: seed)
        var problems: [(Int, Int)] = []
        while problems.count < batchSize {
            let (a, b) = (Int(rng.next() % UInt64(limit)), Int(rng.next() % UInt64(limit)))
            if !heldOutKeys.contains(a * limit + b) { problems.append((a, b)) }
        }
        return (loss(problems), batchSize)
    }

    /// Cross-entropy of the answer digits of `problems`, teacher-forced.
    func loss(_ problems: [(Int, Int)]) -> Tensor { teacherForced(problems).loss }

    /// The model run once over `problems` written out in full: its logits, the answer digits as targets (−1 at
    /// the other positions) and their cross-entropy.
    private func teacherForced(_ problems: [(Int, Int)]) -> (loss: Tensor, logits: Tensor, targets: [Int64]) {
        let length = 3 * digits + 2, answerStart = 2 * digits + 1
        var inputs: [Int64] = [], targets: [Int64] = []
        for (a, b) in problems {
            let t = tokens(a, b)
            inputs += t.dropLast().map(Int64.init)
            targets += (0..<length).map { $0 >= answerStart ? Int64(t[$0 + 1]) : -1 }
        }
        let device = gpt.wte.weight.device
        let logits = gpt(Tensor(inputs, shape: [problems.count, length], device: device))
        let loss = crossEntropy(logits: logits, targets: Tensor(targets, shape: [problems.count, length], device: device), ignoreIndex: -1)
        return (loss, logits, targets)
    }

    /// Which of `problems` greedy decoding solves, found from one teacher-forced pass instead of decoding: the greedy
    /// answer is right exactly when, given the right digits so far, the most likely next token is the right digit at
    /// every answer position (until a mistake the decoded prefix is the true one, and the first mistake makes the
    /// answer wrong).
    public func greedySolved(_ problems: [(Int, Int)]) -> [Bool] { judged(problems).solved }

    /// The teacher-forced loss of `problems` and which of them greedy decoding solves (`greedySolved`).
    private func judged(_ problems: [(Int, Int)]) -> (loss: Double, solved: [Bool]) {
        noGrad {
            let (loss, logits, targets) = teacherForced(problems)
            let predictions = logits.argMax(axis: 2).toArray(Int64.self), length = logits.shape[1]
            let solved = stride(from: 0, to: targets.count, by: length).map { start in
                (start..<(start + length)).allSatisfy { targets[$0] < 0 || predictions[$0] == targets[$0] }
            }
            return (loss.item(Double.self), solved)
        }
    }

    /// The greedy answers to `problems`, as numbers (`nil` where the model wrote a non-digit).
    public func solve(_ problems: [(Int, Int)]) -> [Int?] {
        var answers: [Int?] = []
        let device = gpt.wte.weight.device
        for start in stride(from: 0, to: problems.count, by: 1000) {
            let chunk = problems[start..<Swift.min(start + 1000, problems.count)]
            let prompts = chunk.flatMap { tokens($0.0, $0.1).prefix(2 * digits + 2).map(Int64.init) }
            let generated = gpt.generate(Tensor(prompts, shape: [chunk.count, 2 * digits + 2], device: device),
                                         count: digits + 1, temperature: 0)
            answers += generated.map { row in
                row.allSatisfy { $0 < 10 } ? row.reversed().reduce(0) { $0 * 10 + $1 } : nil
            }
        }
        return answers
    }

    /// Held-out loss (teacher-forced) and exact-match accuracy of greedy decoding, both from one pass
    /// (`greedySolved`).
    public func evaluate() -> [(name: String, value: Double)] {
        let (loss, solved) = judged(heldOut)
        return [("loss", loss), ("accuracy", Double(solved.filter { $0 }.count) / Double(heldOut.count))]
    }

    /// A few held-out problems with the model's answers.
    public func showcase() -> [String] {
        let shown = Array(heldOut.prefix(8))
        return zip(shown, solve(shown)).map { problem, answer in
            let mark = problem.0 + problem.1 == answer ? "✓" : "✗ (\(problem.0 + problem.1))"
            return "\(problem.0) + \(problem.1) = \(answer.map(String.init) ?? "?")  \(mark)"
        }
    }

    /// Solves `prompt` (`A+B`, with or without a trailing `=`): returns `A+B=SUM` with the model's sum.
    public func sample(prompt: String?, count: Int, temperature: Double, topK: Int?, generator: RandomGenerator) throws -> String {
        let limit = Self.power(digits)
        let text = (prompt ?? "\(heldOut[0].0)+\(heldOut[0].1)").replacingOccurrences(of: " ", with: "")
        let parts = text.hasSuffix("=") ? text.dropLast().split(separator: "+") : text.split(separator: "+")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), (0..<limit).contains(a), (0..<limit).contains(b) else {
            throw UsageError(description: "--prompt for the addition model must be A+B with A and B from 0 to \(limit - 1), got '\(text)'")
        }
        return "\(a)+\(b)=" + (solve([(a, b)])[0].map(String.init) ?? "?")
    }

    static func power(_ digits: Int) -> Int { (0..<digits).reduce(1) { r, _ in r * 10 } }
    static func padded(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: Swift.max(0, width - text.count)) + text
    }
}
