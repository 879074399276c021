import Foundation
import Testing
import Kiln
import KilnNN

@Suite struct RecurrentTests {
    @Test func namesFollowPyTorch() {
        #expect(LSTM(inputSize: 3, hiddenSize: 4, layers: 2).namedParameters().map(\.name)
                == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"])
        #expect(GRU(inputSize: 3, hiddenSize: 4).parameters().map(\.shape) == [[12, 3], [12, 4], [12], [12]])
    }

    /// The LSTM and GRU equations evaluated in Float64 by the test, step by step.
    static func reference(_ cell: RecurrentNetwork.Cell, x: Ref, weights: [Ref]) -> [Double] {
        let (batch, time, input) = (x.shape[0], x.shape[1], x.shape[2])
        let hidden = weights[1].shape[1]
        func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        var outputs: [Double] = []
        var h = [[Double]](repeating: [Double](repeating: 0, count: hidden), count: batch), c = h
        var perStep = [[Double]](repeating: [], count: time)
        for t in 0..<time {
            for b in 0..<batch {
                func affine(_ gate: Int, _ j: Int) -> (Double, Double) {
                    let row = gate * hidden + j
                    var ix = weights[2].values[row], hx = weights[3].values[row]
                    for k in 0..<input { ix += weights[0][[row, k]] * x[[b, t, k]] }
                    for k in 0..<hidden { hx += weights[1][[row, k]] * h[b][k] }
                    return (ix, hx)
                }
                var newH = h[b], newC = c[b]
                for j in 0..<hidden {
                    if cell == .lstm {
                        let (i, f, g, o) = (affine(0, j), affine(1, j), affine(2, j), affine(3, j))
                        newC[j] = sigmoid(f.0 + f.1) * c[b][j] + sigmoid(i.0 + i.1) * Foundation.tanh(g.0 + g.1)
                        newH[j] = sigmoid(o.0 + o.1) * Foundation.tanh(newC[j])
                    } else {
                        let (r, z, n) = (affine(0, j), affine(1, j), affine(2, j))
                        let candidate = Foundation.tanh(n.0 + sigmoid(r.0 + r.1) * n.1)
                        let update = sigmoid(z.0 + z.1)
                        newH[j] = (1 - update) * candidate + update * h[b][j]
                    }
                }
                perStep[t] += newH
                (h[b], c[b]) = (newH, newC)
            }
        }
        for b in 0..<batch { for t in 0..<time { outputs += perStep[t][(b * hidden)..<((b + 1) * hidden)] } }
        return outputs
    }

    /// Batches of 2 and 7: the CPU runs an LSTM batch of at least two rows per thread as one block of rows per thread.
    @Test(arguments: [(RecurrentNetwork.Cell.lstm, 2), (.lstm, 7), (.gru, 2)])
    func matchesTheEquations(_ cell: RecurrentNetwork.Cell, batch: Int) {
        let network: RecurrentNetwork = cell == .lstm ? LSTM(inputSize: 3, hiddenSize: 4, dtype: .float64) : GRU(inputSize: 3, hiddenSize: 4, dtype: .float64)
        let x = Ref.random([batch, 5, 3], seed: 21)
        let weights = network.parameters().map { Ref($0.shape, $0.toArray(Double.self)) }
        let (output, states) = network.run(Tensor(x.values, shape: x.shape))
        #expect(mismatch(output, Ref([batch, 5, 4], Self.reference(cell, x: x, weights: weights)), rtol: 1e-12, atol: 1e-12) == nil)
        #expect(states[0].shape == [1, batch, 4])
        #expect(mismatch(states[0].squeezed(axis: 0), Ref([batch, 4], output.sliced(axis: 1, start: 4).squeezed(axis: 1).toArray(Double.self)), rtol: 0, atol: 0) == nil)
    }

