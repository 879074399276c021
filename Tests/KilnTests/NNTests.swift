import Foundation
import Testing
import Kiln
import KilnCheck
import KilnNN

final class TinyMLP: Module, UnaryLayer {
    let fc1: Linear, fc2: Linear
    init(_ inputs: Int, _ hidden: Int, _ outputs: Int, dtype: DType = .float32) {
        fc1 = Linear(inputs, hidden, dtype: dtype)
        fc2 = Linear(hidden, outputs, dtype: dtype)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
}

final class TinyGPT: Module {
    let tokenEmbedding: Embedding, positionEmbedding: Embedding
    let blocks: [TransformerBlock]
    let lnF: LayerNorm, head: Linear
    init(vocabulary: Int, context: Int, width: Int, depth: Int, heads: Int) {
        tokenEmbedding = Embedding(vocabulary, width)
        positionEmbedding = Embedding(context, width)
        blocks = (0..<depth).map { _ in TransformerBlock(dimensions: width, heads: heads) }
        lnF = LayerNorm(width)
        head = Linear(width, vocabulary, bias: false)
    }
    func callAsFunction(_ tokens: Tensor) -> Tensor {
        let time = tokens.shape[1]
        var h = tokenEmbedding(tokens) + positionEmbedding(Tensor.arange(0, Double(time)))
        for block in blocks { h = block(h) }
        return head(lnF(h))
    }
}

/// Optional children and tensors, set and not, an array declared with a protocol's elements, and plain values that
/// the module tree walk passes over.
private final class MixedModule: Module {
    let head: Linear? = Linear(2, 2, bias: false)
    let missing: Linear? = nil
    let scale: Tensor? = Tensor.ones([2])
    let unused: Tensor? = nil
    let stages: [any UnaryLayer] = [Linear(2, 3, bias: false), ReLU()]
    let sizes = [1, 2], label = "x", flags: Set<String> = ["a"], count = 3
}

@Suite struct ModuleTests {
    @Test func walkFindsOptionalAndArrayMembersOnly() {
        #expect(MixedModule().namedParameters().map(\.name) == ["scale", "head.weight", "stages.0.weight"])
    }

    @Test func namesFollowPyTorch() {
        #expect(TinyMLP(3, 4, 2).namedParameters().map(\.name) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        let seq = Sequential([Linear(3, 4), ReLU(), Linear(4, 2, bias: false)])
        #expect(seq.namedParameters().map(\.name) == ["0.weight", "0.bias", "2.weight"])
        let names = TinyGPT(vocabulary: 11, context: 8, width: 8, depth: 2, heads: 2).namedParameters().map(\.name)
        #expect(names.first == "token_embedding.weight")
        #expect(names.contains("blocks.1.attn.qkv.bias") && names.contains("blocks.0.mlp.fc.weight") && names.contains("ln_f.bias"))
        #expect(names.count == 2 + 2 * 12 + 2 + 1)
    }

    @Test func linearMatchesItsDefinitionAndInitialisation() {
        let layer = Linear(5, 3)
        let bound = 1 / 5.0.squareRoot()
        #expect(layer.weight.toArray(Float.self).allSatisfy { Swift.abs(Double($0)) <= bound })
        let x = Ref.random([4, 5], seed: 1)
        let w = Ref(layer.weight.shape, layer.weight.toArray(Double.self)), b = layer.bias!.toArray(Double.self)
        let expected = Ref.zip(Ref.matmul(x, w.permuted([1, 0])), Ref([3], b), +)
        #expect(mismatch(layer(Tensor(x.values, shape: [4, 5]).to(.float32)), expected, rtol: 1e-5, atol: 1e-5) == nil)
    }

    @Test func freezingModesConversionAndSummary() {
        let model = TinyMLP(3, 4, 2)
        #expect(model.parameterCount == 3 * 4 + 4 + 4 * 2 + 2)
        model.freeze(["fc1."])
        #expect(model.trainableParameters().map(\.name) == ["fc2.weight", "fc2.bias"])
        model.unfreeze()
        #expect(model.trainableParameters().count == 4)
        let d = Sequential([Dropout(0.5)])
        d.eval()
        let ones = Tensor.ones([100])
        #expect(d(ones).toArray(Float.self).allSatisfy { $0 == 1 })
        d.train()
        #expect(d(ones).toArray(Float.self).contains(0))
        let weight = model.fc1.weight
        model.to(.float64)
        #expect(weight.dtype == .float64 && model.fc1.weight === weight)
        #expect(model.summary.contains("fc2.bias  [2]  float64") && model.summary.hasSuffix("26 parameters"))
    }

