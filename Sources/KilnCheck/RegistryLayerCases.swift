import Kiln

extension Registry {
    static func layerCases() -> [CheckCase] {
        var cases: [CheckCase] = []
        typealias Pair = (Int, Int)
        let convolutions: [([Int], [Int], Pair, Pair, Pair, Int)] = [
            ([1, 1, 5, 5], [1, 1, 3, 3], (1, 1), (0, 0), (1, 1), 1), ([2, 3, 7, 6], [4, 3, 3, 2], (1, 1), (1, 1), (1, 1), 1),
            ([2, 3, 9, 9], [5, 3, 3, 3], (2, 2), (1, 0), (1, 1), 1), ([1, 2, 11, 10], [3, 2, 3, 3], (1, 1), (0, 0), (2, 3), 1),
            ([2, 4, 6, 6], [6, 2, 3, 3], (1, 1), (1, 1), (1, 1), 2), ([2, 1, 28, 28], [8, 1, 5, 5], (1, 1), (2, 2), (1, 1), 1),
        ]
        for dtype in floatTypes { for (input, weight, stride, padding, dilation, groups) in convolutions {
            let parameters = "stride=\(stride) padding=\(padding) dilation=\(dilation) groups=\(groups)"
            cases.append(CheckCase(op: "conv2d", dtype: dtype, operands: [Operand(input, dtype, layout: .transposed), Operand(weight, dtype), Operand([weight[0]], dtype)],
                                   parameters: parameters, family: .accumulated, differentiable: true, seed: seed("conv2d", cases.count)) {
                [conv2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding, dilation: dilation, groups: groups)]
            })
            cases.append(CheckCase(op: "im2col", dtype: dtype, operands: [Operand(input, dtype, layout: .strided)],
                                   parameters: "kernel=\((weight[2], weight[3])) " + parameters, family: .exact, differentiable: true, seed: seed("im2col", cases.count)) {
                [$0[0].im2col(kernel: (weight[2], weight[3]), stride: stride, padding: padding, dilation: dilation)]
            })
        } }
        for dtype in floatTypes { for (kernel, stride, padding) in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 0))] as [(Pair, Pair, Pair)] {
            let parameters = "kernel=\(kernel) stride=\(stride) padding=\(padding)"
            cases.append(CheckCase(op: "maxPool2d", dtype: dtype, operands: [Operand([2, 3, 7, 8], dtype, layout: .transposed)], parameters: parameters,
                                   family: .exact, differentiable: true, seed: seed("maxPool2d", cases.count)) {
                [maxPool2d($0[0], kernel: kernel, stride: stride, padding: padding)]
            })
            cases.append(CheckCase(op: "avgPool2d", dtype: dtype, operands: [Operand([2, 3, 7, 8], dtype, layout: .strided)], parameters: parameters,
                                   family: .accumulated, differentiable: true, seed: seed("avgPool2d", cases.count)) {
                [avgPool2d($0[0], kernel: kernel, stride: stride, padding: padding)]
            })
        } }
        // Contiguous rows whose length is a multiple of four take the GPU's float4 path (rows held in registers).
        let normalized: [([Int], OperandLayout)] = [([4, 7], .transposed), ([2, 3, 33], .transposed), ([1, 1], .transposed), ([5, 1024], .transposed),
                                                    ([3, 37, 24], .transposed), ([6, 128], .contiguous), ([2, 3, 768], .contiguous)]
        for dtype in floatTypes { for (shape, layout) in normalized { for affine in [true, false] {
            let n = shape.last!
            let operands = [Operand(shape, dtype, layout: layout, values: .uniform(-5, 5))] + (affine ? [Operand([n], dtype), Operand([n], dtype)] : [])
            cases.append(CheckCase(op: "layerNorm", dtype: dtype, operands: operands, parameters: affine ? "affine" : "",
                                   family: .accumulated, differentiable: true, seed: seed("layerNorm", cases.count)) { x in
                [layerNorm(x[0], weight: affine ? x[1] : nil, bias: affine ? x[2] : nil)]
            })
        } } }
        for dtype in floatTypes { for (batch, hidden) in [(3, 5), (1, 1), (4, 37)] {
            cases.append(CheckCase(op: "lstmCell", dtype: dtype,
                                   operands: [Operand([batch, 4 * hidden], dtype, layout: .transposed, values: .uniform(-4, 4)),
                                              Operand([batch, hidden], dtype, layout: .strided, values: .uniform(-2, 2))],
                                   family: .accumulated, differentiable: true, seed: seed("lstmCell", cases.count)) {
                let (h, c) = lstmCell(gates: $0[0], cell: $0[1])
                return [h, c]
            })
        } }
        for dtype in floatTypes { for (batch, time, features, hidden) in [(3, 4, 5, 6), (1, 1, 1, 1), (2, 7, 3, 17), (5, 6, 4, 20), (8, 3, 2, 16)] {
            let shapes = [[batch, time, features], [4 * hidden, features], [4 * hidden, hidden], [4 * hidden], [4 * hidden],
                          [batch, hidden], [batch, hidden]]
            cases.append(CheckCase(op: "lstmLayer", dtype: dtype,
                                   operands: shapes.enumerated().map { k, shape in
                                       Operand(shape, dtype, layout: k == 0 ? .transposed : .contiguous, values: .uniform(-1, 1))
                                   },
                                   family: .accumulated, differentiable: true, seed: seed("lstmLayer", cases.count)) {
                [lstmLayer($0[0], weightIH: $0[1], weightHH: $0[2], biasIH: $0[3], biasHH: $0[4], hidden: $0[5], cell: $0[6])]
            })
        } }
        let classified: [(Int, Int, OperandLayout)] = [(6, 11, .transposed), (1, 2, .transposed), (64, 1000, .transposed), (8, 1000, .contiguous),
                                                       (5, 12, .contiguous), (3, 8200, .contiguous)]
        for dtype in floatTypes { for (rows, classes, layout) in classified { for (reduction, smoothing, ignore) in [(LossReduction.mean, 0.0, nil), (.none, 0.1, nil), (.sum, 0.0, 0)] as [(LossReduction, Double, Int?)] {
            cases.append(CheckCase(op: "crossEntropy", dtype: dtype,
                                   operands: [Operand([rows, classes], dtype, layout: layout, values: .uniform(-8, 8)), Operand([rows], .int64, values: .indices(classes))],
                                   parameters: "reduction=\(reduction) smoothing=\(smoothing) ignore=\(ignore.map(String.init) ?? "none")",
                                   family: .accumulated, differentiable: true, seed: seed("crossEntropy", cases.count)) {
                [crossEntropy(logits: $0[0], targets: $0[1], reduction: reduction, ignoreIndex: ignore, labelSmoothing: smoothing)]
            })
        } } }
        return cases
    }

    static func randomAndOptimizerCases() -> [CheckCase] {
        var cases: [CheckCase] = []
        for dtype in floatTypes { for shape in [[0], [1], [7], [3, 1001]] {
            let distributions: [RandomDistribution] = [.uniform(low: -2, high: 3), .normal(mean: 1, std: 2), .bernoulli(p: 0.3)]
            for distribution in distributions {
                let name = Op.random(distribution.kind).name
                // Normal draws go through Box–Muller's log, sin and cos, which a GPU's libm rounds differently in
                // the last place: one rounding per element, not bit-for-bit.
                let family: Tolerance.Family = distribution.kind == .normal ? .elementwise : .exact
                cases.append(CheckCase(op: name, dtype: dtype, operands: [], parameters: "\(shape)", family: family, differentiable: false,
                                       seed: seed(name, cases.count)) { _ in
                    [Tensor.random(shape, distribution, dtype: dtype, device: .default, generator: RandomGenerator(seed: 77))]
                })
            }
            cases.append(CheckCase(op: "dropout", dtype: dtype, operands: [Operand(shape, dtype, layout: shape.count > 1 ? .transposed : .contiguous)],
                                   parameters: "p=0.3", family: .elementwise, differentiable: true, seed: seed("dropout", cases.count)) {
                [dropout($0[0], p: 0.3, generator: RandomGenerator(seed: 78))]
            })
        } }
        let sgd = [SGDParameters(learningRate: 0.1), SGDParameters(learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01),
                   SGDParameters(learningRate: 0.05, momentum: 0.8, weightDecay: 0.1, nesterov: true)]
        let adam = [AdamParameters(), AdamParameters(learningRate: 0.01, weightDecay: 0.1),
                    AdamParameters(learningRate: 0.01, beta1: 0.8, beta2: 0.99, weightDecay: 0.1, decoupledWeightDecay: true)]
        for dtype in [DType.float32, .float64, .bfloat16] { for shape in [[1], [37], [4, 1025]] {
            for h in sgd {
                cases.append(CheckCase(op: "sgdStep", dtype: dtype, operands: [Operand(shape, dtype), Operand(shape, dtype), Operand(shape, dtype)],
                                       parameters: "momentum=\(h.momentum) nesterov=\(h.nesterov)", family: .accumulated, differentiable: false,
                                       seed: seed("sgdStep", cases.count)) { x in
                    let (p, m) = (x[0].copied(), x[2].copied())
                    for step in 0..<3 { FusedUpdate.sgd(parameter: p, gradient: x[1], momentumBuffer: m, parameters: h, isFirstStep: step == 0) }
                    return [p, m]
                })
            }
            for h in adam {
                cases.append(CheckCase(op: "adamStep", dtype: dtype, operands: [Operand(shape, dtype), Operand(shape, dtype)],
                                       parameters: "decoupled=\(h.decoupledWeightDecay)", family: .accumulated, differentiable: false,
                                       seed: seed("adamStep", cases.count)) { x in
                    let p = x[0].copied(), m = Tensor.zeros(like: p), v = Tensor.zeros(like: p)
                    for step in 1...3 { FusedUpdate.adam(parameter: p, gradient: x[1], firstMoment: m, secondMoment: v, parameters: h, step: step) }
                    return [p, m, v]
                })
            }
        } }
        return cases
    }
}
