import Testing
import Kiln

/// One differentiable op, checked by `checkGradients` in float64 against central finite differences.
struct GradCase: CustomStringConvertible, Sendable {
    let name: String
    let shapes: [[Int]]
    var positive = false
    let function: @Sendable ([Tensor]) -> Tensor
    var description: String { name }
}

let indices = [2, 0, 3, 3, 1]

let gradCases: [GradCase] = [
    GradCase(name: "neg", shapes: [[3, 4]]) { -$0[0] },
    GradCase(name: "abs", shapes: [[3, 4]]) { $0[0].abs() },
    GradCase(name: "square", shapes: [[3, 4]]) { $0[0].square() },
    GradCase(name: "exp", shapes: [[3, 4]]) { $0[0].exp() },
    GradCase(name: "log", shapes: [[3, 4]], positive: true) { $0[0].log() },
    GradCase(name: "sqrt", shapes: [[3, 4]], positive: true) { $0[0].sqrt() },
    GradCase(name: "rsqrt", shapes: [[3, 4]], positive: true) { $0[0].rsqrt() },
    GradCase(name: "reciprocal", shapes: [[3, 4]], positive: true) { $0[0].reciprocal() },
    GradCase(name: "sin", shapes: [[3, 4]]) { $0[0].sin() },
    GradCase(name: "cos", shapes: [[3, 4]]) { $0[0].cos() },
    GradCase(name: "tanh", shapes: [[3, 4]]) { $0[0].tanh() },
    GradCase(name: "sigmoid", shapes: [[3, 4]]) { $0[0].sigmoid() },
    GradCase(name: "relu", shapes: [[3, 4]]) { $0[0].relu() },
    GradCase(name: "gelu", shapes: [[3, 4]]) { $0[0].gelu() },
    GradCase(name: "geluTanh", shapes: [[3, 4]]) { $0[0].gelu(approximate: true) },
    GradCase(name: "silu", shapes: [[3, 4]]) { $0[0].silu() },
    GradCase(name: "erf", shapes: [[3, 4]]) { $0[0].erf() },
    GradCase(name: "leakyRelu", shapes: [[3, 4]]) { $0[0].leakyRelu(slope: 0.2) },
    GradCase(name: "clamp", shapes: [[3, 4]]) { $0[0].clamped(min: -1, max: 0.5) },
    GradCase(name: "add (broadcast)", shapes: [[3, 4], [4]]) { $0[0] + $0[1] },
    GradCase(name: "sub (broadcast)", shapes: [[3, 1], [2, 1, 4]]) { $0[0] - $0[1] },
    GradCase(name: "mul (broadcast)", shapes: [[2, 3, 4], [3, 1]]) { $0[0] * $0[1] },
    GradCase(name: "div (broadcast)", shapes: [[3, 4], [4]], positive: true) { $0[0] / $0[1] },
    GradCase(name: "pow", shapes: [[3, 4], [3, 4]], positive: true) { $0[0].pow($0[1]) },
    GradCase(name: "pow scalar", shapes: [[5]], positive: true) { $0[0].pow(2.5) },
    GradCase(name: "scalar ops", shapes: [[5]], positive: true) { (2 - $0[0] * 3) / 4 + 1 / $0[0] },
    GradCase(name: "maximum", shapes: [[3, 4], [4]]) { maximum($0[0], $0[1]) },
    GradCase(name: "minimum", shapes: [[3, 4], [3, 4]]) { minimum($0[0], $0[1]) },
    GradCase(name: "where", shapes: [[3, 4], [3, 4]]) { which($0[0] .> 0, $0[0] * 2, $0[1]) },
    GradCase(name: "sum", shapes: [[2, 3, 4]]) { $0[0].sum(axes: [0, 2]) },
    GradCase(name: "sum all", shapes: [[2, 3]]) { $0[0].sum() },
    GradCase(name: "mean", shapes: [[2, 3, 4]]) { $0[0].mean(axis: 1, keepDims: true) },
    GradCase(name: "max", shapes: [[3, 5]]) { $0[0].max(axis: 1) },
    GradCase(name: "min", shapes: [[3, 5]]) { $0[0].min(axes: []) },
    GradCase(name: "variance", shapes: [[3, 5]]) { $0[0].variance(axes: [1], ddof: 1) },
    GradCase(name: "std", shapes: [[4, 3]]) { $0[0].std(axes: [0]) },
    GradCase(name: "softmax", shapes: [[3, 5]]) { $0[0].softmax(axis: 1) },
    GradCase(name: "softmax axis 0", shapes: [[3, 5]]) { $0[0].softmax(axis: 0) },
    GradCase(name: "logSoftmax", shapes: [[2, 3, 4]]) { $0[0].logSoftmax(axis: -1) },
    GradCase(name: "causalSoftmax", shapes: [[2, 4, 5]]) { $0[0].causalSoftmax() },
    GradCase(name: "matmul", shapes: [[3, 4], [4, 5]]) { $0[0].matmul($0[1]) },
    GradCase(name: "matmul batched", shapes: [[2, 3, 4], [2, 4, 2]]) { $0[0].matmul($0[1]) },
    GradCase(name: "matmul broadcast", shapes: [[2, 1, 3, 4], [3, 4, 2]]) { $0[0].matmul($0[1]) },
    GradCase(name: "matmul 3-D x 2-D", shapes: [[2, 3, 4], [4, 2]]) { $0[0].matmul($0[1]) },
    GradCase(name: "matmul vector", shapes: [[4], [4, 3]]) { $0[0].matmul($0[1]) },
    GradCase(name: "matmul transposed", shapes: [[4, 3], [5, 4]]) { $0[0].T.matmul($0[1].T) },
    GradCase(name: "reshape", shapes: [[3, 4]]) { $0[0].T.reshaped([2, 6]) * Tensor.arange(0, 12, dtype: .float64).reshaped([2, 6]) },
    GradCase(name: "permute", shapes: [[2, 3, 4]]) { $0[0].permuted([2, 0, 1]).square() },
    GradCase(name: "slice", shapes: [[5, 4]]) { $0[0].sliced(axis: 0, start: 1, end: 5, step: 2).exp() },
    GradCase(name: "expand", shapes: [[3, 1]]) { $0[0].expanded(to: [2, 3, 4]).sin() },
    GradCase(name: "squeeze/unsqueeze", shapes: [[3, 1]]) { $0[0].squeezed().unsqueezed(axis: 0).exp() },
    GradCase(name: "contiguous", shapes: [[3, 4]]) { $0[0].T.contiguous().square() },
    GradCase(name: "concat", shapes: [[2, 3], [2, 2]]) { concat([$0[0], $0[1], $0[0]], axis: 1).square() },
    GradCase(name: "stack", shapes: [[2, 3], [2, 3]]) { stack([$0[0], $0[1]], axis: 2).exp() },
    GradCase(name: "split", shapes: [[6, 2]]) { let p = $0[0].split(sizes: [2, 4]); return p[0].sum() * p[1].square().sum() },
    GradCase(name: "indexSelect", shapes: [[4, 3]]) { $0[0].indexSelect(axis: 0, indices: Tensor(indices.map(Int64.init))).square() },
    GradCase(name: "embedding", shapes: [[5, 3]]) { embedding(Tensor([1, 4, 1] as [Int32], shape: [3, 1]), weight: $0[0]).sin() },
    GradCase(name: "gather", shapes: [[3, 4]]) { $0[0].gather(axis: 1, indices: Tensor([0, 3, 3, 1, 2, 2] as [Int64], shape: [3, 2])).square() },
    GradCase(name: "scatterAdd", shapes: [[2, 4], [2, 3]]) {
        $0[0].scatterAdd(axis: 1, indices: Tensor([0, 3, 0, 2, 2, 1] as [Int64], shape: [2, 3]), source: $0[1]).square()
    },
    GradCase(name: "im2col", shapes: [[1, 2, 4, 5]]) { $0[0].im2col(kernel: (2, 3), stride: (1, 2), padding: (1, 1)).square() },
    GradCase(name: "conv2d", shapes: [[2, 2, 5, 5], [3, 2, 3, 3], [3]]) {
        conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1), dilation: (1, 2))
    },
    GradCase(name: "conv2d groups", shapes: [[1, 4, 4, 4], [2, 2, 2, 2]]) { conv2d($0[0], weight: $0[1], groups: 2) },
    GradCase(name: "maxPool2d", shapes: [[1, 2, 5, 6]]) { maxPool2d($0[0], kernel: (3, 2), stride: (2, 2), padding: (1, 1)) },
    GradCase(name: "avgPool2d", shapes: [[2, 1, 4, 6]]) { avgPool2d($0[0], kernel: (2, 3), stride: (1, 2), padding: (1, 1)) },
    GradCase(name: "layerNorm", shapes: [[3, 6], [6], [6]]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) },
    GradCase(name: "layerNorm no affine", shapes: [[2, 2, 5]]) { layerNorm($0[0]) },
    GradCase(name: "crossEntropy", shapes: [[5, 4]]) { crossEntropy(logits: $0[0], targets: Tensor(indices.map(Int64.init))) },
    GradCase(name: "crossEntropy smoothing+ignore", shapes: [[5, 4]]) {
        crossEntropy(logits: $0[0], targets: Tensor([2, -1, 3, 3, -1] as [Int64]), reduction: .sum, ignoreIndex: -1,
                     labelSmoothing: 0.2)
    },
    GradCase(name: "dropout", shapes: [[4, 5]]) { dropout($0[0], p: 0.3, generator: RandomGenerator(seed: 3)) },
    GradCase(name: "to(device)", shapes: [[3]]) { $0[0].to(Device.cpu).square() },
]

@Suite struct GradientTests {
    @Test(arguments: gradCases)
    func gradientMatchesFiniteDifferences(_ c: GradCase) {
        let inputs = c.shapes.enumerated().map { i, shape in
            let r = Ref.random(shape, seed: 200 + UInt64(i) * 7, low: c.positive ? 0.5 : -2, high: 2)
            return Tensor(r.values, shape: shape)
        }
        let result = checkGradients(inputs, c.function)
        #expect(result.passed, "\(c.name): \(result)")
    }

    @Test func theCheckerCatchesAWrongGradient() {
        // The value is x², but the recorded gradient is 2x + 0.01: the detached term cancels in value only.
        let x = Tensor(Ref.random([4], seed: 9).values)
        let wrong = checkGradients([x]) { xs in xs[0].square() + xs[0] * 0.01 - (xs[0] * 0.01).detached() }
        #expect(!wrong.passed)
    }
}
