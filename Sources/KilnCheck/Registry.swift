import Kiln

/// Every case `kiln check` knows: generators over dtypes, shapes (scalars, empty and unit axes, odd and prime
/// extents, sizes that cross the CPU's blocks, one large size), broadcasting, non-contiguous layouts and op
/// parameters, for every op of the device protocol and of the tensor front-end.
public enum Registry {
    /// Every case, in a fixed order (so a seed and an index reproduce one).
    public static let cases: [CheckCase] = {
        var all: [CheckCase] = []
        all += elementwiseCases()
        all += reductionCases()
        all += linearAlgebraCases()
        all += indexingCases()
        all += layerCases()
        all += randomAndOptimizerCases()
        return all
    }()

    /// The op names the registry covers, as `--op` takes them.
    public static var opNames: [String] {
        var seen = Set<String>()
        return cases.map(\.op).filter { seen.insert($0).inserted }
    }

    static let floatTypes: [DType] = [.float32, .float64, .float16, .bfloat16]
    static let shapes: [[Int]] = [[], [1], [7], [0], [3, 1], [4, 0, 3], [2, 3, 5], [13, 17], [1, 1, 1], [65, 129], [1031]]
    static let layouts: [OperandLayout] = [.contiguous, .transposed, .strided]

    /// A stable seed for the `index`-th case of an op.
    static func seed(_ op: String, _ index: Int) -> UInt64 {
        op.utf8.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 } &+ UInt64(index)
    }

    /// The front-end function for a unary op.
    public static func apply(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        switch op {
        case .neg: -x
        case .abs: x.abs()
        case .sign: x.sign()
        case .square: x.square()
        case .exp: x.exp()
        case .log: x.log()
        case .sqrt: x.sqrt()
        case .rsqrt: x.rsqrt()
        case .reciprocal: x.reciprocal()
        case .sin: x.sin()
        case .cos: x.cos()
        case .tanh: x.tanh()
        case .sigmoid: x.sigmoid()
        case .relu: x.relu()
        case .gelu: x.gelu()
        case .geluTanh: x.gelu(approximate: true)
        case .silu: x.silu()
        case .erf: x.erf()
        case .floor: x.floor()
        case .ceil: x.ceil()
        case .round: x.rounded()
        }
    }

    /// The front-end function for a binary op.
    public static func apply(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        switch op {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        case .pow: a.pow(b)
        case .maximum: maximum(a, b)
        case .minimum: minimum(a, b)
        }
    }

    /// The front-end operator for a comparison.
    public static func apply(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        switch op {
        case .eq: a .== b
        case .ne: a .!= b
        case .lt: a .< b
        case .le: a .<= b
        case .gt: a .> b
        case .ge: a .>= b
        }
    }

    /// Values inside a unary function's domain (positive for logarithms and roots, away from rounding ties).
    static func domain(_ op: UnaryOp) -> Operand.Values {
        switch op {
        case .log, .sqrt, .rsqrt: .uniform(0.1, 4)
        case .reciprocal: .uniform(0.25, 3)
        default: .uniform(-3, 3)
        }
    }

    static func elementwiseCases() -> [CheckCase] {
        var cases: [CheckCase] = []
        for op in UnaryOp.allCases {
            let types = floatTypes + (op.acceptsIntegers ? [.int32, .int64] : [])
            let smooth = ![.floor, .ceil, .round, .sign].contains(op)
            for dtype in types { for shape in shapes { for layout in layouts where !shape.isEmpty || layout == .contiguous {
                let values: Operand.Values = dtype.isFloatingPoint ? domain(op) : .indices(100)
                cases.append(CheckCase(op: op.rawValue, dtype: dtype, operands: [Operand(shape, dtype, layout: layout, values: values)],
                                       family: .elementwise, differentiable: smooth && dtype.isFloatingPoint,
                                       seed: seed(op.rawValue, cases.count)) { [apply(op, $0[0])] })
            } } }
        }
        let pairs: [([Int], [Int])] = [([3, 4], [4]), ([2, 1, 5], [3, 1]), ([], [7]), ([0, 3], [3]), ([13, 17], [13, 17]),
                                       ([1, 6], [5, 1]), ([2, 3, 4, 5], [3, 1, 5]), ([65, 129], [129])]
        for op in BinaryOp.allCases {
            let types = floatTypes + (op.acceptsIntegers ? [.int32, .int64] : [])
            for dtype in types { for (sa, sb) in pairs { for layouts in [(OperandLayout.contiguous, OperandLayout.contiguous), (.transposed, .strided), (.expanded, .transposed)] {
                if sa.isEmpty && layouts.0 != .contiguous || sb.isEmpty && layouts.1 != .contiguous { continue }
                let values: Operand.Values = !dtype.isFloatingPoint ? .indices(50) : op == .pow ? .uniform(0.2, 2) : .uniform(-3, 3)
                let bValues: Operand.Values = op == .div && dtype.isFloatingPoint ? .uniform(0.5, 3) : values
                cases.append(CheckCase(op: op.rawValue, dtype: dtype,
                                       operands: [Operand(sa, dtype, layout: layouts.0, values: values),
                                                  Operand(sb, dtype, layout: layouts.1, values: bValues)],
                                       family: .elementwise, differentiable: dtype.isFloatingPoint,
                                       seed: seed(op.rawValue, cases.count)) { [apply(op, $0[0], $0[1])] })
            } } }
        }
        for op in CompareOp.allCases { for dtype in [DType.float32, .float16, .int32, .int64] { for (sa, sb) in pairs.prefix(5) {
            // Small integers make ties common, so eq/le/ge see both outcomes.
            cases.append(CheckCase(op: op.rawValue, dtype: dtype,
                                   operands: [Operand(sa, dtype, values: .indices(4)), Operand(sb, dtype, layout: sb.isEmpty ? .contiguous : .transposed, values: .indices(4))],
                                   family: .exact, differentiable: false, seed: seed(op.rawValue, cases.count)) {
                [apply(op, $0[0], $0[1])]
            })
        } } }
        for dtype in floatTypes + [.int64] { for (sa, sb) in pairs.prefix(6) {
            cases.append(CheckCase(op: "where", dtype: dtype,
                                   operands: [Operand(Shape.broadcast(sa, sb)!, .bool, values: .booleans), Operand(sa, dtype), Operand(sb, dtype, layout: sb.isEmpty ? .contiguous : .strided)],
                                   family: .exact, differentiable: dtype.isFloatingPoint, seed: seed("where", cases.count)) {
                [which($0[0], $0[1], $0[2])]
            })
        } }
        for source in DType.allCases { for target in DType.allCases { for layout in layouts {
            cases.append(CheckCase(op: "copy", dtype: source, operands: [Operand([7, 33], source, layout: layout, values: source == .bool ? .booleans : .uniform(-300, 300))],
                                   parameters: "to=\(target)", family: .exact, differentiable: false, seed: seed("copy", cases.count)) {
                [$0[0].to(target)]
            })
        } } }
        for dtype in DType.allCases {
            cases.append(CheckCase(op: "fill", dtype: dtype, operands: [], parameters: "value=3", family: .exact, differentiable: false,
                                   seed: 0) { _ in [Tensor.full([5, 77], value: 3, dtype: dtype, device: .default)] })
        }
        for dtype in floatTypes { for layout in layouts {
            cases.append(CheckCase(op: "clamp", dtype: dtype, operands: [Operand([9, 31], dtype, layout: layout)], parameters: "min=-1 max=0.5",
                                   family: .elementwise, differentiable: true, seed: seed("clamp", cases.count)) { [$0[0].clamped(min: -1, max: 0.5)] })
            cases.append(CheckCase(op: "leakyRelu", dtype: dtype, operands: [Operand([9, 31], dtype, layout: layout)], parameters: "slope=0.1",
                                   family: .elementwise, differentiable: true, seed: seed("leakyRelu", cases.count)) { [$0[0].leakyRelu(slope: 0.1)] })
        } }
        return cases
    }
}
