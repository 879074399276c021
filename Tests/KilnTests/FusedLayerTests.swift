import Foundation
import Testing
import Kiln
import KilnCheck

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

    /// Float32 rows whose float32 sum overflows (values near 3·10³⁶, 1024 of them) and rows far from zero for their
    /// spread: the mean and variance must still come out as in Float64 from the same float32 inputs.
    @Test func layerNormOfHugeAndOffsetRowsMatchesFloat64() {
        let n = 1024
        let noise = Ref.random([2, n], seed: 95, low: -1, high: 1).values
        let values = (0..<n).map { Double(Float(3e36 + 1e35 * noise[$0])) } + (0..<n).map { Double(Float(1000 + noise[n + $0])) }
        var expected = values
        for start in [0, n] {
            let row = Array(values[start..<(start + n)])
            let m = mean(row), v = variance(row, ddof: 0)
            for i in 0..<n { expected[start + i] = (row[i] - m) / (v + 1e-5).squareRoot() }
        }
        let result = layerNorm(Tensor(values, shape: [2, n]).to(.float32))
        #expect(mismatch(result, Ref([2, n], expected), rtol: 1e-3, atol: 1e-3) == nil)
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

    /// A confident row's loss is tiny: float32 must keep its relative precision (log of a rounded 1 + 1e-7 would
    /// give 0 or 1.19e-7), against the float64 definition, with the target first, last and in the middle.
    @Test func crossEntropyOfConfidentRowsKeepsItsRelativePrecision() {
        let rows: [[Double]] = [[7.70, -7.89, -9], [-8, -6.87, 7.38], [-7.65, 0.18, -7.2], [3, 3, -12]]
        let targets = [0, 2, 1, 1]
        let expected = Self.referenceCrossEntropy(Ref([4, 3], rows.flatMap { $0.map { Double(Float($0)) } }), targets, smoothing: 0, ignore: nil)
        let losses = crossEntropy(logits: Tensor(rows.flatMap { $0.map(Float.init) }, shape: [4, 3]),
                                  targets: Tensor(targets.map(Int64.init)), reduction: .none).toArray(Float.self)
        for (loss, reference) in zip(losses, expected) {
            #expect(Swift.abs(Double(loss) - reference) <= 1e-6 * reference, "loss \(loss), float64 \(reference)")
        }
    }

    /// Float32 rows of very different offsets and scales (so a row shifted by another row's maximum over- or
    /// underflows), with ignored rows and a NaN row among them, against the float64 definition; the CPU finds each
    /// row's maximum while it exponentiates the row before, and splits the rows between threads.
    @Test(arguments: [37, 1029])
    func crossEntropyOfRowsOfDifferentScalesMatchesFloat64(_ classes: Int) {
        let rows = classes < 100 ? 300 : 40
        var values = [Float](), targets = [Int]()
        for r in 0..<rows {
            let offset = Float(r % 7) * 40 - 120, scale = Float(1 + r % 5 * 20)
            values += (0..<classes).map { offset + scale * Float(($0 * 7919 + r * 104729) % 1000) / 1000 }
            targets.append(r % 11 == 3 ? -100 : (r * 31) % classes)
        }
        // Some rows have their largest logit where the row before has its target (that column is read apart).
        for r in stride(from: 5, to: rows - 1, by: 13) where targets[r] >= 0 { values[(r + 1) * classes + targets[r]] += 500 }
        // NaN in another class's logit, and in the target's own (each row's maximum is found while the row before
        // it is summed, and may pass over NaN there: the NaN must still reach the loss).
        values[17 * classes + 5] = .nan
        values[23 * classes + targets[23]] = .nan
        let expected = Self.referenceCrossEntropy(Ref([rows, classes], values.map(Double.init)), targets, smoothing: 0, ignore: -100)
        let losses = crossEntropy(logits: Tensor(values, shape: [rows, classes]), targets: Tensor(targets.map(Int64.init)),
                                  reduction: .none, ignoreIndex: -100).toArray(Float.self)
        for r in 0..<rows {
            if r == 17 || r == 23 { #expect(losses[r].isNaN, "row \(r): \(losses[r])"); continue }
            let reference = targets[r] == -100 ? 0 : expected[r]
            #expect(Swift.abs(Double(losses[r]) - reference) <= 1e-5 * Swift.abs(reference) + 1e-6, "row \(r): \(losses[r]), float64 \(reference)")
        }
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

/// Closed forms of the fused updates after one or two steps, on the CPU and on the reference (the harness
/// holds the CPU against the reference for many more settings and steps).
@Suite struct OptimizerStepTests {
    @Test(arguments: [Device.cpu, .reference])
    func sgdMomentumAfterTwoSteps(_ device: Device) {
        let w = Tensor([1, -2] as [Double], device: device), buffer = Tensor.zeros([2], dtype: .float64, device: device)
        let g1 = Tensor([0.5, 0.25] as [Double], device: device), g2 = Tensor([-1, 2] as [Double], device: device)
        let h = SGDParameters(learningRate: 0.1, momentum: 0.9, dampening: 0.5)
        FusedUpdate.sgd(parameter: w, gradient: g1, momentumBuffer: buffer, parameters: h, isFirstStep: true)
        FusedUpdate.sgd(parameter: w, gradient: g2, momentumBuffer: buffer, parameters: h, isFirstStep: false)
        // buffer₁ = g₁; buffer₂ = 0.9·g₁ + 0.5·g₂; w₂ = w₀ - 0.1·(buffer₁ + buffer₂).
        #expect(mismatch(buffer, Ref([2], [0.45 - 0.5, 0.225 + 1]), rtol: 1e-15, atol: 1e-15) == nil)
        #expect(mismatch(w, Ref([2], [1 - 0.1 * (0.5 - 0.05), -2 - 0.1 * (0.25 + 1.225)]), rtol: 1e-15, atol: 1e-15) == nil)
    }

    @Test(arguments: [Device.cpu, .reference], [false, true])
    func adamFirstStepMovesByTheLearningRate(_ device: Device, _ decoupled: Bool) {
        // After one step m̂ = g and v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g), plus the weight decay.
        let w = Tensor([1, -2, 3] as [Double], device: device), g = Tensor([0.3, -4, 1e-3] as [Double], device: device)
        let (m, v) = (Tensor.zeros([3], dtype: .float64, device: device), Tensor.zeros([3], dtype: .float64, device: device))
        let h = AdamParameters(learningRate: 0.01, epsilon: 1e-8, weightDecay: decoupled ? 0.5 : 0, decoupledWeightDecay: decoupled)
        FusedUpdate.adam(parameter: w, gradient: g, firstMoment: m, secondMoment: v, parameters: h, step: 1)
        let gs: [Double] = [0.3, -4, 1e-3], w0: [Double] = [1, -2, 3]
        let shrink: Double = decoupled ? 1 - 0.01 * 0.5 : 1
        let expected: [Double] = (0..<3).map { i in
            let step: Double = 0.01 * gs[i] / (Swift.abs(gs[i]) + 1e-8)
            return w0[i] * shrink - step
        }
        #expect(mismatch(w, Ref([3], expected), rtol: 1e-12, atol: 1e-14) == nil)
        #expect(mismatch(m, Ref([3], gs.map { 0.1 * $0 }), rtol: 1e-15, atol: 0) == nil)
        #expect(mismatch(v, Ref([3], gs.map { 0.001 * $0 * $0 }), rtol: 1e-12, atol: 0) == nil)
    }

    /// Float32 Adam/AdamW over many elements (the vectorised path and its tail) against the update computed in
    /// Float64 here, over three steps.
    @Test(arguments: [false, true])
    func adamInFloat32MatchesFloat64(_ decoupled: Bool) {
        let n = 1_003
        let w0: [Double] = (0..<n).map { (i: Int) -> Double in Double(i % 17) / 7 - 1 }
        let gradients: [[Double]] = (1...3).map { (step: Int) -> [Double] in
            (0..<n).map { (i: Int) -> Double in Double((i * 7 + step) % 23) / 11 - 1 }
        }
        let h = AdamParameters(learningRate: 0.01, epsilon: 1e-8, weightDecay: 0.1, decoupledWeightDecay: decoupled)
        let w = Tensor(w0.map(Float.init)), m = Tensor.zeros([n]), v = Tensor.zeros([n])
        var (we, me, ve) = (w0, [Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
        for (index, g) in gradients.enumerated() {
            let step = index + 1
            FusedUpdate.adam(parameter: w, gradient: Tensor(g.map(Float.init)), firstMoment: m, secondMoment: v,
                             parameters: h, step: step)
            for i in 0..<n {
                var d = Double(Float(g[i]))
                if decoupled { we[i] *= 1 - 0.01 * 0.1 } else { d += 0.1 * we[i] }
                me[i] = 0.9 * me[i] + 0.1 * d
                ve[i] = 0.999 * ve[i] + 0.001 * d * d
                let mHat = me[i] / (1 - pow(0.9, Double(step))), vHat = ve[i] / (1 - pow(0.999, Double(step)))
                we[i] -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
            }
        }
        let actual = w.toArray(Float.self)
        let worst = zip(actual, we).map { Swift.abs(Double($0) - $1) }.max() ?? 0
        #expect(worst < 1e-5, "largest difference \(worst)")
    }
}