    @Test func lengthsFreezeTheStateOfShortSequences() {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, layers: 2)
        let x = Tensor.normal([2, 6, 3], generator: RandomGenerator(seed: 22))
        let (output, states) = lstm.run(x, lengths: [6, 3])
        // The second sequence alone, cut at its length, ends in the same state.
        let (_, alone) = lstm.run(x.sliced(axis: 0, start: 1, end: 2).sliced(axis: 1, end: 3).contiguous())
        for k in 0..<2 {
            #expect(mismatch(states[k].sliced(axis: 1, start: 1, end: 2).contiguous(), Ref([2, 1, 4], alone[k].toArray(Double.self)), rtol: 1e-5, atol: 1e-6) == nil)
        }
        #expect(output.sliced(axis: 0, start: 1, end: 2).sliced(axis: 1, start: 3).toArray(Float.self).allSatisfy { $0 == 0 })
    }

    /// Gradients with respect to the input and the initial states, through the outputs and the final states, with
    /// and without padding (a length of 0 leaves the initial state as the final one).
    @Test(arguments: [nil, [3, 2], [0, 3]] as [[Int]?])
    func gradientsMatchFiniteDifferences(lengths: [Int]?) {
        for network in [LSTM(inputSize: 2, hiddenSize: 3, layers: 2), GRU(inputSize: 2, hiddenSize: 3), RNN(inputSize: 2, hiddenSize: 3)] as [RecurrentNetwork] {
            network.to(.float64)
            let x = Tensor(Ref.random([2, 3, 2], seed: 23).values, shape: [2, 3, 2])
            let initial = (0..<(network.cell == .lstm ? 2 : 1)).map { k in
                Tensor(Ref.random([network.weightsIH.count, 2, 3], seed: 30 + UInt64(k)).values, shape: [network.weightsIH.count, 2, 3])
            }
            let result = checkGradients([x] + initial) { inputs in
                let (output, states) = network.run(inputs[0], initial: Array(inputs[1...]), lengths: lengths)
                return concat([output.reshaped([-1])] + states.map { $0.reshaped([-1]) }, axis: 0)
            }
            #expect(result.passed, "\(type(of: network)), lengths \(lengths ?? []): \(result)")
        }
    }

    /// The fused layer's gradients for all its inputs (weights and biases included) through every state it returns,
    /// with and without biases.
    /// (biases, batch, time): a batch of 5 runs as blocks of rows on two or more threads, over an odd number of steps.
    @Test(arguments: [(true, 2, 4), (false, 2, 4), (true, 5, 3)])
    func lstmLayerGradientsMatchFiniteDifferences(biases: Bool, batch: Int, time: Int) {
        let shapes = [[batch, time, 5], [12, 5], [12, 3], [batch, 3], [batch, 3]] + (biases ? [[12], [12]] : [])
        let inputs = shapes.enumerated().map { k, shape in Tensor(Ref.random(shape, seed: 40 + UInt64(k)).values, shape: shape) }
        let result = checkGradients(inputs) {
            lstmLayer($0[0], weightIH: $0[1], weightHH: $0[2], biasIH: biases ? $0[5] : nil, biasHH: biases ? $0[6] : nil,
                      hidden: $0[3], cell: $0[4])
        }
        #expect(result.passed, "\(result)")
    }

    @Test func lstmTextClassifierOverfits() {
        RandomGenerator.withDefault(RandomGenerator(seed: 24)) {
            final class Classifier: Module {
                let embedding = Embedding(50, 16), lstm = LSTM(inputSize: 16, hiddenSize: 32), head = Linear(32, 2)
                func callAsFunction(_ tokens: Tensor, lengths: [Int]) -> Tensor {
                    let states = lstm.run(embedding(tokens), lengths: lengths).states
                    return head(states[0].squeezed(axis: 0))
                }
            }
            let model = Classifier()
            let ids: [Int64] = (0..<56).map { (i: Int) -> Int64 in Int64((i * 7 + 3) % 50) }
            let tokens = Tensor(ids, shape: [8, 7])
            let lengths = [7, 5, 6, 7, 3, 7, 4, 6], labels = Tensor([0, 1, 1, 0, 1, 0, 0, 1] as [Int64])
            let optimizer = Adam(learningRate: 0.01)
            for _ in 0..<150 {
                model.zeroGrad()
                crossEntropy(logits: model(tokens, lengths: lengths), targets: labels).backward()
                optimizer.update(model: model)
            }
            #expect(crossEntropy(logits: model(tokens, lengths: lengths), targets: labels).item(Float.self) < 0.01)
        }
    }
}

