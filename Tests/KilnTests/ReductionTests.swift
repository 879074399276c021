import Foundation
import Testing
import Kiln

func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
func variance(_ v: [Double], ddof: Int) -> Double {
    let m = mean(v)
    return v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - ddof)
}

@Suite struct ReductionTests {
    /// Causal attention weights against float64 rows: query `i` of each `[queries, keys]` matrix is the softmax of
    /// its first `i + 1` scores followed by zeros; in every storage, more keys than queries and the reverse, and
    /// rows longer than a vector. The masked path other backends take (`causalMask`, then `softmax`) gives the same.
    @Test(arguments: [[5, 5], [4, 9], [9, 4], [2, 3, 37, 37]], Storage.allCases)
    func causalSoftmaxSeesOnlyEarlierKeys(_ shape: [Int], _ storage: Storage) {
        let x = Ref.random(shape, seed: 81, low: -6, high: 6)
        let (queries, keys) = (shape[shape.count - 2], shape[shape.count - 1])
        var expected = x.values
        for row in 0..<(x.count / keys) {
            let seen = min(row % queries + 1, keys), base = row * keys
            let top = x.values[base..<(base + seen)].max()!
            let total = x.values[base..<(base + seen)].map { Foundation.exp($0 - top) }.reduce(0, +)
            for j in 0..<keys { expected[base + j] = j < seen ? Foundation.exp(x.values[base + j] - top) / total : 0 }
        }
        let t = storage.tensor(x)
        #expect(mismatch(t.causalSoftmax(), Ref(shape, expected), rtol: 1e-5, atol: 1e-7) == nil, "\(shape) \(storage)")
        let masked = (t + Tensor.causalMask(queries: queries, keys: keys)).softmax(axis: -1)
        #expect(mismatch(masked, Ref(shape, expected), rtol: 1e-5, atol: 1e-7) == nil, "\(shape) masked")
    }

    /// (shape, axes): inner, outer, middle, several and all axes; unit, odd and one long axis.
    static let cases: [([Int], [Int])] = [
        ([7], [0]), ([5, 1], [1]), ([13, 17], [1]), ([13, 17], [0]), ([2, 3, 5], [0, 2]), ([2, 3, 5], [1]),
        ([4, 6, 5], []), ([3, 100_003], [1]), ([100_003, 3], [0]), ([1, 1], [0, 1]), ([6, 7, 8], [2, 0]),
    ]

    @Test(arguments: 0..<cases.count, Storage.allCases)
    func sumMeanMaxMin(_ c: Int, _ storage: Storage) {
        let (shape, axes) = Self.cases[c]
        let x = Ref.random(shape, seed: UInt64(31 + c))
        let t = storage.tensor(x)
        let checks: [(Tensor, Ref)] = [
            (t.sum(axes: axes), x.reduce(axes) { $0.reduce(0, +) }),
            (t.mean(axes: axes, keepDims: true), x.reduce(axes, keepDims: true) { mean($0) }),
            (t.max(axes: axes), x.reduce(axes) { $0.max()! }),
            (t.min(axes: axes), x.reduce(axes) { $0.min()! }),
            (t.variance(axes: axes), x.reduce(axes) { variance($0, ddof: 0) }),
            (t.variance(axes: axes, ddof: 1), x.reduce(axes) { variance($0, ddof: 1) }),
        ]
        for (i, (result, expected)) in checks.enumerated() {
            #expect(mismatch(result, expected, rtol: 1e-5, atol: 1e-5) == nil, "check \(i) \(shape) axes \(axes) \(storage)")
        }
    }

    @Test(arguments: [DType.float64, .float16, .bfloat16])
    func sumsOfOtherFloatTypesAccumulateInFloat32OrBetter(_ dtype: DType) {
        // 4096 values of 1/3 rounded to the dtype: the sum must be exact to float32 accuracy of the rounded values.
        let x = rounded(Ref([4096], [Double](repeating: 1.0 / 3, count: 4096)), to: dtype)
        let total = Tensor(x.values).to(dtype).sum()
        #expect(total.dtype == dtype)
        let exact = x.values.reduce(0, +)
        #expect(Swift.abs(total.item(Double.self) - exact) <= tolerance(dtype).rtol * exact)
    }

    @Test func longSumsAreAccurate() {
        // 10⁶ copies of 0.1 summed naively in float32 drift to ≈ 100958; blocked summation stays within 1e-6.
        let t = Tensor.full([1_000_000], value: 0.1)
        let expected = 1_000_000 * Double(Float(0.1))
        #expect(Swift.abs(t.sum().item(Double.self) - expected) / expected < 1e-6)
        #expect(Swift.abs(t.mean().item(Double.self) - Double(Float(0.1))) < 1e-8)
    }

    /// Sums over more than 2²⁰ elements are split into chunks across threads: exact integers in float32 sum
    /// exactly, contiguous, transposed (strided chunks) and in a few rows.
    @Test func chunkedSumsAreExact() {
        let (rows, columns) = (1_500, 2_001)
        let values = (0..<(rows * columns)).map { Float($0 % 7) }
        let expected = values.reduce(0.0) { $0 + Double($1) }
        let t = Tensor(values, shape: [rows, columns])
        #expect(t.sum().item(Double.self) == expected)
        #expect(t.T.sum().item(Double.self) == expected)
        #expect(t.mean().item(Float.self) == Float(expected / Double(rows * columns)))
        let halves = t.reshaped([2, rows * columns / 2]).sum(axis: 1).toArray(Float.self).map(Double.init)
        #expect(halves.reduce(0, +) == expected && halves.count == 2)
    }

