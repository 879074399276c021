import CSIMD
import KilnCore

/// Matrix multiplication on the CPU: a cache-blocked GEMM in the BLIS style. Panels of B (`kc × nc`) are packed
/// into contiguous slivers — which also converts dtypes and absorbs any strides, so transposed operands cost
/// nothing extra — unless B is read in place; A is read in place with any strides, or packed by rows when its dtype
/// needs converting; a register-tiled 12×32 micro-kernel runs over them.
enum CPUGemm {
    static let mr = 12
    static let nr = 32
    static let kc = 256
    static let mc = 48
    /// Columns of a packed panel of B: `kc × nc` float32 values, 512 KB, stay in a core's second-level cache. At
    /// 4096 a thread's 2 MB panel spilled it, and 4096³ ran at 256–269 GFLOP/s against 2048³'s 288–298 (now 285–294).
    static let nc = 512
    /// The most rows of C for which the right operand is read in place rather than packed.
    static let inPlaceRows = 96

    /// A strided matrix inside a buffer.
    struct Matrix {
        let base: UnsafeMutableRawPointer
        let dtype: DType
        let offset: Int
        let rowStride: Int
        let columnStride: Int

        /// The submatrix that starts `rows` rows and `columns` columns in.
        func shifted(rows: Int, columns: Int) -> Matrix {
            Matrix(base: base, dtype: dtype, offset: offset + rows * rowStride + columns * columnStride,
                   rowStride: rowStride, columnStride: columnStride)
        }

        /// The same elements seen as the transposed matrix.
        var transposed: Matrix {
            Matrix(base: base, dtype: dtype, offset: offset, rowStride: columnStride, columnStride: rowStride)
        }
    }