    @Test func attentionIsCausalAndHonoursPadding() {
        let attention = MultiHeadAttention(dimensions: 8, heads: 2)
        let x = Tensor.normal([2, 5, 8], generator: RandomGenerator(seed: 3))
        let y = attention(x, causal: true)
        // Changing the last position must not change earlier outputs.
        let changed = concat([x.sliced(axis: 1, end: 4), Tensor.normal([2, 1, 8], generator: RandomGenerator(seed: 4))], axis: 1)
        let y2 = attention(changed, causal: true)
        #expect(mismatch(y2.sliced(axis: 1, end: 4).contiguous(), Ref([2, 4, 8], y.sliced(axis: 1, end: 4).toArray(Double.self)), rtol: 1e-6, atol: 1e-6) == nil)
        #expect(mismatch(y2, Ref(y.shape, y.toArray(Double.self)), rtol: 1e-6, atol: 1e-6) != nil)
        // A padded key is invisible: replacing it changes nothing for the other positions.
        let padding = Tensor([true, true, true, false, false, true, true, true, true, true] as [Bool], shape: [2, 5])
        let p1 = attention(x, padding: padding), p2 = attention(changed, padding: padding)
        #expect(mismatch(p2.sliced(axis: 0, end: 1).sliced(axis: 1, end: 3).contiguous(),
                         Ref([1, 3, 8], p1.sliced(axis: 0, end: 1).sliced(axis: 1, end: 3).toArray(Double.self)), rtol: 1e-6, atol: 1e-6) == nil)
    }

    @Test func transformerBlockGradientsMatchFiniteDifferences() {
        let block = TransformerBlock(dimensions: 4, heads: 2)
        block.to(.float64)
        let x = Tensor(Ref.random([1, 3, 4], seed: 5).values, shape: [1, 3, 4])
        let result = checkGradients([x]) { block($0[0]) }
        #expect(result.passed, "\(result)")
    }
}

@Suite struct LossTests {
    @Test func elementwiseLossesMatchDefinitions() {
        let p = Tensor([0.5, -1, 2] as [Double]), t = Tensor([1, 1, -1] as [Double])
        let mse: Double = (0.25 + 4 + 9) / 3, l1: Double = 5.5
        #expect(mseLoss(p, t).item(Double.self) == mse)
        #expect(l1Loss(p, t, reduction: .sum).item(Double.self) == l1)
        let logits = Tensor([-30, -1, 0, 2, 40] as [Double]), targets = Tensor([0, 1, 1, 0, 1] as [Double])
        let xs: [Double] = [-30, -1, 0, 2, 40], ys: [Double] = [0, 1, 1, 0, 1]
        let expected: [Double] = zip(xs, ys).map { (x: Double, y: Double) -> Double in
            let sigma: Double = 1 / (1 + Foundation.exp(-x))
            let negative: Double = 1 / (1 + Foundation.exp(x))        // 1 - σ(x) without cancellation
            return -(y * Foundation.log(sigma) + (1 - y) * Foundation.log(negative))
        }
        #expect(mismatch(binaryCrossEntropy(logits: logits, targets: targets, reduction: .none), Ref([5], expected), rtol: 1e-9, atol: 1e-12) == nil)
        let weighted = binaryCrossEntropy(logits: logits, targets: targets, positiveWeight: 3, reduction: .none).toArray(Double.self)
        for i in 0..<5 {
            let scale: Double = ys[i] == 1 ? 3 : 1
            #expect(Swift.abs(weighted[i] - expected[i] * scale) < 1e-9)
        }
    }