    @Test func integerReductions() {
        let x = Tensor([1, -2, 3, 4, 5, -6] as [Int32], shape: [2, 3])
        #expect(x.sum().dtype == .int64)
        #expect(x.sum(axis: 1).toArray(Int64.self) == [2, 3])
        #expect(x.max(axis: 0).toArray(Int32.self) == [4, 5, 3])
        #expect(x.mean().item(Float.self) == 0.83333333)
        #expect(Tensor([true, false, true] as [Bool]).sum().item(Int64.self) == 2)
    }

    @Test func emptyReductions() {
        let x = Tensor.zeros([0, 3])
        #expect(x.sum(axis: 0).toArray(Float.self) == [0, 0, 0])
        let means = x.mean(axis: 0).toArray(Float.self)
        #expect(means.count == 3 && means.allSatisfy { $0.isNaN })
        #expect(x.sum(axis: 1).shape == [0])
    }

    @Test(arguments: [(([Int], Int)) ([13, 17], 1), ([13, 17], 0), ([2, 3, 5], 1), ([9], 0), ([4, 100_003], 1)])
    func argMaxArgMin(_ shape: [Int], _ axis: Int) {
        let x = Ref.random(shape, seed: 41)
        let t = Storage.transposed.tensor(x)
        let amax = x.reduce([axis]) { Double($0.firstIndex(of: $0.max()!)!) }
        let amin = x.reduce([axis]) { Double($0.firstIndex(of: $0.min()!)!) }
        #expect(t.argMax(axis: axis).dtype == .int64)
        #expect(mismatch(t.argMax(axis: axis), amax, rtol: 0, atol: 0) == nil)
        #expect(mismatch(t.argMin(axis: axis), amin, rtol: 0, atol: 0) == nil)
        #expect(t.argMin(axis: axis, keepDims: true).shape[axis] == 1)
    }

    @Test func argMaxTiesAndNaN() {
        #expect(Tensor([1, 3, 3, 2] as [Float]).argMax(axis: 0).item(Int64.self) == 1)
        #expect(Tensor([1, .nan, 5, .nan] as [Float]).argMax(axis: 0).item(Int64.self) == 1)
        #expect(Tensor([1, .nan, -5] as [Float]).argMin(axis: 0).item(Int64.self) == 1)
        #expect(Tensor([4, .nan, 5] as [Float]).max().item(Float.self).isNaN)
    }

    @Test(arguments: [([Int], Int)]([([5], 0), ([3, 7], 1), ([3, 7], 0), ([2, 4, 1031], 2), ([2, 1, 3], 1)]))
    func softmaxAndLogSoftmax(_ shape: [Int], _ axis: Int) {
        let x = Ref.random(shape, seed: 51, low: -20, high: 20)
        // Reference: per slice along the axis.
        let perm = Array(shape.indices.filter { $0 != axis }) + [axis]
        let moved = x.permuted(perm)
        let n = shape[axis]
        var soft = moved.values, logSoft = moved.values
        for start in stride(from: 0, to: moved.count, by: n) {
            let row = Array(moved.values[start..<(start + n)])
            let m = row.max()!
            let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            for i in 0..<n {
                soft[start + i] = Foundation.exp(row[i] - m) / z
                logSoft[start + i] = row[i] - m - Foundation.log(z)
            }
        }
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        let t = Storage.transposed.tensor(x)
        #expect(mismatch(t.softmax(axis: axis), Ref(moved.shape, soft).permuted(inverse), rtol: 1e-5, atol: 1e-7) == nil)
        #expect(mismatch(t.logSoftmax(axis: axis), Ref(moved.shape, logSoft).permuted(inverse), rtol: 1e-5, atol: 1e-5) == nil)
    }

    @Test func softmaxIsStableForLargeLogits() {
        let t = Tensor([1000, 1001, 1002, -.infinity] as [Float])
        let p = t.softmax().toArray(Double.self)
        let e = [Foundation.exp(-2.0), Foundation.exp(-1.0), 1, 0]
        let z = e.reduce(0, +)
        for i in 0..<4 { #expect(Swift.abs(p[i] - e[i] / z) < 1e-6) }
        #expect(Swift.abs(t.logSoftmax().toArray(Double.self)[2] + Foundation.log(z)) < 1e-5)
    }

    /// Softmax's exponentials of shifted rows (float32, sixteen lanes on the CPU) against Float64 over their whole
    /// range: `[0, x]` has `exp(x)/(1 + exp(x))` second, within 3 ulp while that is a normal float, and below
    /// 2⁻¹²⁶ within that much of it (flushed to zero or not); −∞ gives exactly 0 and NaN a NaN row.
    @Test func softmaxOfShiftedRowsIsAccurateOverTheWholeRange() {
        let xs = stride(from: -110, through: 0, by: 0.0173).map { Float($0) } + [-87.9, -88, -88.1, -1e-30]
        let rows = Tensor(xs.flatMap { [0, $0] + [Float](repeating: -.infinity, count: 15) }, shape: [xs.count, 17])
        let p = rows.softmax(axis: 1).toArray(Float.self)
        let smallest = Double(Float.leastNormalMagnitude)
        for (r, x) in xs.enumerated() {
            let e = Foundation.exp(Double(x)), exact = e / (1 + e), got = Double(p[r * 17 + 1])
            let bound = exact >= smallest ? 3 * Double(Float(exact).ulp) : smallest
            #expect(Swift.abs(got - exact) <= bound, "softmax([0, \(x)])[1] = \(got), exact \(exact)")
            #expect(p[(r * 17 + 2)..<(r * 17 + 17)].allSatisfy { $0 == 0 }, "exp(-inf) is not exactly 0 in row \(r)")
        }
        #expect(Tensor([0, .nan, 1] as [Float]).softmax().toArray(Float.self).allSatisfy { $0.isNaN })
    }
}
