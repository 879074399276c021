import Foundation
import Testing
import Kiln

@Suite struct FusedLayerTests {
    @Test(arguments: [[4, 7], [2, 3, 33], [1, 1], [5, 1024]], [true, false])
    func layerNormMatchesDefinition(_ shape: [Int], _ affine: Bool) {
        let x = Ref.random(shape, seed: 91, low: -5, high: 5)
        let n = shape.last!
        let w = Ref.random([n], seed: 92), b = Ref.random([n], seed: 93)
        var expected = x.values
        for start in stride(from: 0, to: x.count, by: n) {
            let row = Array(x.values[start..<(start + n)])
            let m = mean(row), v = variance(row, ddof: 0)
            for i in 0..<n {
                let normalized = (row[i] - m) / (v + 1e-5).squareRoot()
                expected[start + i] = affine ? normalized * w.values[i] + b.values[i] : normalized
            }
        }
        let result = layerNorm(Storage.transposed.tensor(x), weight: affine ? Tensor(w.values).to(.float32) : nil,
                               bias: affine ? Tensor(b.values).to(.float32) : nil)
        #expect(mismatch(result, Ref(shape, expected), rtol: 1e-4, atol: 1e-4) == nil)
    }

    static func referenceCrossEntropy(_ logits: Ref, _ targets: [Int], smoothing: Double, ignore: Int?) -> [Double] {
        let c = logits.shape[1]
        return targets.enumerated().map { r, t in
            if t == ignore { return 0 }
            let row = Array(logits.values[(r * c)..<((r + 1) * c)])
            let m = row.max()!
            let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            return (1 - smoothing) * (lse - row[t]) + smoothing * (lse - row.reduce(0, +) / Double(c))
        }
    }

    @Test(arguments: [LossReduction.none, .mean, .sum], [0.0, 0.1])
    func crossEntropyMatchesDefinition(_ reduction: LossReduction, _ smoothing: Double) {
        let logits = Ref.random([6, 11], seed: 94, low: -8, high: 8)
        let targets = [3, 0, 10, 7, 7, 1]
        let perRow = Self.referenceCrossEntropy(logits, targets, smoothing: smoothing, ignore: nil)
        let result = crossEntropy(logits: Storage.transposed.tensor(logits), targets: Tensor(targets.map(Int64.init)),
                                  reduction: reduction, labelSmoothing: smoothing)
        let expected: Ref = switch reduction {
        case .none: Ref([6], perRow)
        case .mean: Ref([], [mean(perRow)])
        case .sum: Ref([], [perRow.reduce(0, +)])
        }
        #expect(mismatch(result, expected, rtol: 1e-5, atol: 1e-5) == nil)
    }

    @Test func crossEntropyIgnoresIndexAndAveragesOverTheRest() {
        let logits = Ref.random([4, 5], seed: 95)
        let targets = [1, -100, 4, -100]
        let perRow = Self.referenceCrossEntropy(logits, targets, smoothing: 0, ignore: -100)
        let x = Tensor(logits.values, shape: logits.shape).requiringGrad()
        let loss = crossEntropy(logits: x, targets: Tensor(targets.map(Int32.init)), ignoreIndex: -100)
        #expect(Swift.abs(loss.item(Double.self) - perRow.reduce(0, +) / 2) < 1e-12)
        loss.backward()
        let grad = x.grad!.toArray(Double.self)
        #expect(grad[5..<10].allSatisfy { $0 == 0 } && grad[15..<20].allSatisfy { $0 == 0 })
        // Each counted row's gradient is (softmax - onehot) / 2 and sums to zero.
        #expect(Swift.abs(grad[0..<5].reduce(0, +)) < 1e-12)
        let row = Array(logits.values[0..<5]), m = row.max()!
        let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
        #expect(Swift.abs(grad[1] - (Foundation.exp(row[1] - m) / z - 1) / 2) < 1e-12)
    }