    @Test func nllAndKLDivergence() {
        let logits = Tensor(Ref.random([3, 4], seed: 6).values, shape: [3, 4])
        let targets = Tensor([1, 3, 0] as [Int64])
        let logp = logits.logSoftmax()
        #expect(Swift.abs(nllLoss(logProbabilities: logp, targets: targets).item(Double.self) - crossEntropy(logits: logits, targets: targets).item(Double.self)) < 1e-12)
        let q = Tensor([0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25, 1, 0, 0, 0] as [Double], shape: [3, 4])
        let lp = logp.toArray(Double.self), qv = q.toArray(Double.self)
        var kl = 0.0
        for i in 0..<12 where qv[i] > 0 { kl += qv[i] * (Foundation.log(qv[i]) - lp[i]) }
        #expect(Swift.abs(klDivLoss(logProbabilities: logp, target: q).item(Double.self) - kl / 3) < 1e-12)
    }

    @Test func bceGradientMatchesFiniteDifferences() {
        let targets = Tensor([0, 1, 0.3, 1] as [Double])
        let result = checkGradients([Tensor([-3, 0.5, 2, 10] as [Double])]) { binaryCrossEntropy(logits: $0[0], targets: targets, positiveWeight: 2) }
        #expect(result.passed, "\(result)")
    }
}

@Suite struct OptimizerTests {
    @Test func rmspropAndAdagradFollowTheirFormulas() {
        for rms in [true, false] {
            let model = Sequential([Linear(2, 1, bias: false, dtype: .float64)])
            let w0 = model.parameters()[0].toArray(Double.self)
            let optimizer: Optimizer = rms ? RMSprop(learningRate: 0.1) : Adagrad(learningRate: 0.1)
            var w = w0, acc = [0.0, 0.0]
            for g in [[0.5, -1.0], [2.0, 0.25]] {
                model.parameters()[0].grad = Tensor(g, shape: [1, 2])
                optimizer.update(model: model)
                for i in 0..<2 {
                    acc[i] = rms ? 0.99 * acc[i] + 0.01 * g[i] * g[i] : acc[i] + g[i] * g[i]
                    w[i] -= 0.1 * g[i] / (acc[i].squareRoot() + (rms ? 1e-8 : 1e-10))
                }
            }
            #expect(mismatch(model.parameters()[0], Ref([1, 2], w), rtol: 1e-12, atol: 1e-14) == nil, "\(rms ? "RMSprop" : "Adagrad")")
        }
    }

    @Test func groupsScaleTheLearningRateAndStateRestores() {
        let model = TinyMLP(2, 3, 1)
        let optimizer = AdamW(learningRate: 0.01, groups: [ParameterGroup(prefix: "fc1.", learningRateScale: 0)])
        let frozenBefore = model.fc1.weight.toArray(Float.self)
        let x = Tensor.normal([8, 2]), y = Tensor.normal([8, 1])
        for _ in 0..<3 {
            model.zeroGrad()
            mseLoss(model(x), y).backward()
            optimizer.update(model: model)
        }
        #expect(model.fc1.weight.toArray(Float.self) == frozenBefore)
        #expect(optimizer.state["fc2.weight"]?["exp_avg"] != nil && optimizer.step == 3)
        // A fresh optimizer given the saved state takes the same next step, given the gradients by name or the
        // parameters that hold them.
        func savedState() -> [String: [String: Tensor]] { optimizer.state.mapValues { $0.mapValues { $0.copied() } } }
        let saved = savedState(), savedAgain = savedState()
        let weights = model.parameters().map { $0.copied() }
        model.zeroGrad()
        mseLoss(model(x), y).backward()
        let grads = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor.grad!) })
        optimizer.update(model: model)
        let expected = model.parameters().map { $0.toArray(Float.self) }
        noGrad { for (p, w) in zip(model.parameters(), weights) { p.assign(w) } }
        let resumed = AdamW(learningRate: 0.01, groups: [ParameterGroup(prefix: "fc1.", learningRateScale: 0)])
        resumed.restore(state: saved, step: 3)
        resumed.update(model: model, gradients: grads)
        #expect(model.parameters().map { $0.toArray(Float.self) } == expected)
        noGrad { for (p, w) in zip(model.parameters(), weights) { p.assign(w) } }
        let held = AdamW(learningRate: 0.01, groups: [ParameterGroup(prefix: "fc1.", learningRateScale: 0)])
        held.restore(state: savedAgain, step: 3)
        held.update(parameters: model.trainableParameters())
        #expect(model.parameters().map { $0.toArray(Float.self) } == expected && held.step == 4)
    }

    @Test func schedulesAndClipping() {
        #expect(StepDecay(initial: 1, factor: 0.5, every: 10).learningRate(at: 25) == 0.25)
        #expect(Swift.abs(ExponentialDecay(initial: 2, factor: 0.9).learningRate(at: 2) - 1.62) < 1e-12)
        let warmCosine = JoinedSchedule([(LinearSchedule(initial: 0, final: 1, steps: 10), 10), (CosineDecay(initial: 1, steps: 100, minimum: 0.1), 100)])
        #expect(warmCosine.learningRate(at: 5) == 0.5)
        #expect(warmCosine.learningRate(at: 10) == 1)
        #expect(Swift.abs(warmCosine.learningRate(at: 60) - 0.55) < 1e-12)
        #expect(warmCosine.learningRate(at: 500) == 0.1)
        let a = Tensor.zeros([2]).requiringGrad(), b = Tensor.zeros([1]).requiringGrad()
        a.grad = Tensor([3, 0] as [Float]); b.grad = Tensor([4] as [Float])
        #expect(Swift.abs(clipGradNorm([a, b], maxNorm: 1) - 5) < 1e-6)
        #expect(mismatch(a.grad!, Ref([2], [0.6, 0]), rtol: 1e-5, atol: 1e-6) == nil)
        clipGradValue([a, b], limit: 0.5)
        #expect(b.grad!.toArray(Float.self) == [0.5])
    }
}

