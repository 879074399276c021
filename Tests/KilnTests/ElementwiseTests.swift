import Foundation
import Testing
import Kiln

/// Shapes that exercise scalars, empty and unit axes, odd and prime extents, and one large tensor.
let elementwiseShapes: [[Int]] = [[], [1], [7], [0], [3, 1], [4, 0, 3], [2, 3, 5], [13, 17], [1, 1, 1], [517, 1031]]

func unaryReference(_ op: UnaryOp) -> (Double) -> Double {
    switch op {
    case .neg: { -$0 }
    case .abs: { Swift.abs($0) }
    case .sign: { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
    case .square: { $0 * $0 }
    case .exp: { Foundation.exp($0) }
    case .log: { Foundation.log($0) }
    case .sqrt: { $0.squareRoot() }
    case .rsqrt: { 1 / $0.squareRoot() }
    case .reciprocal: { 1 / $0 }
    case .sin: { Foundation.sin($0) }
    case .cos: { Foundation.cos($0) }
    case .tanh: { Foundation.tanh($0) }
    case .sigmoid: { 1 / (1 + Foundation.exp(-$0)) }
    case .relu: { Swift.max($0, 0) }
    case .gelu: { $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) / 2 }
    case .geluTanh: { x in 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
    case .silu: { $0 / (1 + Foundation.exp(-$0)) }
    case .erf: { Foundation.erf($0) }
    case .floor: { $0.rounded(.down) }
    case .ceil: { $0.rounded(.up) }
    case .round: { $0.rounded(.toNearestOrEven) }
    }
}

/// Inputs inside the function's domain: positive for log and roots, away from rounding ties.
func unaryInput(_ op: UnaryOp, _ shape: [Int], seed: UInt64) -> Ref {
    let x = Ref.random(shape, seed: seed, low: -3, high: 3)
    switch op {
    case .log, .sqrt, .rsqrt: return x.map { Swift.abs($0) + 0.1 }
    case .reciprocal: return x.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
    case .floor, .ceil, .round: return x.map { ($0 * 4).rounded() / 4 + 0.125 }
    default: return x
    }
}

func binaryReference(_ op: BinaryOp) -> (Double, Double) -> Double {
    switch op {
    case .add: { $0 + $1 }
    case .sub: { $0 - $1 }
    case .mul: { $0 * $1 }
    case .div: { $0 / $1 }
    case .pow: { Foundation.pow($0, $1) }
    case .maximum: { Swift.max($0, $1) }
    case .minimum: { Swift.min($0, $1) }
    }
}

func applyBinary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
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

func applyUnary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
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

@Suite struct ElementwiseTests {
    @Test(arguments: UnaryOp.allCases, elementwiseShapes)
    func unaryFloat32(_ op: UnaryOp, _ shape: [Int]) {
        let x = unaryInput(op, shape, seed: 11)
        let expected = x.map(unaryReference(op))
        for storage in Storage.allCases where shape.count > 0 || storage == .contiguous {
            let result = applyUnary(op, storage.tensor(x))
            #expect(mismatch(result, expected, rtol: 2e-6, atol: 1e-6) == nil, "\(op) \(shape) \(storage)")
        }
    }

    @Test(arguments: UnaryOp.allCases, [DType.float64, .float16, .bfloat16])
    func unaryOtherFloatTypes(_ op: UnaryOp, _ dtype: DType) {
        let x = rounded(unaryInput(op, [5, 37], seed: 12), to: dtype)
        let result = applyUnary(op, Storage.transposed.tensor(x, dtype: dtype))
        #expect(result.dtype == dtype)
        let expected = x.map(unaryReference(op))
        let (rtol, atol) = tolerance(dtype)
        #expect(mismatch(result, expected, rtol: Swift.max(rtol, 1e-15), atol: atol) == nil, "\(op) \(dtype)")
    }

    @Test(arguments: [UnaryOp.neg, .abs, .sign, .square, .relu], [DType.int32, .int64])
    func unaryIntegers(_ op: UnaryOp, _ dtype: DType) {
        let x = Ref.random([4, 9], seed: 13, low: -50, high: 50).map { $0.rounded() }
        let result = applyUnary(op, Tensor(x.values, shape: x.shape).to(dtype))
        #expect(result.dtype == dtype)
        #expect(mismatch(result, x.map(unaryReference(op)), rtol: 0, atol: 0) == nil)
    }

    static let broadcastPairs: [([Int], [Int])] = [
        ([3, 4], [4]), ([2, 1, 5], [3, 1]), ([], [7]), ([7], []), ([0, 3], [3]), ([13, 17], [13, 17]),
        ([1, 6], [5, 1]), ([2, 3, 4, 5], [3, 1, 5]), ([257, 1031], [1031]),
    ]

    @Test(arguments: BinaryOp.allCases, 0..<broadcastPairs.count)
    func binaryFloat32(_ op: BinaryOp, _ pair: Int) {
        let (sa, sb) = Self.broadcastPairs[pair]
        var a = Ref.random(sa, seed: 21), b = Ref.random(sb, seed: 22)
        if op == .pow { a = a.map { Swift.abs($0) + 0.1 } }
        if op == .div { b = b.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 } }
        let expected = Ref.zip(a, b, binaryReference(op))
        for (sta, stb) in [(Storage.contiguous, Storage.contiguous), (.transposed, .strided), (.strided, .transposed)]
        where (sa.count > 0 || sta == .contiguous) && (sb.count > 0 || stb == .contiguous) {
            let result = applyBinary(op, sta.tensor(a), stb.tensor(b))
            #expect(mismatch(result, expected, rtol: 2e-6, atol: 1e-6) == nil, "\(op) \(sa) \(sb) \(sta)/\(stb)")
        }
    }

    @Test(arguments: BinaryOp.allCases, [DType.float64, .float16, .bfloat16, .int32, .int64])
    func binaryOtherTypes(_ op: BinaryOp, _ dtype: DType) {
        var a = Ref.random([6, 11], seed: 23, low: -9, high: 9), b = Ref.random([11], seed: 24, low: -9, high: 9)
        if !dtype.isFloatingPoint { (a, b) = (a.map { $0.rounded() }, b.map { $0.rounded() == 0 ? 1 : $0.rounded() }) }
        if op == .pow { (a, b) = (a.map { Swift.abs($0) / 4 + 0.5 }, b.map { $0 / 4 }) }
        (a, b) = (rounded(a, to: dtype), rounded(b, to: dtype))
        let result = applyBinary(op, Storage.transposed.tensor(a, dtype: dtype), Tensor(b.values).to(dtype))
        let expectedType: DType = dtype.isFloatingPoint || op.acceptsIntegers ? dtype : .float32
        #expect(result.dtype == expectedType)
        let (rtol, atol) = expectedType == .float32 ? (1e-6, 1e-6) : tolerance(dtype)
        #expect(mismatch(result, Ref.zip(a, b, binaryReference(op)), rtol: rtol, atol: atol) == nil, "\(op) \(dtype)")
    }

    @Test func scalarOperandsAndPromotion() {
        let x = Tensor([1, 2, 3] as [Float])
        #expect((x * 2 + 1).toArray(Float.self) == [3, 5, 7])
        #expect((10 - x).toArray(Float.self) == [9, 8, 7])
        #expect((1 / x).toArray(Float.self) == [1, 0.5, Float(1) / 3])
        let i = Tensor([1, 2, 3] as [Int32])
        #expect((i * 2).dtype == .int32)
        #expect((i * 0.5).dtype == .float32)
        #expect((i / 2).toArray(Float.self) == [0.5, 1, 1.5])
        #expect((i + Tensor([0.5] as [Double])).dtype == .float64)
        #expect((Tensor([1] as [Float16]) + Tensor([1] as [Float])).dtype == .float32)
        #expect((Tensor([1] as [Float16]).to(.bfloat16) + Tensor([1] as [Float16])).dtype == .float32)
    }

    @Test(arguments: CompareOp.allCases)
    func comparisons(_ op: CompareOp) {
        let a = Ref([2, 3], [1, 2, 3, 4, 5, .nan]), b = Ref([3], [2, 2, 6])
        let ta = Tensor(a.values, shape: a.shape).to(.float32), tb = Tensor(b.values).to(.float32)
        let result: Tensor
        let f: (Double, Double) -> Bool
        switch op {
        case .eq: (result, f) = (ta .== tb, { $0 == $1 })
        case .ne: (result, f) = (ta .!= tb, { $0 != $1 })
        case .lt: (result, f) = (ta .< tb, { $0 < $1 })
        case .le: (result, f) = (ta .<= tb, { $0 <= $1 })
        case .gt: (result, f) = (ta .> tb, { $0 > $1 })
        case .ge: (result, f) = (ta .>= tb, { $0 >= $1 })
        }
        #expect(result.dtype == .bool)
        #expect(result.toArray(Bool.self) == Ref.zip(a, b) { f($0, $1) ? 1 : 0 }.values.map { $0 == 1 })
    }

    @Test func whichSelectsWithBroadcasting() {
        let condition = Tensor([true, false, true] as [Bool])
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = Tensor(-1 as Float)
        #expect(which(condition, a, b).toArray(Float.self) == [1, -1, 3, 4, -1, 6])
        #expect(which(a .> 3, a, a * 10).toArray(Float.self) == [10, 20, 30, 4, 5, 6])
    }

    @Test func nanAndInfinityPropagate() {
        let x = Tensor([Float.nan, .infinity, -.infinity, 0] as [Float])
        #expect(mismatch(x.exp(), Ref([4], [.nan, .infinity, 0, 1]), rtol: 0, atol: 0) == nil)
        #expect(mismatch(x.relu(), Ref([4], [.nan, .infinity, 0, 0]), rtol: 0, atol: 0) == nil)
        #expect(mismatch(maximum(x, Tensor(1 as Float)), Ref([4], [.nan, .infinity, 1, 1]), rtol: 0, atol: 0) == nil)
        #expect(mismatch(x.sigmoid(), Ref([4], [.nan, 1, 0, 0.5]), rtol: 0, atol: 0) == nil)
    }

    @Test func clampAndLeakyRelu() {
        let x = Tensor([-3, -0.5, 0.5, 3] as [Float])
        #expect(x.clamped(min: -1, max: 1).toArray(Float.self) == [-1, -0.5, 0.5, 1])
        #expect(x.clamped(min: 0).toArray(Float.self) == [0, 0, 0.5, 3])
        #expect(x.leakyRelu(slope: 0.1).toArray(Float.self) == [-0.3, -0.05, 0.5, 3].map { Float($0) })
    }
}
