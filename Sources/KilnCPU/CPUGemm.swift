import KilnCore

/// Matrix multiplication on the CPU: a cache-blocked GEMM in the BLIS style. Panels of B (`kc × nc`) and blocks
/// of A (`mc × kc`) are packed into contiguous slivers — which also converts dtypes and absorbs any strides,
/// so transposed operands cost nothing extra — and a register-tiled 6×16 micro-kernel runs over them.
enum CPUGemm {
    static let mr = 6
    static let nr = 16
    static let kc = 256
    static let mc = 96
    static let nc = 4096

    /// A strided matrix inside a buffer.
    struct Matrix {
        let base: UnsafeMutableRawPointer
        let dtype: DType
        let offset: Int
        let rowStride: Int
        let columnStride: Int
    }

    static func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double) {
        require(a.shape.count == 3 && b.shape.count == 3 && out.shape.count == 3,
                     "matmul: the backend takes rank-3 operands, got \(a.shape), \(b.shape) → \(out.shape)")
        let (batch, m, k, n) = (out.shape[0], a.shape[1], a.shape[2], b.shape[2])
        require(a.shape[0] == batch && b.shape[0] == batch && b.shape[1] == k && out.shape[1] == m && out.shape[2] == n,
                     "matmul: shapes \(a.shape) and \(b.shape) do not give \(out.shape)")
        if out.dtype == .float64 {
            run(Double.self, a, b, out, alpha, beta, batch, m, n, k)
        } else {
            run(Float.self, a, b, out, alpha, beta, batch, m, n, k)
        }
    }

    private static func run<F: CPUFloat & SIMDScalar>(_ type: F.Type, _ a: BufferView, _ b: BufferView, _ out: BufferView,
                                                     _ alpha: Double, _ beta: Double, _ batch: Int, _ m: Int, _ n: Int, _ k: Int) {
        func matrix(_ v: BufferView, _ index: Int) -> Matrix {
            Matrix(base: v.base, dtype: v.dtype, offset: v.layout.offset + index * v.layout.strides[0],
                   rowStride: v.layout.strides[1], columnStride: v.layout.strides[2])
        }
        // The output is accumulated as F; a non-native output goes through a contiguous scratch copy.
        ElementwiseEngine.withOutput(out, as: F.self, preserving: beta != 0) { c in
            let work = m * n * k
            let parallelBatches = batch >= 2 && work < 128 * 128 * 128
            let body = { (index: Int, threaded: Bool) in
                gemm(F.self, m: m, n: n, k: k, alpha: F(alpha), a: matrix(a, index), b: matrix(b, index),
                     beta: F(beta), c: c + index * m * n, threaded: threaded)
            }
            if parallelBatches {
                Parallel.forEach(batch, grain: max(1, (64 * 64 * 64) / max(work, 1))) { range in
                    for index in range { body(index, false) }
                }
            } else {
                for index in 0..<batch { body(index, work >= 32 * 32 * 32) }
            }
        }
    }

    /// `C = alpha·A·B + beta·C` for one contiguous row-major `m × n` C.
    static func gemm<F: CPUFloat & SIMDScalar>(_ type: F.Type, m: Int, n: Int, k: Int, alpha: F, a: Matrix, b: Matrix,
                                              beta: F, c: UnsafeMutablePointer<F>, threaded: Bool) {
        if beta == 0 {
            c.update(repeating: 0, count: m * n)
        } else if beta != 1 {
            for i in 0..<(m * n) { c[i] *= beta }
        }
        guard m > 0, n > 0, k > 0, alpha != 0 else { return }
        let packedB = UnsafeMutablePointer<F>.allocate(capacity: kc * min(nc, roundUp(n, nr)))
        defer { packedB.deallocate() }
        var jc = 0
        while jc < n {
            let ncEff = min(nc, n - jc)
            var pc = 0
            while pc < k {
                let kcEff = min(kc, k - pc)
                packB(b, rows: pc, kcEff, columns: jc, ncEff, into: packedB, threaded: threaded)
                // Tasks: blocks of mc rows × groups of nr-column slivers, enough for every thread.
                let mBlocks = (m + mc - 1) / mc
                let slivers = (ncEff + nr - 1) / nr
                let groups = threaded ? min(slivers, max(1, (Parallel.threadCount * 2 + mBlocks - 1) / mBlocks)) : 1
                let tasks = mBlocks * groups
                let runTask = { (task: Int) in
                    let block = task / groups, group = task % groups
                    let i0 = block * mc, mcEff = min(mc, m - i0)
                    let s0 = slivers * group / groups, s1 = slivers * (group + 1) / groups
                    let packedA = UnsafeMutablePointer<F>.allocate(capacity: roundUp(mcEff, mr) * kcEff)
                    defer { packedA.deallocate() }
                    packA(a, rows: i0, mcEff, columns: pc, kcEff, into: packedA)
                    for s in s0..<s1 {
                        let j = s * nr, nEff = min(nr, ncEff - j)
                        var i = 0
                        while i < mcEff {
                            microKernel(kcEff, packedA + i * kcEff, packedB + s * nr * kcEff,
                                        c + (i0 + i) * n + jc + j, ldc: n, alpha: alpha,
                                        rows: min(mr, mcEff - i), columns: nEff)
                            i += mr
                        }
                    }
                }
                if tasks > 1 && threaded {
                    Parallel.forEach(tasks, grain: 1) { range in range.forEach(runTask) }
                } else {
                    (0..<tasks).forEach(runTask)
                }
                pc += kcEff
            }
            jc += ncEff
        }
    }

    @inline(__always)
    static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

    /// Packs `A[i0 ..< i0+mcEff, p0 ..< p0+kcEff]` into `mr`-row slivers, each stored k-major, zero-padded.
    static func packA<F: CPUFloat>(_ a: Matrix, rows i0: Int, _ mcEff: Int, columns p0: Int, _ kcEff: Int,
                                   into packed: UnsafeMutablePointer<F>) {
        let line = UnsafeMutablePointer<F>.allocate(capacity: max(kcEff, mcEff))
        defer { line.deallocate() }
        let padded = roundUp(mcEff, mr)
        if mcEff < padded {
            // Zero the padding rows of the last sliver.
            let s = mcEff / mr
            for kk in 0..<kcEff { for r in (mcEff % mr)..<mr { packed[s * mr * kcEff + kk * mr + r] = 0 } }
        }
        if a.dtype == F.storageDType {
            // Stored as F: read in place, no conversion.
            let source = a.base.assumingMemoryBound(to: F.self) + a.offset + i0 * a.rowStride + p0 * a.columnStride
            for i in 0..<mcEff {
                let row = source + i * a.rowStride, sliver = packed + (i / mr) * mr * kcEff + i % mr
                for kk in 0..<kcEff { sliver[kk * mr] = row[kk * a.columnStride] }
            }
        } else if abs(a.columnStride) <= abs(a.rowStride) {
            for i in 0..<mcEff {
                ElementAccess.load(a.dtype, a.base, start: a.offset + (i0 + i) * a.rowStride + p0 * a.columnStride,
                                   stride: a.columnStride, count: kcEff, into: line)
                let sliver = packed + (i / mr) * mr * kcEff + i % mr
                for kk in 0..<kcEff { sliver[kk * mr] = line[kk] }
            }
        } else {
            for kk in 0..<kcEff {
                ElementAccess.load(a.dtype, a.base, start: a.offset + i0 * a.rowStride + (p0 + kk) * a.columnStride,
                                   stride: a.rowStride, count: mcEff, into: line)
                for i in 0..<mcEff { packed[(i / mr) * mr * kcEff + kk * mr + i % mr] = line[i] }
            }
        }
    }

    /// Packs `B[p0 ..< p0+kcEff, j0 ..< j0+ncEff]` into `nr`-column slivers, each stored k-major, zero-padded.
    static func packB<F: CPUFloat>(_ b: Matrix, rows p0: Int, _ kcEff: Int, columns j0: Int, _ ncEff: Int,
                                   into packed: UnsafeMutablePointer<F>, threaded: Bool) {
        let slivers = (ncEff + nr - 1) / nr
        let rowMajor = abs(b.columnStride) <= abs(b.rowStride)
        Parallel.forEach(slivers, grain: threaded ? max(1, 4096 / max(kcEff, 1)) : .max) { range in
            let line = UnsafeMutablePointer<F>.allocate(capacity: max(kcEff, nr))
            defer { line.deallocate() }
            for s in range {
                let sliver = packed + s * nr * kcEff
                let j = j0 + s * nr, width = min(nr, j0 + ncEff - j)
                if width < nr { for kk in 0..<kcEff { for c in width..<nr { sliver[kk * nr + c] = 0 } } }
                if b.dtype == F.storageDType && b.columnStride == 1 {
                    let source = b.base.assumingMemoryBound(to: F.self) + b.offset + p0 * b.rowStride + j
                    for kk in 0..<kcEff { (sliver + kk * nr).update(from: source + kk * b.rowStride, count: width) }
                } else if rowMajor {
                    for kk in 0..<kcEff {
                        ElementAccess.load(b.dtype, b.base, start: b.offset + (p0 + kk) * b.rowStride + j * b.columnStride,
                                           stride: b.columnStride, count: width, into: sliver + kk * nr)
                    }
                } else {
                    for c in 0..<width {
                        ElementAccess.load(b.dtype, b.base, start: b.offset + p0 * b.rowStride + (j + c) * b.columnStride,
                                           stride: b.rowStride, count: kcEff, into: line)
                        for kk in 0..<kcEff { sliver[kk * nr + c] = line[kk] }
                    }
                }
            }
        }
    }

    /// `C[0..<rows, 0..<columns] += alpha · Ã·B̃` for one packed `mr × kc` sliver of A and `kc × nr` sliver of B.
    @inline(__always)
    static func microKernel<F: CPUFloat & SIMDScalar>(_ kc: Int, _ a: UnsafePointer<F>, _ b: UnsafePointer<F>,
                                                     _ c: UnsafeMutablePointer<F>, ldc: Int, alpha: F,
                                                     rows: Int, columns: Int) {
        typealias V = SIMD16<F>
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        let bRaw = UnsafeRawPointer(b)
        for kk in 0..<kc {
            let bv = bRaw.loadUnaligned(fromByteOffset: kk * MemoryLayout<V>.stride, as: V.self)
            let ak = a + kk * 6
            c0 += bv * ak[0]
            c1 += bv * ak[1]
            c2 += bv * ak[2]
            c3 += bv * ak[3]
            c4 += bv * ak[4]
            c5 += bv * ak[5]
        }
        @inline(__always) func store(_ r: Int, _ v: V) {
            guard r < rows else { return }
            let row = c + r * ldc
            if columns == 16 {
                let raw = UnsafeMutableRawPointer(row)
                raw.storeBytes(of: raw.loadUnaligned(as: V.self) + v * alpha, as: V.self)
            } else {
                for j in 0..<columns { row[j] += alpha * v[j] }
            }
        }
        store(0, c0); store(1, c1); store(2, c2); store(3, c3); store(4, c4); store(5, c5)
    }
}
