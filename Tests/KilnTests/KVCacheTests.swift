import Testing
import Kiln
import KilnNN
import KilnCLI

/// Decoding with a `KVCache` against the model run over the whole sequence, the computation it replaces.
@Suite struct KVCacheTests {
    /// A small GPT on the CPU whose logits are spread far apart (its head scaled up), so that a greedy choice
    /// does not turn on the last bits of float32.
    static func model(context: Int) -> GPT {
        RandomGenerator.withDefault(RandomGenerator(seed: 11)) {
            let gpt = GPT(.init(vocabularySize: 13, contextLength: context, dimensions: 32, layers: 2, heads: 4), device: .cpu)
            noGrad { gpt.head.weight.assign(gpt.head.weight * 100) }
            return gpt
        }
    }

    static func tokens(_ batch: Int, _ time: Int) -> Tensor {
        Tensor((0..<(batch * time)).map { Int64(($0 * 7 + $0 / 5) % 13) }, shape: [batch, time], device: .cpu)
    }

    /// Feeding a sequence in chunks through the cache (the prompt whole, then token by token, or in uneven pieces
    /// that need the offset causal mask) gives the logits of the whole sequence run at once.
    @Test(arguments: [[12], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [5, 1, 1, 3, 2], [4, 8]])
    func chunksMatchTheWholeSequence(chunks: [Int]) {
        let gpt = Self.model(context: 12), tokens = Self.tokens(3, 12)
        let whole = noGrad { gpt(tokens) }
        let cache = gpt.makeCache()
        var start = 0
        for length in chunks {
            let part = noGrad { gpt(tokens.sliced(axis: 1, start: start, end: start + length), cache: cache) }
            let expected = whole.sliced(axis: 1, start: start, end: start + length)
            let scale = expected.abs().max().item(Double.self)
            let error = (part - expected).abs().max().item(Double.self)
            #expect(error <= 1e-5 * scale, "positions \(start)..<\(start + length): max error \(error), logits up to \(scale)")
            start += length
        }
        #expect(cache.allSatisfy { $0.count == 12 })
    }

    /// Greedy generation through the cache picks the tokens that running each step's whole window picks, also
    /// after the sequence outgrows the context (where the window slides and the cache no longer applies).
    @Test func generationMatchesRecomputingEveryStep() {
        let gpt = Self.model(context: 10), prompt = Self.tokens(4, 6)
        let generated = gpt.generate(prompt, count: 8, temperature: 0)
        var context = prompt.toArray(Int64.self).map(Int.init)
        var expected = Array(repeating: [Int](), count: 4)
        var time = 6
        for _ in 0..<8 {
            let window = Tensor(context.map(Int64.init), shape: [4, time], device: .cpu)
                .sliced(axis: 1, start: Swift.max(0, time - 10), end: time)
            let logits = noGrad { gpt(window) }.sliced(axis: 1, start: window.shape[1] - 1, end: window.shape[1])
                .toArray(Float.self)
            var next: [Int] = []
            for row in 0..<4 {
                let values = logits[(row * 13)..<((row + 1) * 13)]
                next.append(values.indices.max { values[$0] < values[$1] }! - row * 13)
                expected[row].append(next[row])
            }
            context = (0..<4).flatMap { Array(context[($0 * time)..<(($0 + 1) * time)]) + [next[$0]] }
            time += 1
        }
        #expect(generated == expected)
    }

    @Test func positionsBeyondTheContextStop() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let gpt = GPT(.init(vocabularySize: 5, contextLength: 4, dimensions: 8, layers: 1, heads: 2), device: .cpu)
            let cache = gpt.makeCache()
            noGrad {
                _ = gpt(Tensor([1, 2, 3] as [Int64], shape: [1, 3], device: .cpu), cache: cache)
                _ = gpt(Tensor([1, 2] as [Int64], shape: [1, 2], device: .cpu), cache: cache)
            }
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("GPT: 3 cached and 2 tokens exceed the context length 4"), "\(text)")
        }
    }

    @Test func updatingWhileRecordingGradientsStops() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = KVCache().update(keys: Tensor.zeros([1, 2, 3, 4], device: .cpu), values: Tensor.zeros([1, 2, 3, 4], device: .cpu))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("KVCache.update: the cache is for inference"), "\(text)")
        }
    }
}

/// The default task's accuracy, read from one teacher-forced pass, against decoding each answer token by token.
@Suite struct AdditionAccuracyTests {
    /// After 150 steps a tiny model solves a few of 1,000 two-digit held-out problems and fails the rest, at
    /// various digits: the problems its greedy decoding (through the KV cache) answers right are exactly those the
    /// teacher-forced pass counts as solved.
    @Test func teacherForcedAccuracyIsGreedyDecodingsAccuracy() {
        let task = AdditionTask(digits: 2, dimensions: 32, layers: 2, heads: 4, seed: 1, device: .cpu)
        let update = Update(optimizer: AdamW(learningRate: 3e-3), precision: nil, clipNorm: 1)
        RandomGenerator.withDefault(RandomGenerator(seed: 5)) {
            for step in 0..<150 { _ = task.trainStep(step, batchSize: 64, update: update) }
        }
        task.gpt.eval()
        let decoded = zip(task.heldOut, task.solve(task.heldOut)).map { $0.0 + $0.1 == $1 }
        let solved = task.greedySolved(task.heldOut)
        #expect(decoded.contains(true) && decoded.contains(false), "solved \(decoded.filter { $0 }.count) of \(decoded.count)")
        #expect(solved == decoded, "disagree on \(zip(solved, decoded).filter { $0 != $1 }.count) problems")
        let accuracy = task.evaluate().first { $0.name == "accuracy" }?.value
        #expect(accuracy == Double(decoded.filter { $0 }.count) / Double(decoded.count))
    }
}