    /// `out = alpha·a·b + beta·out`, plus `bias` (`[n]`) on every row when given (see `Backend.matmul`).
    static func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double,
                       bias: BufferView? = nil) {
        require(a.shape.count == 3 && b.shape.count == 3 && out.shape.count == 3,
                     "matmul: the backend takes rank-3 operands, got \(a.shape), \(b.shape) → \(out.shape)")
        let (batch, m, k, n) = (out.shape[0], a.shape[1], a.shape[2], b.shape[2])
        require(a.shape[0] == batch && b.shape[0] == batch && b.shape[1] == k && out.shape[1] == m && out.shape[2] == n,
                     "matmul: shapes \(a.shape) and \(b.shape) do not give \(out.shape)")
        if out.dtype == .float64 {
            run(Double.self, a, b, out, alpha, beta, bias, batch, m, n, k)
        } else {
            run(Float.self, a, b, out, alpha, beta, bias, batch, m, n, k)
        }
    }

    private static func run<F: CPUFloat>(_ type: F.Type, _ a: BufferView, _ b: BufferView, _ out: BufferView,
                                         _ alpha: Double, _ beta: Double, _ bias: BufferView?, _ batch: Int, _ m: Int,
                                         _ n: Int, _ k: Int) {
        func matrix(_ v: BufferView, _ index: Int) -> Matrix {
            Matrix(base: v.base, dtype: v.dtype, offset: v.layout.offset + index * v.layout.strides[0],
                   rowStride: v.layout.strides[1], columnStride: v.layout.strides[2])
        }
        // The output is accumulated as F; a non-native output goes through a contiguous scratch copy.
        ElementwiseEngine.withOutput(out, as: F.self, preserving: beta != 0) { c in
        ElementwiseEngine.withOptionalContiguous(bias, as: F.self) { bias in
            let work = m * n * k
            let parallelBatches = batch >= 2 && work < 128 * 128 * 128
            let body = { (index: Int, threaded: Bool) in
                gemm(F.self, m: m, n: n, k: k, alpha: F(alpha), a: matrix(a, index), b: matrix(b, index),
                     beta: F(beta), c: c + index * m * n, bias: bias, threaded: threaded)
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
    }

    /// `C = alpha·A·B + beta·C` for one contiguous row-major `m × n` C.
    ///
    /// The micro-kernel reads its left operand in place with any strides when it is stored as `F`, and its right
    /// operand in place when that has unit column stride; otherwise the operand is packed (converted, and made
    /// unit-stride). Computing `Cᵀ = Bᵀ·Aᵀ` moves that need from B to A, so the orientation that packs (and, for
    /// `Cᵀ`, scatters) fewer elements is taken: a Linear layer's `x·Wᵀ` packs the small batch instead of the
    /// weight on every call.
    /// A `bias` (`n` elements) is added to every row as the first depth block's tiles are stored.
    static func gemm<F: CPUFloat>(_ type: F.Type, m: Int, n: Int, k: Int, alpha: F, a: Matrix, b: Matrix,
                                  beta: F, c: UnsafeMutablePointer<F>, bias: UnsafePointer<F>? = nil, threaded: Bool) {
        let empty = m == 0 || n == 0 || k == 0 || alpha == 0
        // With beta 0 the first depth block stores its products over C, so C is zeroed only when there are none.
        if beta == 0 && empty {
            c.update(repeating: 0, count: m * n)
        } else if beta != 0 && beta != 1 {
            for i in 0..<(m * n) { c[i] *= beta }
        }
        guard !empty else {
            if let bias { for i in 0..<m { (c + i * n).add(bias, count: n) } }
            return
        }
        let overwrite = beta == 0
        let output = Output(base: c, rowStride: n, columnStride: 1)
        // Cᵀ is written element by element, once per kc block: each write counts as 1.5 packed elements, as measured
        // on the training benchmarks' products (at 1, Linear layers' x·Wᵀ took Cᵀ and ran slower; at 2, products
        // 3136 deep gave up Cᵀ and ran slower).
        let transposedWrites = m * n * ((k + kc - 1) / kc) * 3 / 2
        if packedElements(F.self, left: b.transposed, rows: n, right: a.transposed, columns: m, k: k) + transposedWrites
            < packedElements(F.self, left: a, rows: m, right: b, columns: n, k: k) {
            blocked(F.self, m: n, n: m, k: k, alpha: alpha, left: b.transposed, right: a.transposed,
                    c: output.transposed, bias: bias.map { Bias(values: $0, perRow: true) }, overwrite: overwrite,
                    threaded: threaded)
        } else {
            blocked(F.self, m: m, n: n, k: k, alpha: alpha, left: a, right: b, c: output,
                    bias: bias.map { Bias(values: $0, perRow: false) }, overwrite: overwrite, threaded: threaded)
        }
    }

    /// Values added to the product once, by row or by column of the C being computed (a linear layer's bias is per
    /// column of C, so per row of Cᵀ).
    struct Bias<F> {
        let values: UnsafePointer<F>
        let perRow: Bool

        /// The bias of the block that starts `rows` rows and `columns` columns in.
        func shifted(rows: Int, columns: Int) -> Bias { Bias(values: values + (perRow ? rows : columns), perRow: perRow) }

        /// Adds the bias to a `rows × columns` tile of C that the micro-kernel has just stored, so still in the
        /// first-level cache (a pass after the product would read all of C from memory again). Kept out of line: in
        /// the micro-kernel's own stores it cost the depth loop registers.
        @inline(never)
        func add(to c: Output<F>, rows: Int, columns: Int) where F: CPUFloat {
            // Each line of the tile along the bias (a row of C, or a column of Cᵀ) gets the bias's values added.
            let (lines, length) = perRow ? (columns, rows) : (rows, columns)
            let (lineStride, step) = perRow ? (c.columnStride, c.rowStride) : (c.rowStride, c.columnStride)
            for l in 0..<lines {
                let line = c.base + l * lineStride
                if step == 1 {
                    line.add(values, count: length)
                } else {
                    for i in 0..<length { line[i * step] += values[i] }
                }
            }
        }
    }

    /// Where the micro-kernel adds its tile: `C[i, j]` is at `base + i·rowStride + j·columnStride`.
    struct Output<F> {
        let base: UnsafeMutablePointer<F>
        let rowStride: Int
        let columnStride: Int

        /// The same memory seen as `Cᵀ`.
        var transposed: Output { Output(base: base, rowStride: columnStride, columnStride: rowStride) }
    }

    /// Whether the right operand is read in place: stored as `F` with unit column stride, and few enough
    /// rows of C (`inPlaceRows`, as many as a convolution's output channels often are) that packing it would not pay
    /// for itself through reuse.
    private static func readsRightInPlace<F: CPUFloat>(_ type: F.Type, _ right: Matrix, rows: Int) -> Bool {
        right.dtype == F.storageDType && right.columnStride == 1 && rows <= inPlaceRows
    }

    /// The elements packed to compute `left·right` with `left` as the micro-kernel's left operand.
    private static func packedElements<F: CPUFloat>(_ type: F.Type, left: Matrix, rows: Int, right: Matrix,
                                                    columns: Int, k: Int) -> Int {
        (left.dtype == F.storageDType ? 0 : rows * k) + (readsRightInPlace(F.self, right, rows: rows) ? 0 : k * columns)
    }

    /// `C += alpha·left·right` (`C = …` when `overwrite`), split into one region of C per thread: column ranges
    /// or row ranges (`splitsColumns`). One dispatch per product.
    private static func blocked<F: CPUFloat>(_ type: F.Type, m: Int, n: Int, k: Int, alpha: F,
                                             left a: Matrix, right b: Matrix, c: Output<F>, bias: Bias<F>?,
                                             overwrite: Bool, threaded: Bool) {
        let packRight = !readsRightInPlace(F.self, b, rows: m)
        let slivers = (n + nr - 1) / nr, rowSlivers = (m + mr - 1) / mr
        let parts = threaded ? min(Parallel.threadCount, max(slivers, rowSlivers)) : 1
        let splitsColumns = splitsColumns(m: m, n: n, k: k, parts: parts, packRight: packRight)
        Parallel.forEach(parts, grain: 1) { range in
            for part in range {
                let units = splitsColumns ? slivers : rowSlivers, unit = splitsColumns ? nr : mr
                let start = units * part / parts * unit, end = min(units * (part + 1) / parts * unit, splitsColumns ? n : m)
                guard start < end else { continue }
                let (i0, rows, j0, columns) = splitsColumns ? (0, m, start, end - start) : (start, end - start, 0, n)
                region(F.self, m: rows, n: columns, k: k, alpha: alpha,
                       left: a.shifted(rows: i0, columns: 0), right: b.shifted(rows: 0, columns: j0), packRight: packRight,
                       c: Output(base: c.base + i0 * c.rowStride + j0 * c.columnStride,
                                 rowStride: c.rowStride, columnStride: c.columnStride),
                       bias: bias?.shifted(rows: i0, columns: j0), overwrite: overwrite)
            }
        }
    }

    /// Whether `parts` threads take column ranges of C rather than row ranges. With columns, every thread reads
    /// all of the left operand (once per `nc`-column panel of its range) and packs its share of the right; with
    /// rows, it reads its share of the left and packs all of the right. When both split evenly (two units a
    /// thread or more) the one that moves fewer elements is taken, a packed element counting twice (written,
    /// then read): a tall product such as a layer's `x·Wᵀ` over 2048 rows into 128 features splits rows, where
    /// columns made each thread read all of `x` (GPT step 81–84 → 77.5–78 ms, LSTM 6.2–6.3 → 5.8–6.0 ms).
    /// Otherwise the operand with more units of work is split.
    static func splitsColumns(m: Int, n: Int, k: Int, parts: Int, packRight: Bool) -> Bool {
        let slivers = (n + nr - 1) / nr, rowSlivers = (m + mr - 1) / mr
        guard slivers >= 2 * parts && rowSlivers >= 2 * parts else { return slivers >= 2 * parts || slivers >= rowSlivers }
        let panels = { (columns: Int) in (columns + nc - 1) / nc }, packing = packRight ? 2 : 1
        let byColumns = m * k * panels(n / parts) + packing * k * n / parts
        let byRows = m / parts * k * panels(n) + packing * k * n
        return byColumns <= byRows
    }

    /// `C += alpha·left·right` on one thread over `kc × nc` panels: the left operand's slivers read in place or
    /// packed per `mc × kc` block, the right operand's `nr`-column slivers read in place or packed per panel.
    /// With `overwrite`, the first depth block stores over C, so C's previous contents do not matter; `bias` is
    /// added as that block is stored.
    private static func region<F: CPUFloat>(_ type: F.Type, m: Int, n: Int, k: Int, alpha: F,
                                            left a: Matrix, right b: Matrix, packRight: Bool, c: Output<F>,
                                            bias: Bias<F>?, overwrite: Bool) {
        let packLeft = a.dtype != F.storageDType
        // Read in place, the right operand's last sliver is still packed when it is narrower than nr, so that
        // no vector load runs past the matrix.
        let packedB = UnsafeMutablePointer<F>.allocate(capacity: kc * (packRight ? min(nc, roundUp(n, nr)) : nr))
        defer { packedB.deallocate() }
        // A right operand read in place has few rows of C (`readsRightInPlace`): one block of all of them reads each
        // of its slivers from memory once.
        let blockRows = packRight ? mc : m
        let packedA = packLeft ? UnsafeMutablePointer<F>.allocate(capacity: blockRows * kc) : nil
        defer { packedA?.deallocate() }
        let leftElements = a.base.assumingMemoryBound(to: F.self) + a.offset
        let rightElements = b.base.assumingMemoryBound(to: F.self) + b.offset
        var jc = 0
        while jc < n {
            let ncEff = min(nc, n - jc)
            let slivers = (ncEff + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kcEff = min(kc, k - pc)
                if packRight {
                    packB(b, rows: pc, kcEff, columns: jc, ncEff, into: packedB)
                } else if ncEff % nr != 0 {
                    packB(b, rows: pc, kcEff, columns: jc + (slivers - 1) * nr, ncEff % nr, into: packedB)
                }
                var i0 = 0
                while i0 < m {
                    let mcEff = min(blockRows, m - i0)
                    if let packedA { packA(a, rows: i0, mcEff, columns: pc, kcEff, into: packedA) }
                    for s in 0..<slivers {
                        let j = s * nr, nEff = min(nr, ncEff - j)
                        let (right, rightStride) = packRight ? (UnsafePointer(packedB + s * nr * kcEff), nr)
                            : nEff < nr ? (UnsafePointer(packedB), nr)
                            : (UnsafePointer(rightElements + pc * b.rowStride + jc + j), b.rowStride)
                        var i = 0
                        while i < mcEff {
                            let (left, leftRowStride, leftDepthStride) = packedA.map { (UnsafePointer($0 + i * kcEff), kcEff, 1) }
                                ?? (UnsafePointer(leftElements + (i0 + i) * a.rowStride + pc * a.columnStride), a.rowStride, a.columnStride)
                            let tile = c.base + (i0 + i) * c.rowStride + (jc + j) * c.columnStride
                            microKernel(kcEff, left: left, rowStride: leftRowStride, depthStride: leftDepthStride,
                                        rows: min(mr, mcEff - i), right: right, depthStride: rightStride, columns: nEff,
                                        c: tile, rowStride: c.rowStride, columnStride: c.columnStride, alpha: alpha,
                                        overwrite: overwrite && pc == 0)
                            if pc == 0, let bias {
                                bias.shifted(rows: i0 + i, columns: jc + j)
                                    .add(to: Output(base: tile, rowStride: c.rowStride, columnStride: c.columnStride),
                                         rows: min(mr, mcEff - i), columns: nEff)
                            }
                            i += mr
                        }
                    }
                    i0 += mcEff
                }
                pc += kcEff
            }
            jc += ncEff
        }
    }

    @inline(__always)
    static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

    /// Packs `A[i0 ..< i0+mcEff, p0 ..< p0+kcEff]` row by row: row `i` at `packed + i·kcEff`, converted to `F`.
    static func packA<F: CPUFloat>(_ a: Matrix, rows i0: Int, _ mcEff: Int, columns p0: Int, _ kcEff: Int,
                                   into packed: UnsafeMutablePointer<F>) {
        if abs(a.columnStride) <= abs(a.rowStride) {
            for i in 0..<mcEff {
                ElementAccess.load(a.dtype, a.base, start: a.offset + (i0 + i) * a.rowStride + p0 * a.columnStride,
                                   stride: a.columnStride, count: kcEff, into: packed + i * kcEff)
            }
        } else {
            let line = UnsafeMutablePointer<F>.allocate(capacity: mcEff)
            defer { line.deallocate() }
            for kk in 0..<kcEff {
                ElementAccess.load(a.dtype, a.base, start: a.offset + i0 * a.rowStride + (p0 + kk) * a.columnStride,
                                   stride: a.rowStride, count: mcEff, into: line)
                for i in 0..<mcEff { packed[i * kcEff + kk] = line[i] }
            }
        }
    }

    /// Packs `B[p0 ..< p0+kcEff, j0 ..< j0+ncEff]` into `nr`-column slivers, each stored k-major, zero-padded.
    static func packB<F: CPUFloat>(_ b: Matrix, rows p0: Int, _ kcEff: Int, columns j0: Int, _ ncEff: Int,
                                   into packed: UnsafeMutablePointer<F>) {
        let slivers = (ncEff + nr - 1) / nr
        let rowMajor = abs(b.columnStride) <= abs(b.rowStride)
        // A sliver row of `nr` values is two vectors (zeroed as such in a narrow sliver).
        typealias V = SIMD16<F>
        let half = V.scalarCount * MemoryLayout<F>.stride
        for s in 0..<slivers {
            let sliver = packed + s * nr * kcEff
            let j = j0 + s * nr, width = min(nr, j0 + ncEff - j)
            if width < nr {
                // A narrow sliver's rows are zeroed whole, then filled.
                for kk in 0..<kcEff {
                    let row = UnsafeMutableRawPointer(sliver + kk &* nr)
                    row.storeBytes(of: V(), as: V.self)
                    row.storeBytes(of: V(), toByteOffset: half, as: V.self)
                }
            }
            if b.dtype == F.storageDType && b.columnStride == 1 {
                let source = b.base.assumingMemoryBound(to: F.self) + b.offset + p0 * b.rowStride + j
                // Rows move inline, where `update` called `memmove` for every row of at most 128 bytes.
                let bytes = width * MemoryLayout<F>.stride
                for kk in 0..<kcEff {
                    ElementAccess.copyBytes(from: UnsafeRawPointer(source + kk &* b.rowStride),
                                            to: UnsafeMutableRawPointer(sliver + kk &* nr), count: bytes)
                }
            } else if b.dtype == F.storageDType && b.rowStride == 1 {
                // Each column of B is contiguous (a transposed operand: a weight gradient's `dYᵀ`, a layer's `Wᵀ`): a
                // row of the sliver gathers one element of each, with no staging line; the columns' cache lines stay
                // in the first-level cache over sixteen rows.
                let source = b.base.assumingMemoryBound(to: F.self) + b.offset + p0 + j * b.columnStride
                let columnStride = b.columnStride
                for kk in 0..<kcEff {
                    let row = sliver + kk &* nr, from = source + kk
                    for c in 0..<width { row[c] = from[c &* columnStride] }
                }
            } else if rowMajor {
                for kk in 0..<kcEff {
                    ElementAccess.load(b.dtype, b.base, start: b.offset + (p0 + kk) * b.rowStride + j * b.columnStride,
                                       stride: b.columnStride, count: width, into: sliver + kk * nr)
                }
            } else {
                // Converted column by column through a staging line (only this rare case needs one).
                let line = UnsafeMutablePointer<F>.allocate(capacity: kcEff)
                defer { line.deallocate() }
                for c in 0..<width {
                    ElementAccess.load(b.dtype, b.base, start: b.offset + p0 * b.rowStride + (j + c) * b.columnStride,
                                       stride: b.rowStride, count: kcEff, into: line)
                    for kk in 0..<kcEff { sliver[kk * nr + c] = line[kk] }
                }
            }
        }
    }

    /// `C[0..<rows, 0..<columns] += alpha · Ã·B̃` (`=` when `overwrite`) for one `mr × kc` sliver of the left operand
    /// (element `(r, p)` at `left[r·rowStride + p·depthStride]`) and one `kc × nr` sliver of the right (row `p` at
    /// `right + p·depthStride`, `nr` contiguous values). Rows past `rows` repeat the last real row and are not stored.
    ///
    /// Twenty-four float32 accumulators (twelve rows, two vectors each) keep both fused multiply-add pipes of a core
    /// busy through their four-cycle latency; each depth step loads two vectors of B and broadcasts twelve of A.
    @inline(__always)
    static func microKernel<F: CPUFloat>(_ kc: Int, left: UnsafePointer<F>, rowStride: Int, depthStride: Int,
                                         rows: Int, right: UnsafePointer<F>, depthStride rightStride: Int,
                                         columns: Int, c: UnsafeMutablePointer<F>, rowStride ldc: Int,
                                         columnStride: Int, alpha: F, overwrite: Bool) {
        typealias V = SIMD16<F>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
        var c80 = V(), c81 = V(), c90 = V(), c91 = V(), cA0 = V(), cA1 = V(), cB0 = V(), cB1 = V()
        let last = rows - 1
        @inline(__always) func leftRow(_ r: Int) -> UnsafePointer<F> { left + min(r, last) * rowStride }
        let a0 = leftRow(0), a1 = leftRow(1), a2 = leftRow(2), a3 = leftRow(3), a4 = leftRow(4), a5 = leftRow(5)
        let a6 = leftRow(6), a7 = leftRow(7), a8 = leftRow(8), a9 = leftRow(9), aA = leftRow(10), aB = leftRow(11)
        let bStep = rightStride * MemoryLayout<F>.stride, half = V.scalarCount * MemoryLayout<F>.stride
        // The depth loop for the first 4, 8 or 12 rows: a short sliver (a 16-row block's last 4 rows) does not pay for
        // twelve. Each call below passes a constant, so each inlined loop keeps only its own rows.
        @inline(__always) func accumulate(groups: Int) {
            var b = UnsafeRawPointer(right), p = 0
            for _ in 0..<kc {
                let b0 = b.loadUnaligned(as: V.self), b1 = b.loadUnaligned(fromByteOffset: half, as: V.self)
                @inline(__always) func row(_ a: UnsafePointer<F>, _ low: inout V, _ high: inout V) {
                    let broadcast = V(repeating: a[p])
                    low = F.multiplyAdd(b0, broadcast, low)
                    high = F.multiplyAdd(b1, broadcast, high)
                }
                row(a0, &c00, &c01); row(a1, &c10, &c11); row(a2, &c20, &c21); row(a3, &c30, &c31)
                if groups > 1 { row(a4, &c40, &c41); row(a5, &c50, &c51); row(a6, &c60, &c61); row(a7, &c70, &c71) }
                if groups > 2 { row(a8, &c80, &c81); row(a9, &c90, &c91); row(aA, &cA0, &cA1); row(aB, &cB0, &cB1) }
                b += bStep
                p &+= depthStride
            }
        }
        prefetchTile(c, rows: rows, columns: columns, rowStride: ldc, columnStride: columnStride)
        switch rows {
        case ...4: accumulate(groups: 1)
        case ...8: accumulate(groups: 2)
        default: accumulate(groups: 3)
        }
        @inline(__always) func store(_ r: Int, _ low: V, _ high: V) {
            guard r < rows else { return }
            let row = c + r * ldc
            if columns == nr && columnStride == 1 {
                let raw = UnsafeMutableRawPointer(row)
                if overwrite {
                    raw.storeBytes(of: low * alpha, as: V.self)
                    raw.storeBytes(of: high * alpha, toByteOffset: half, as: V.self)
                } else {
                    raw.storeBytes(of: F.multiplyAdd(low, V(repeating: alpha), raw.loadUnaligned(as: V.self)), as: V.self)
                    raw.storeBytes(of: F.multiplyAdd(high, V(repeating: alpha), raw.loadUnaligned(fromByteOffset: half, as: V.self)),
                                   toByteOffset: half, as: V.self)
                }
            } else {
                for j in 0..<columns {
                    let value = alpha * (j < V.scalarCount ? low[j] : high[j - V.scalarCount])
                    if overwrite { row[j * columnStride] = value } else { row[j * columnStride] += value }
                }
            }
        }
        store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31)
        store(4, c40, c41); store(5, c50, c51); store(6, c60, c61); store(7, c70, c71)
        store(8, c80, c81); store(9, c90, c91); store(10, cA0, cA1); store(11, cB0, cB1)
    }

    /// Asks for every cache line of a `rows × columns` tile of C before the depth loop, so that the stores after
    /// it find the tile in the cache: the rows of a large C lie a page or more apart, which the hardware
    /// prefetchers do not follow. Worth 1–4% on products of 4096 rows.
    @inline(__always)
    private static func prefetchTile<F>(_ c: UnsafeMutablePointer<F>, rows: Int, columns: Int, rowStride: Int,
                                        columnStride: Int) {
        // Lines of the tile run along whichever stride is 1 (C's rows, or Cᵀ's columns); each is prefetched at
        // every 64 bytes and at its last element.
        guard columnStride == 1 || rowStride == 1 else { return }
        let (lines, length, lineStride) = columnStride == 1 ? (rows, columns, rowStride) : (columns, rows, columnStride)
        let step = 64 / MemoryLayout<F>.stride
        for l in 0..<lines {
            let line = c + l * lineStride
            for e in stride(from: 0, to: length, by: step) { kiln_prefetch_for_write(line + e) }
            kiln_prefetch_for_write(line + length - 1)
        }
    }
}