    @Test func dropoutMasksScalesAndReproduces() {
        let x = Tensor.ones([100_000])
        let y = dropout(x, p: 0.25, generator: RandomGenerator(seed: 5)).toArray(Float.self)
        #expect(y.allSatisfy { $0 == 0 || Swift.abs($0 - 4.0 / 3) < 1e-6 })
        let kept = Double(y.filter { $0 != 0 }.count) / Double(y.count)
        #expect(Swift.abs(kept - 0.75) < 0.01)
        #expect(dropout(x, p: 0.25, generator: RandomGenerator(seed: 5)).toArray(Float.self) == y)
        #expect(dropout(x, p: 0.25, training: false) === x)
        // The mask is the Philox stream: element i is kept when its uniform is at least p.
        let words = Philox4x32.block(index: 0, seed: 5)
        for i in 0..<4 { #expect((y[i] != 0) == (Double(Philox4x32.uniform(words[i])) >= 0.25)) }
        let g = Tensor.ones([8]).requiringGrad()
        let d = dropout(g, p: 0.5, generator: RandomGenerator(seed: 9))
        d.sum().backward()
        #expect(g.grad!.toArray(Float.self) == d.toArray(Float.self))
    }
}

@Suite struct OptimizerStepTests {
    @Test(arguments: [SGDParameters(learningRate: 0.1), SGDParameters(learningRate: 0.05, momentum: 0.9),
                      SGDParameters(learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01),
                      SGDParameters(learningRate: 0.05, momentum: 0.8, weightDecay: 0.1, nesterov: true)])
    func sgdFollowsPyTorch(_ h: SGDParameters) {
        var w = Ref.random([37], seed: 101).values, buffer = [Double](repeating: 0, count: 37)
        let p = Tensor(w), momentum = Tensor.zeros([37], dtype: .float64)
        for step in 0..<4 {
            let g = Ref.random([37], seed: 102 + UInt64(step)).values
            FusedUpdate.sgd(parameter: p, gradient: Tensor(g), momentumBuffer: momentum, parameters: h, isFirstStep: step == 0)
            for i in 0..<37 {
                var d = g[i] + h.weightDecay * w[i]
                if h.momentum != 0 {
                    buffer[i] = step == 0 ? d : h.momentum * buffer[i] + (1 - h.dampening) * d
                    d = h.nesterov ? d + h.momentum * buffer[i] : buffer[i]
                }
                w[i] -= h.learningRate * d
            }
        }
        #expect(mismatch(p, Ref([37], w), rtol: 1e-12, atol: 1e-12) == nil)
    }

    @Test(arguments: [AdamParameters(), AdamParameters(learningRate: 0.01, weightDecay: 0.1),
                      AdamParameters(learningRate: 0.01, beta1: 0.8, beta2: 0.99, weightDecay: 0.1, decoupledWeightDecay: true)],
          [DType.float32, .float64])
    func adamFollowsPyTorch(_ h: AdamParameters, _ dtype: DType) {
        var w = Ref.random([53], seed: 111).values
        var m = [Double](repeating: 0, count: 53), v = m
        let p = Tensor(w).to(dtype), m1 = Tensor.zeros([53], dtype: dtype), m2 = Tensor.zeros([53], dtype: dtype)
        for step in 1...5 {
            let g = Ref.random([53], seed: 112 + UInt64(step)).values
            FusedUpdate.adam(parameter: p, gradient: Tensor(g).to(dtype), firstMoment: m1, secondMoment: m2,
                             parameters: h, step: step)
            for i in 0..<53 {
                var d = g[i]
                if h.decoupledWeightDecay { w[i] *= 1 - h.learningRate * h.weightDecay } else { d += h.weightDecay * w[i] }
                m[i] = h.beta1 * m[i] + (1 - h.beta1) * d
                v[i] = h.beta2 * v[i] + (1 - h.beta2) * d * d
                let mHat = m[i] / (1 - Foundation.pow(h.beta1, Double(step)))
                let vHat = v[i] / (1 - Foundation.pow(h.beta2, Double(step)))
                w[i] -= h.learningRate * mHat / (vHat.squareRoot() + h.epsilon)
            }
        }
        let (rtol, atol) = dtype == .float64 ? (1e-10, 1e-12) : (1e-5, 1e-6)
        #expect(mismatch(p, Ref([53], w), rtol: rtol, atol: atol) == nil)
    }
}
