import Testing
import Kiln

@Suite struct MatmulTests {
    /// (m, k, n): unit, odd and prime sizes, exact micro-tiles, sizes crossing the cache blocks (depths over two
    /// blocks of 256 or of 384, a thread's columns over two packed panels of B, the second partial), a tall product
    /// that threads split by rows, empty ones, and products wide enough for the left operand to be packed into
    /// micro-panels (with B read in place, with B packed, and over more rows than one packing takes, ending in a
    /// partial panel), on one thread or two.
    static let sizes: [(Int, Int, Int)] = [
        (1, 1, 1), (2, 3, 4), (7, 13, 5), (6, 16, 16), (12, 32, 48), (97, 257, 33), (130, 300, 70), (0, 3, 4),
        (3, 0, 4), (5, 3, 0), (1, 517, 1), (200, 7, 600), (32, 130, 45), (40, 64, 520), (12, 16, 32), (50, 520, 97),
        (130, 40, 1100), (300, 40, 140), (50, 300, 2100), (130, 520, 2100), (4100, 20, 2100),
    ]

    @Test(arguments: 0..<sizes.count)
    func matrixProductsOverLayouts(_ c: Int) {
        let (m, k, n) = Self.sizes[c]
        let a = Ref.random([m, k], seed: 61), b = Ref.random([k, n], seed: 62)
        let expected = Ref.matmul(a, b)
        for (sa, sb) in [(Storage.contiguous, Storage.contiguous), (.transposed, .strided), (.strided, .transposed),
                         (.transposed, .transposed)] {
            let result = sa.tensor(a).matmul(sb.tensor(b))
            #expect(mismatch(result, expected, rtol: 1e-5, atol: 1e-4) == nil, "\(m)x\(k)x\(n) \(sa)/\(sb)")
        }
    }

    @Test(arguments: [([Int], [Int])]([([2, 3, 4, 5], [5, 6]), ([4, 5], [2, 5, 3]), ([2, 1, 4, 5], [3, 5, 2]),
                                       ([3, 7, 9], [3, 9, 2]), ([5], [5, 3]), ([4, 5], [5]), ([6], [6])]))
    func batchedAndVectorProducts(_ sa: [Int], _ sb: [Int]) {
        let a = Ref.random(sa, seed: 63), b = Ref.random(sb, seed: 64)
        // Promote vectors as NumPy does, then drop the added axes.
        let a2 = sa.count == 1 ? a.reshaped([1, sa[0]]) : a
        let b2 = sb.count == 1 ? b.reshaped([sb[0], 1]) : b
        var expected = Ref.matmul(a2, b2)
        var shape = expected.shape
        if sb.count == 1 { shape.removeLast() }
        if sa.count == 1 { shape.remove(at: shape.count - (sb.count == 1 ? 1 : 2)) }
        expected = expected.reshaped(shape)
        let result = Storage.transposed.tensor(a).matmul(Storage.contiguous.tensor(b))
        #expect(mismatch(result, expected, rtol: 1e-5, atol: 1e-5) == nil, "\(sa) @ \(sb)")
    }

