import KilnCore

/// Elementwise kernels: the per-block loops behind unary, binary, comparison, select, copy and fill.
enum CPUElementwise {
    static func unary(_ op: UnaryOp, _ x: BufferView, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: floatUnary(op, Float.self, x, out)
        case .double: floatUnary(op, Double.self, x, out)
        case .integer:
            require(op.acceptsIntegers, "\(op): not defined for \(x.dtype)")
            ElementwiseEngine.map(Int64.self, out: out, inputs: [x]) { o, a, _, _, n in
                switch op {
                case .neg: for i in 0..<n { o[i] = 0 &- a[i] }
                case .abs: for i in 0..<n { o[i] = a[i] < 0 ? 0 &- a[i] : a[i] }
                case .sign: for i in 0..<n { o[i] = a[i] > 0 ? 1 : (a[i] < 0 ? -1 : 0) }
                case .square: for i in 0..<n { o[i] = a[i] &* a[i] }
                case .relu: for i in 0..<n { o[i] = Swift.max(a[i], 0) }
                default: fatalError("\(op): not defined for integers")
                }
            }
        }
    }

    private static func floatUnary<F: CPUFloat>(_ op: UnaryOp, _ type: F.Type, _ x: BufferView, _ out: BufferView) {
        ElementwiseEngine.map(F.self, out: out, inputs: [x]) { o, a, _, _, n in
            if F.vectorised(op, a, into: o, count: n) { return }
            switch op {
            case .neg: for i in 0..<n { o[i] = -a[i] }
            case .abs: for i in 0..<n { o[i] = Swift.abs(a[i]) }
            case .sign: for i in 0..<n { o[i] = a[i] > 0 ? 1 : (a[i] < 0 ? -1 : (a[i].isNaN ? a[i] : 0)) }
            case .square: for i in 0..<n { o[i] = a[i] * a[i] }
            case .exp: for i in 0..<n { o[i] = F.exp(a[i]) }
            case .log: for i in 0..<n { o[i] = F.log(a[i]) }
            case .sqrt: for i in 0..<n { o[i] = a[i].squareRoot() }
            case .rsqrt: for i in 0..<n { o[i] = 1 / a[i].squareRoot() }
            case .reciprocal: for i in 0..<n { o[i] = 1 / a[i] }
            case .sin: for i in 0..<n { o[i] = F.sin(a[i]) }
            case .cos: for i in 0..<n { o[i] = F.cos(a[i]) }
            case .tanh: for i in 0..<n { o[i] = F.tanh(a[i]) }
            case .sigmoid: F.sigmoid(a, into: o, count: n)
            case .relu: for i in 0..<n { o[i] = a[i] > 0 ? a[i] : (a[i].isNaN ? a[i] : 0) }
            case .gelu:
                for i in 0..<n { o[i] = a[i] * (1 + F.erf(a[i] * F(0.70710678118654752440))) / 2 }
            case .geluTanh:
                for i in 0..<n {
                    let v = a[i], inner = F(0.79788456080286535588) * (v + F(0.044715) * v * v * v)
                    o[i] = v * (1 + F.tanh(inner)) / 2
                }
            case .silu: for i in 0..<n { o[i] = a[i] * sigmoid(a[i]) }
            case .erf: for i in 0..<n { o[i] = F.erf(a[i]) }
            case .floor: for i in 0..<n { o[i] = a[i].rounded(.down) }
            case .ceil: for i in 0..<n { o[i] = a[i].rounded(.up) }
            case .round: for i in 0..<n { o[i] = a[i].rounded(.toNearestOrEven) }
            }
        }
    }

    static func unaryBackward(_ op: UnaryOp, _ saved: BufferView, _ gradient: BufferView, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: floatUnaryBackward(op, Float.self, saved, gradient, out)
        case .double: floatUnaryBackward(op, Double.self, saved, gradient, out)
        case .integer: fatalError("\(op)Backward: needs a floating-point dtype, got \(out.dtype)")
        }
    }

    private static func floatUnaryBackward<F: CPUFloat>(_ op: UnaryOp, _ type: F.Type, _ saved: BufferView,
                                                        _ gradient: BufferView, _ out: BufferView) {
        ElementwiseEngine.map(F.self, out: out, inputs: [saved, gradient]) { o, s, g, _, n in
            if F.vectorisedBackward(op, s, g, into: o, count: n) { return }
            switch op {
            case .relu: for i in 0..<n { o[i] = g[i] * (s[i] > 0 ? 1 : 0) }
            case .sigmoid: for i in 0..<n { o[i] = g[i] * s[i] * (1 - s[i]) }
            case .tanh: for i in 0..<n { o[i] = g[i] * (1 - s[i] * s[i]) }
            case .gelu:
                for i in 0..<n {
                    let x = s[i]
                    o[i] = g[i] * ((1 + F.erf(x * F(0.70710678118654752440))) / 2 + x * F.exp(x * x / -2) * F(0.39894228040143267794))
                }
            case .geluTanh:
                for i in 0..<n {
                    let x = s[i], c = F(0.79788456080286535588)
                    let t = F.tanh(c * (x + F(0.044715) * x * x * x))
                    o[i] = g[i] * ((1 + t) / 2 + x / 2 * (1 - t * t) * (c * (1 + F(0.134145) * x * x)))
                }
            case .silu:
                for i in 0..<n {
                    let x = s[i], sg = sigmoid(x)
                    o[i] = g[i] * sg * (1 + x * (1 - sg))
                }
            default: fatalError("\(op)Backward: not a fused backward")
            }
        }
    }

    /// The logistic function, evaluated so that neither tail overflows.
    @inline(__always)
    static func sigmoid<F: CPUFloat>(_ x: F) -> F {
        if x >= 0 { return 1 / (1 + F.exp(-x)) }
        let e = F.exp(x)
        return e / (1 + e)
    }

    static func binary(_ op: BinaryOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: floatBinary(op, Float.self, a, b, out)
        case .double: floatBinary(op, Double.self, a, b, out)
        case .integer:
            require(op.acceptsIntegers, "\(op): not defined for \(out.dtype)")
            ElementwiseEngine.map(Int64.self, out: out, inputs: [a, b]) { o, x, y, _, n in
                switch op {
                case .add: for i in 0..<n { o[i] = x[i] &+ y[i] }
                case .sub: for i in 0..<n { o[i] = x[i] &- y[i] }
                case .mul: for i in 0..<n { o[i] = x[i] &* y[i] }
                case .maximum: for i in 0..<n { o[i] = Swift.max(x[i], y[i]) }
                case .minimum: for i in 0..<n { o[i] = Swift.min(x[i], y[i]) }
                case .div, .pow: fatalError("\(op): not defined for integers")
                }
            }
        }
    }

    private static func floatBinary<F: CPUFloat>(_ op: BinaryOp, _ type: F.Type, _ a: BufferView, _ b: BufferView,
                                                 _ out: BufferView) {
        ElementwiseEngine.map(F.self, out: out, inputs: [a, b]) { o, x, y, _, n in
            switch op {
            case .add: for i in 0..<n { o[i] = x[i] + y[i] }
            case .sub: for i in 0..<n { o[i] = x[i] - y[i] }
            case .mul: for i in 0..<n { o[i] = x[i] * y[i] }
            case .div: for i in 0..<n { o[i] = x[i] / y[i] }
            case .pow: for i in 0..<n { o[i] = F.pow(x[i], y[i]) }
            case .maximum:
                for i in 0..<n { o[i] = x[i].isNaN || y[i].isNaN ? F.nan : Swift.max(x[i], y[i]) }
            case .minimum:
                for i in 0..<n { o[i] = x[i].isNaN || y[i].isNaN ? F.nan : Swift.min(x[i], y[i]) }
            }
        }
    }

    static func compare(_ op: CompareOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        switch ComputeDomain(a.dtype) {
        case .float: compare(op, Float.self, a, b, out)
        case .double: compare(op, Double.self, a, b, out)
        case .integer: compare(op, Int64.self, a, b, out)
        }
    }

    private static func compare<T: CPUScalar>(_ op: CompareOp, _ type: T.Type, _ a: BufferView, _ b: BufferView,
                                              _ out: BufferView) {
        // Results are computed as 1 or 0 of the input type and stored as bool.
        ElementwiseEngine.map(T.self, out: out, inputs: [a, b]) { o, x, y, _, n in
            switch op {
            case .eq: for i in 0..<n { o[i] = x[i] == y[i] ? .one : .zero }
            case .ne: for i in 0..<n { o[i] = x[i] != y[i] ? .one : .zero }
            case .lt: for i in 0..<n { o[i] = x[i] < y[i] ? .one : .zero }
            case .le: for i in 0..<n { o[i] = x[i] <= y[i] ? .one : .zero }
            case .gt: for i in 0..<n { o[i] = x[i] > y[i] ? .one : .zero }
            case .ge: for i in 0..<n { o[i] = x[i] >= y[i] ? .one : .zero }
            }
        }
    }

    static func select(_ condition: BufferView, _ a: BufferView, _ b: BufferView, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: select(Float.self, condition, a, b, out)
        case .double: select(Double.self, condition, a, b, out)
        case .integer: select(Int64.self, condition, a, b, out)
        }
    }

    private static func select<T: CPUScalar>(_ type: T.Type, _ condition: BufferView, _ a: BufferView,
                                             _ b: BufferView, _ out: BufferView) {
        ElementwiseEngine.map(T.self, out: out, inputs: [condition, a, b]) { o, c, x, y, n in
            for i in 0..<n { o[i] = c[i] != .zero ? x[i] : y[i] }
        }
    }

    static func copy(_ source: BufferView, to out: BufferView) {
        if source.dtype == out.dtype, copyRuns(source, to: out) { return }
        // Integers copy through Int64 (exact); anything touching float64 through Double; the rest through Float.
        if ComputeDomain(source.dtype) == .integer && ComputeDomain(out.dtype) == .integer {
            ElementwiseEngine.map(Int64.self, out: out, inputs: [source]) { o, a, _, _, n in o.update(from: a, count: n) }
        } else if source.dtype == .float64 || out.dtype == .float64 || source.dtype == .int64 || source.dtype == .int32 {
            ElementwiseEngine.map(Double.self, out: out, inputs: [source]) { o, a, _, _, n in o.update(from: a, count: n) }
        } else {
            ElementwiseEngine.map(Float.self, out: out, inputs: [source]) { o, a, _, _, n in o.update(from: a, count: n) }
        }
    }

    /// Copies `source` into `out` (same dtype, separate buffers) run by run as bytes when both store their innermost
    /// axis contiguously, as a permuted tensor's heads (`[batch, heads, time, size]` from `[batch, time, heads,
    /// size]`) do: runs of a few hundred bytes move as inline 64-byte vectors instead of one `memmove` call each.
    /// Returns false, copying nothing, for any other layout, and for a copy within one buffer (a shifted
    /// self-assignment, whose runs may overlap: the elementwise path moves them with `memmove`).
    private static func copyRuns(_ source: BufferView, to out: BufferView) -> Bool {
        guard source.buffer !== out.buffer else { return false }
        let walker = StridedWalker([out.layout, source.layout])
        guard walker.innerStrides[0] == 1 && walker.innerStrides[1] == 1 || walker.count == 1 else { return false }
        let size = out.dtype.byteSize
        let from = UnsafeRawPointer(source.base), to = out.base
        Parallel.forEach(walker.count, grain: ElementwiseEngine.grain) { range in
            walker.forEachRun(in: range) { offsets, length in
                ElementAccess.copyBytes(from: from + offsets[1] &* size, to: to + offsets[0] &* size, count: length &* size)
            }
        }
        return true
    }

    static func fill(_ out: BufferView, value: Double) {
        switch ComputeDomain(out.dtype) {
        case .float:
            let v = Float(value)
            ElementwiseEngine.map(Float.self, out: out, inputs: []) { o, _, _, _, n in o.update(repeating: v, count: n) }
        case .double:
            ElementwiseEngine.map(Double.self, out: out, inputs: []) { o, _, _, _, n in o.update(repeating: value, count: n) }
        case .integer:
            let v = out.dtype == .bool ? (value != 0 ? 1 : 0) : value.asInt64
            ElementwiseEngine.map(Int64.self, out: out, inputs: []) { o, _, _, _, n in o.update(repeating: v, count: n) }
        }
    }
}