@Suite struct NormalizationTests {
    @Test func batchNormTrainsWithBatchStatisticsAndEvaluatesWithRunningOnes() {
        let norm = BatchNorm(3)
        #expect(norm.namedParameters().map(\.name) == ["weight", "bias"])
        #expect(norm.namedTensors().filter(\.isBuffer).map(\.name) == ["running_mean", "running_var", "num_batches_tracked"])
        let x = Ref.random([4, 3, 2, 2], seed: 25, low: 0, high: 4)
        let y = norm(Tensor(x.values, shape: x.shape).to(.float32))
        let means = x.reduce([0, 2, 3], keepDims: true) { $0.reduce(0, +) / 16 }
        let vars = x.reduce([0, 2, 3], keepDims: true) { (v: [Double]) -> Double in
            let m = v.reduce(0, +) / 16
            return v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 16
        }
        let expected = Ref.zip(Ref.zip(x, means, -), vars.map { 1 / ($0 + 1e-5).squareRoot() }, *)
        #expect(mismatch(y, expected, rtol: 1e-4, atol: 1e-5) == nil)
        #expect(mismatch(norm.runningMean, Ref([3], means.values.map { 0.1 * $0 }), rtol: 1e-5, atol: 1e-6) == nil)
        #expect(mismatch(norm.runningVar, Ref([3], vars.values.map { 0.9 + 0.1 * $0 * 16 / 15 }), rtol: 1e-5, atol: 1e-6) == nil)
        #expect(norm.numBatchesTracked.item(Int64.self) == 1)
        norm.eval()
        let z = norm(Tensor.ones([1, 3, 1, 1]))
        let rm = norm.runningMean.toArray(Double.self), rv = norm.runningVar.toArray(Double.self)
        #expect(mismatch(z, Ref([1, 3, 1, 1], (0..<3).map { (1 - rm[$0]) / (rv[$0] + 1e-5).squareRoot() }), rtol: 1e-5, atol: 1e-6) == nil)
    }

    @Test func rmsNormGlobalPoolingAndConv1d() {
        let x = Tensor([3, 4] as [Float], shape: [1, 2])
        #expect(mismatch(RMSNorm(2)(x), Ref([1, 2], [3 / 12.5.squareRoot(), 4 / 12.5.squareRoot()]), rtol: 1e-5, atol: 1e-6) == nil)
        #expect(GlobalAvgPool()(Tensor((0..<12).map(Float.init), shape: [1, 2, 2, 3])).toArray(Float.self) == [2.5, 8.5])
        let conv = Conv1d(2, 3, kernel: 3, stride: 2, padding: 1)
        let input = Ref.random([2, 2, 7], seed: 26)
        let w = Ref(conv.weight.shape, conv.weight.toArray(Double.self)), b = conv.bias!.toArray(Double.self)
        var expected: [Double] = []
        for n in 0..<2 { for o in 0..<3 { for t in 0..<4 {
            var s = b[o]
            for c in 0..<2 { for k in 0..<3 { let p = t * 2 - 1 + k; if p >= 0 && p < 7 { s += w[[o, c, k]] * input[[n, c, p]] } } }
            expected.append(s)
        } } }
        #expect(mismatch(conv(Tensor(input.values, shape: input.shape).to(.float32)), Ref([2, 3, 4], expected), rtol: 1e-5, atol: 1e-5) == nil)
    }
}