    /// Attention's products over heads of a permuted `[batch, time, 3, heads, size]` projection, whose batch axes do
    /// not fold into one stride (so the operands are copied, `kᵀ` and, backward, `vᵀ` as transposes): `q·kᵀ` and
    /// `p·v` forward, and the gradients they send to the projection, against float64 references.
    @Test func productsOverPermutedHeads() {
        let (batch, time, heads, size) = (2, 5, 3, 4)
        let x = Ref.random([batch, time, 3, heads, size], seed: 70), weights = Ref.random([batch, heads, time, size], seed: 71)
        let parts = Ref(x.shape, x.values).permuted([2, 0, 3, 1, 4])
        func part(_ i: Int) -> Ref {
            let n = batch * heads * time * size
            return Ref([batch, heads, time, size], Array(parts.values[(i * n)..<((i + 1) * n)]))
        }
        let (q, k, v) = (part(0), part(1), part(2))
        let projection = Tensor(x.values, shape: x.shape).requiringGrad()
        let views = projection.permuted([2, 0, 3, 1, 4]).split(parts: 3, axis: 0).map { $0.squeezed(axis: 0) }
        let scores = views[0].matmul(views[1].T), mixed = scores.matmul(views[2])
        let expectedScores = Ref.matmul(q, k.permuted([0, 1, 3, 2]))
        #expect(mismatch(scores, expectedScores, rtol: 1e-5, atol: 1e-5) == nil)
        #expect(mismatch(mixed, Ref.matmul(expectedScores, v), rtol: 1e-5, atol: 1e-4) == nil)
        (mixed * Tensor(weights.values, shape: weights.shape)).sum().backward()
        // loss = Σ W ⊙ (q·kᵀ)·v: dv = Sᵀ·W, dS = W·vᵀ, dq = dS·k, dk = dSᵀ·q.
        let transpose = [0, 1, 3, 2]
        let dScores = Ref.matmul(weights, v.permuted(transpose))
        let dq = Ref.matmul(dScores, k), dk = Ref.matmul(dScores.permuted(transpose), q)
        let dv = Ref.matmul(expectedScores.permuted(transpose), weights)
        // Stacked as the projection's parts and permuted back to its layout.
        let stacked = Ref([3, batch, heads, time, size], dq.values + dk.values + dv.values).permuted([1, 3, 0, 2, 4])
        #expect(mismatch(projection.grad!, stacked, rtol: 1e-5, atol: 1e-4) == nil)
    }

    @Test(arguments: [DType.float64, .float16, .bfloat16])
    func otherFloatTypes(_ dtype: DType) {
        let a = rounded(Ref.random([19, 45], seed: 65), to: dtype), b = rounded(Ref.random([45, 23], seed: 66), to: dtype)
        let result = Storage.transposed.tensor(a, dtype: dtype).matmul(Tensor(b.values, shape: b.shape).to(dtype))
        #expect(result.dtype == dtype)
        let (rtol, atol) = dtype == .float64 ? (1e-12, 1e-12) : (tolerance(dtype).rtol, tolerance(dtype).rtol * 10)
        #expect(mismatch(result, Ref.matmul(a, b), rtol: rtol, atol: atol) == nil)
    }

    /// Few rows of C, a long depth and a transposed right operand (a layer's `x·Wᵀ` over a small batch): the CPU
    /// computes `Cᵀ = W·xᵀ` into scratch and transposes it into C, which must keep alpha, beta and the bias.
    @Test(arguments: [(1.0, 0.0), (-0.5, 2.0)])
    func productComputedTransposed(_ alpha: Double, _ beta: Double) throws {
        let (m, k, n) = (20, 300, 100)
        let x = Ref.random([m, k], seed: 71), w = Ref.random([n, k], seed: 72), c = Ref.random([m, n], seed: 73)
        let bias = Ref.random([n], seed: 74)
        func dot(_ i: Int, _ j: Int) -> Double { (0..<k).reduce(0) { $0 + x.values[i * k + $1] * w.values[j * k + $1] } }
        let out = try Self.backendView(c.values.map(Float.init), Layout(contiguous: [1, m, n]))
        Device.cpu.backend.matmul(try Self.backendView(x.values.map(Float.init), Layout(contiguous: [1, m, k])),
                                  try Self.backendView(w.values.map(Float.init), Layout(shape: [1, k, n], strides: [0, 1, k])),
                                  out: out, alpha: alpha, beta: beta)
        let result = try Self.values(out)
        for i in 0..<(m * n) {
            let expected = alpha * dot(i / n, i % n) + beta * Double(Float(c.values[i]))
            #expect(Swift.abs(Double(result[i]) - expected) < 1e-4 * max(1, Swift.abs(expected)), "element \(i)")
        }
        let withBias = linear(Tensor(x.values.map(Float.init), shape: [m, k]),
                              weight: Tensor(w.values.map(Float.init), shape: [n, k]),
                              bias: Tensor(bias.values.map(Float.init), shape: [n]))
        let expectedWithBias = Ref([m, n], (0..<(m * n)).map { dot($0 / n, $0 % n) + bias.values[$0 % n] })
        #expect(mismatch(withBias, expectedWithBias, rtol: 1e-5, atol: 1e-4) == nil)
    }

