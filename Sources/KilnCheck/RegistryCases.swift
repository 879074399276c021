import Kiln

extension Registry {
    static func reductionCases() -> [CheckCase] {
        var cases: [CheckCase] = []
        let plans: [([Int], [Int])] = [([7], [0]), ([5, 1], [1]), ([13, 17], [1]), ([13, 17], [0]), ([2, 3, 5], [0, 2]),
                                       ([2, 3, 5], [1]), ([4, 6, 5], []), ([3, 4099], [1]), ([4099, 3], [0]), ([1, 1], [0, 1]), ([0, 3], [1]),
                                       ([2, 50001], [1]), ([3, 20011], [0, 1])]
        let ops: [(String, ReduceOp)] = [("sum", .sum), ("mean", .mean), ("max", .max), ("min", .min), ("variance", .variance(correction: 1))]
        for (name, op) in ops {
            let types = floatTypes + (op == .sum || op == .max || op == .min ? [.int32] : [])
            for dtype in types { for (shape, axes) in plans { for layout in [OperandLayout.contiguous, .transposed] {
                if shape.contains(0) && (op == .max || op == .min) { continue }
                let values: Operand.Values = dtype.isFloatingPoint ? .uniform(-3, 3) : .indices(1000)
                let family: Tolerance.Family = op == .max || op == .min ? .exact : .accumulated
                cases.append(CheckCase(op: name, dtype: dtype, operands: [Operand(shape, dtype, layout: layout, values: values)],
                                       parameters: "axes=\(axes)", family: family, differentiable: dtype.isFloatingPoint,
                                       seed: seed(name, cases.count)) { x in
                    switch op {
                    case .sum: [x[0].sum(axes: axes)]
                    case .mean: [x[0].mean(axes: axes, keepDims: true)]
                    case .max: [x[0].max(axes: axes)]
                    case .min: [x[0].min(axes: axes)]
                    case .variance: [x[0].variance(axes: axes, ddof: 1)]
                    }
                })
            } } }
        }
        for op in ArgReduceOp.allCases { for dtype in floatTypes + [.int64] { for (shape, axes) in plans where axes.count == 1 && !shape.contains(0) {
            cases.append(CheckCase(op: op.rawValue, dtype: dtype, operands: [Operand(shape, dtype, layout: .transposed, values: .indices(7))],
                                   parameters: "axis=\(axes[0])", family: .exact, differentiable: false, seed: seed(op.rawValue, cases.count)) { x in
                [op == .argmax ? x[0].argMax(axis: axes[0]) : x[0].argMin(axis: axes[0])]
            })
        } } }
        for log in [false, true] { for dtype in floatTypes { for (shape, axis) in [([5], 0), ([3, 7], 1), ([3, 7], 0), ([2, 4, 1031], 2), ([2, 1, 3], 1), ([4, 260], 1), ([2, 8200], 1)] {
            let name = log ? "logSoftmax" : "softmax"
            cases.append(CheckCase(op: name, dtype: dtype, operands: [Operand(shape, dtype, layout: .transposed, values: .uniform(-4, 4))],
                                   parameters: "axis=\(axis)", family: .accumulated, differentiable: true, seed: seed(name, cases.count)) { x in
                [log ? x[0].logSoftmax(axis: axis) : x[0].softmax(axis: axis)]
            })
            // Large logits test the max subtraction; their gradients are all cancellation, so forward only.
            cases.append(CheckCase(op: name, dtype: dtype, operands: [Operand(shape, dtype, values: .uniform(-80, 80))],
                                   parameters: "axis=\(axis) large", family: .accumulated, differentiable: false, seed: seed(name, cases.count)) { x in
                [log ? x[0].logSoftmax(axis: axis) : x[0].softmax(axis: axis)]
            })
        } } }
        // Causal attention weights: square, more keys than queries, more queries than keys (the later rows see every
        // key), rows longer than a vector, and batch axes.
        for dtype in floatTypes { for shape in [[5, 5], [4, 9], [9, 4], [3, 40, 40], [2, 3, 7, 7]] {
            cases.append(CheckCase(op: "causalSoftmax", dtype: dtype, operands: [Operand(shape, dtype, layout: .transposed, values: .uniform(-4, 4))],
                                   family: .accumulated, differentiable: true, seed: seed("causalSoftmax", cases.count)) { x in
                [x[0].causalSoftmax()]
            })
        } }
        return cases
    }