@Suite struct ModelsLearnTests {
    /// The cross-entropy after `steps` Adam steps on one fixed batch.
    static func fit(_ model: Sequential, _ x: Tensor, _ labels: Tensor, steps: Int) -> Float {
        let optimizer = Adam(learningRate: 0.01)
        for _ in 0..<steps {
            model.zeroGrad()
            crossEntropy(logits: model(x), targets: labels).backward()
            optimizer.update(model: model)
        }
        return crossEntropy(logits: model(x), targets: labels).item(Float.self)
    }

    @Test func mlpOverfitsAFixedBatch() {
        RandomGenerator.withDefault(RandomGenerator(seed: 11)) {
            let x = Tensor.normal([16, 10]), labels = Tensor((0..<16).map { Int64($0 % 4) })
            #expect(Self.fit(Sequential([Linear(10, 32), ReLU(), Linear(32, 4)]), x, labels, steps: 200) < 0.01)
        }
    }

    @Test func cnnOverfitsAFixedBatch() {
        RandomGenerator.withDefault(RandomGenerator(seed: 12)) {
            let x = Tensor.normal([8, 1, 12, 12]), labels = Tensor((0..<8).map { Int64($0 % 3) })
            let model = Sequential([Conv2d(1, 6, kernel: (3, 3), padding: (1, 1)), ReLU(), MaxPool2d(kernel: (2, 2)),
                                    Conv2d(6, 8, kernel: (3, 3), padding: (1, 1)), ReLU(), MaxPool2d(kernel: (2, 2)),
                                    Flatten(), Linear(8 * 3 * 3, 3)])
            #expect(Self.fit(model, x, labels, steps: 150) < 0.02)
        }
    }

    @Test func tinyGPTOverfitsASequence() {
        RandomGenerator.withDefault(RandomGenerator(seed: 13)) {
            let text = Array("hello kiln, hello swift".utf8).map { Int64($0 % 32) }
            let tokens = Tensor(Array(text.dropLast()), shape: [1, text.count - 1]), next = Tensor(Array(text.dropFirst()), shape: [1, text.count - 1])
            let model = TinyGPT(vocabulary: 32, context: 32, width: 32, depth: 2, heads: 4)
            let optimizer = AdamW(learningRate: 3e-3, weightDecay: 0)
            for _ in 0..<150 {
                model.zeroGrad()
                crossEntropy(logits: model(tokens), targets: next).backward()
                clipGradNorm(model.parameters(), maxNorm: 1)
                optimizer.update(model: model)
            }
            #expect(crossEntropy(logits: model(tokens), targets: next).item(Float.self) < 0.05)
        }
    }
}