    /// A tall product of one depth block and one panel of columns, which two to sixteen threads share by claiming
    /// blocks of rows as they come free (the last block partial, ending in a partial micro-panel): each block
    /// is computed once, whether C is stored over (NaN before) or added to, and the bias is added once per row.
    @Test(arguments: [(1.0, 0.0), (-0.5, 2.0)])
    func rowBlocksClaimedByThreads(_ alpha: Double, _ beta: Double) throws {
        let (m, k, n) = (3100, 70, 130)
        let a = Ref.random([m, k], seed: 75), b = Ref.random([k, n], seed: 76), c = Ref.random([m, n], seed: 77)
        let out = try Self.backendView(beta == 0 ? [Float](repeating: .nan, count: c.count) : c.values.map(Float.init),
                                       Layout(contiguous: [1, m, n]))
        Device.cpu.backend.matmul(try Self.backendView(a.values.map(Float.init), Layout(contiguous: [1, m, k])),
                                  try Self.backendView(b.values.map(Float.init), Layout(contiguous: [1, k, n])),
                                  out: out, alpha: alpha, beta: beta)
        let result = try Self.values(out), product = Ref.matmul(a, b)
        let wrong = (0..<c.count).filter {
            let expected = alpha * product.values[$0] + (beta == 0 ? 0 : beta * Double(Float(c.values[$0])))
            return !(Swift.abs(Double(result[$0]) - expected) < 1e-4 * max(1, Swift.abs(expected)))
        }
        #expect(wrong.count == 0, "the first wrong element in row \(wrong.first.map { $0 / n } ?? 0)")
        let bias = Ref.random([n], seed: 78)
        let withBias = linear(Tensor(a.values.map(Float.init), shape: [m, k]),
                              weight: Tensor(b.values.map(Float.init), shape: [k, n]).T,
                              bias: Tensor(bias.values.map(Float.init), shape: [n]))
        let expectedWithBias = Ref([m, n], (0..<(m * n)).map { product.values[$0] + bias.values[$0 % n] })
        #expect(mismatch(withBias, expectedWithBias, rtol: 1e-5, atol: 1e-4) == nil)
    }

    /// A float32 buffer of the CPU backend holding `values`, seen through `layout`.
    static func backendView(_ values: [Float], _ layout: Layout) throws -> BufferView {
        let backend = Device.cpu.backend
        let buffer = try backend.allocate(byteCount: values.count * 4)
        try values.withUnsafeBytes { try backend.copy(fromHost: $0, to: buffer, byteOffset: 0) }
        return BufferView(buffer: buffer, layout: layout, dtype: .float32)
    }

    /// The float32 contents of `view`'s whole buffer.
    static func values(_ view: BufferView) throws -> [Float] {
        var result = [Float](repeating: 0, count: view.buffer.byteCount / 4)
        try result.withUnsafeMutableBytes { try Device.cpu.backend.copy(toHost: $0, from: view.buffer, byteOffset: 0) }
        return result
    }

    /// The protocol's `out = alpha·a·b + beta·out` with a broadcast (stride 0) batch operand.
    @Test(arguments: [(1.0, 0.0), (2.5, 0.0), (1.0, 1.0), (-0.5, 2.0)])
    func alphaBetaAtTheBackend(_ alpha: Double, _ beta: Double) throws {
        let (batch, m, k, n) = (3, 4, 5, 6)
        let a = Ref.random([batch, m, k], seed: 67), b = Ref.random([k, n], seed: 68), c = Ref.random([batch, m, n], seed: 69)
        let av = try Self.backendView(a.values.map(Float.init), Layout(contiguous: [batch, m, k]))
        let bv = try Self.backendView(b.values.map(Float.init), Layout(shape: [batch, k, n], strides: [0, n, 1]))
        let out = try Self.backendView(beta == 0 ? [Float](repeating: .nan, count: c.count) : c.values.map(Float.init),
                                       Layout(contiguous: [batch, m, n]))
        Device.cpu.backend.matmul(av, bv, out: out, alpha: alpha, beta: beta)
        let result = try Self.values(out)
        let product = Ref.matmul(a, b)
        for i in 0..<c.count {
            let expected = alpha * product.values[i] + (beta == 0 ? 0 : beta * Double(Float(c.values[i])))
            #expect(Swift.abs(Double(result[i]) - expected) < 1e-4, "element \(i)")
        }
    }
}