    static func linearAlgebraCases() -> [CheckCase] {
        var cases: [CheckCase] = []
        let sizes: [(Int, Int, Int)] = [(1, 1, 1), (2, 3, 4), (7, 13, 5), (6, 16, 16), (97, 257, 33), (0, 3, 4), (3, 0, 4), (1, 517, 1), (130, 70, 200)]
        for dtype in floatTypes { for (m, k, n) in sizes { for layouts in [(OperandLayout.contiguous, OperandLayout.contiguous), (.transposed, .strided), (.strided, .transposed)] {
            cases.append(CheckCase(op: "matmul", dtype: dtype, operands: [Operand([m, k], dtype, layout: layouts.0), Operand([k, n], dtype, layout: layouts.1)],
                                   family: .accumulated, differentiable: true, seed: seed("matmul", cases.count)) { [$0[0].matmul($0[1])] })
        } } }
        let batched: [([Int], [Int])] = [([2, 3, 4, 5], [5, 6]), ([4, 5], [2, 5, 3]), ([2, 1, 4, 5], [3, 5, 2]), ([3, 7, 9], [3, 9, 2]), ([5], [5, 3]), ([4, 5], [5]), ([6], [6])]
        for dtype in [DType.float32, .float64] { for (sa, sb) in batched {
            cases.append(CheckCase(op: "matmul", dtype: dtype, operands: [Operand(sa, dtype, layout: sa.count > 1 ? .transposed : .contiguous), Operand(sb, dtype)],
                                   parameters: "batched", family: .accumulated, differentiable: true, seed: seed("matmul", cases.count)) { [$0[0].matmul($0[1])] })
        } }
        // `linear` adds its bias inside the product where the backend can (the reference adds it afterwards); the
        // shapes take the normal and the transposed orientation of the CPU's product, whole and partial tiles.
        let affine: [([Int], Int, OperandLayout)] = [([7, 13], 5, .contiguous), ([2, 3, 16], 33, .contiguous),
                                                     ([100, 64], 40, .transposed), ([6, 64], 200, .contiguous), ([0, 4], 3, .contiguous)]
        for dtype in floatTypes { for (shape, n, layout) in affine {
            let k = shape[shape.count - 1]
            cases.append(CheckCase(op: "linear", dtype: dtype, operands: [Operand(shape, dtype, layout: layout), Operand([n, k], dtype), Operand([n], dtype)],
                                   family: .accumulated, differentiable: true, seed: seed("linear", cases.count)) {
                [linear($0[0], weight: $0[1], bias: $0[2])]
            })
        } }
        return cases
    }

    static func indexingCases() -> [CheckCase] {
        var cases: [CheckCase] = []
        for dtype in floatTypes + [.int32, .int64] { for axis in 0..<3 { for indexType in [DType.int32, .int64] {
            cases.append(CheckCase(op: "indexSelect", dtype: dtype,
                                   operands: [Operand([5, 6, 7], dtype, layout: .transposed, values: .indices(9)), Operand([11], indexType, values: .indices([5, 6, 7][axis]))],
                                   parameters: "axis=\(axis)", family: .exact, differentiable: dtype.isFloatingPoint, seed: seed("indexSelect", cases.count)) {
                [$0[0].indexSelect(axis: axis, indices: $0[1])]
            })
        } } }
        for dtype in floatTypes { for (vocabulary, rows) in [(10, [3, 4]), (1000, [64]), (3, [2, 2, 2])] {
            cases.append(CheckCase(op: "embedding", dtype: dtype,
                                   operands: [Operand([vocabulary, 8], dtype), Operand(rows, .int64, values: .indices(vocabulary))],
                                   family: .exact, differentiable: true, seed: seed("embedding", cases.count)) { [embedding($0[1], weight: $0[0])] })
        } }
        for dtype in floatTypes + [.int64] { for axis in 0..<2 {
            let target = axis == 0 ? [4, 3] : [3, 5]
            cases.append(CheckCase(op: "gather", dtype: dtype,
                                   operands: [Operand([6, 5], dtype, layout: .strided, values: .indices(9)), Operand(target, .int64, values: .indices(axis == 0 ? 6 : 5))],
                                   parameters: "axis=\(axis)", family: .exact, differentiable: dtype.isFloatingPoint, seed: seed("gather", cases.count)) {
                [$0[0].gather(axis: axis, indices: $0[1])]
            })
            cases.append(CheckCase(op: "scatterAdd", dtype: dtype,
                                   operands: [Operand([6, 5], dtype, values: .indices(9)), Operand(target, .int64, values: .indices(axis == 0 ? 6 : 5)), Operand(target, dtype, values: .indices(9))],
                                   parameters: "axis=\(axis)", family: dtype.isFloatingPoint ? .accumulated : .exact, differentiable: dtype.isFloatingPoint,
                                   seed: seed("scatterAdd", cases.count)) { [$0[0].scatterAdd(axis: axis, indices: $0[1], source: $0[2])] })
        } }
        for dtype in floatTypes + [.int32] {
            cases.append(CheckCase(op: "concat", dtype: dtype, operands: [Operand([2, 3], dtype, values: .indices(9)), Operand([2, 5], dtype, layout: .transposed, values: .indices(9)), Operand([2, 0], dtype)],
                                   parameters: "axis=1", family: .exact, differentiable: dtype.isFloatingPoint, seed: seed("concat", cases.count)) { [concat($0, axis: 1)] })
            cases.append(CheckCase(op: "stack", dtype: dtype, operands: [Operand([3, 4], dtype, values: .indices(9)), Operand([3, 4], dtype, layout: .strided, values: .indices(9))],
                                   parameters: "axis=2", family: .exact, differentiable: dtype.isFloatingPoint, seed: seed("stack", cases.count)) { [stack($0, axis: 2)] })
            cases.append(CheckCase(op: "split", dtype: dtype, operands: [Operand([7, 4], dtype, layout: .transposed, values: .indices(9))],
                                   parameters: "sizes=[2,5]", family: .exact, differentiable: dtype.isFloatingPoint, seed: seed("split", cases.count)) {
                $0[0].split(sizes: [2, 5]).map { $0.contiguous() }
            })
        }
        cases.append(CheckCase(op: "oneHot", dtype: .int64, operands: [Operand([4, 3], .int64, values: .indices(6))], parameters: "classes=6",
                               family: .exact, differentiable: false, seed: seed("oneHot", 0)) { [oneHot($0[0], classes: 6)] })
        return cases
    }
}
