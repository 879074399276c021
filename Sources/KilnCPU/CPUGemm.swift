import CSIMD
import KilnCore
import Synchronization

/// Matrix multiplication on the CPU: a cache-blocked GEMM in the BLIS style. Panels of B (`kc × nc`) are packed
/// into contiguous slivers — which also converts dtypes and absorbs any strides, so transposed operands cost
/// nothing extra — unless B is read in place; A is packed into `mr`-row micro-panels where a thread's columns reuse
/// it enough (or its dtype needs converting), and read in place with any strides otherwise; a register-tiled
/// micro-kernel (`mr × nr`) runs over them.
enum CPUGemm {
    /// Rows of the micro-kernel's tile: twelve where the target has 32 vector registers of sixteen floats (AVX-512),
    /// six otherwise (AVX2's sixteen registers of eight: its twelve accumulators, two of B and a broadcast fill them;
    /// the same with SSE's sixteen of four, rows of eight floats).
    @inline(__always) static var mr: Int { KILN_WIDE_VECTOR_REGISTERS != 0 ? 12 : 6 }
    /// Columns of the micro-kernel's tile: two vectors of sixteen floats a row (AVX-512), one (AVX2, AArch64), or
    /// one of eight (x86-64 without AVX, whose twenty-four registers for a 6×16 tile spilled: 2048³ at 31–36
    /// GFLOP/s on two Zen 3 cores, 33–49 with rows of eight). See `mr`.
    @inline(__always) static var nr: Int {
        KILN_WIDE_VECTOR_REGISTERS != 0 ? 32 : KILN_NARROW_VECTOR_REGISTERS != 0 ? 8 : 16
    }
    /// Whether the micro-kernel's depth loop takes four steps an iteration where its caller allows (see
    /// `microKernel`): with AVX2's 6×16 tile, where that was measured to pay. The portable x86-64 build's rows of eight,
    /// two SSE registers each, ran two-thread 2048³ at 30–34 GFLOP/s unrolled against 35–39 rolled; AVX-512's and
    /// AArch64's tiles are unmeasured, so they keep the rolled loop they were tuned with.
    @inline(__always) static var unrollsDepth: Bool {
        #if arch(x86_64)
        return nr == 16
        #else
        return false
        #endif
    }
    /// How many copies of each value a packed micro-panel of the left operand holds (see `packA`): four for float32
    /// rows of eight (x86-64 without AVX), where the micro-kernel then loads each broadcast whole, as SSE has no
    /// broadcast from memory (a C model of the tile on a Zen 3 core: 20–26 GFLOP/s with a load and a shuffle, 35–37
    /// with copies; the portable build's 2048³ on two threads, alternated six times: 30–42 → 41–44). One otherwise.
    @inline(__always) static func leftCopies<F>(_ type: F.Type) -> Int { nr == 8 && F.self == Float.self ? 4 : 1 }
    /// Depth of a block: a tile of C sums `kc` products per element between its loads and stores. For float32
    /// with AVX2's tile, 384: a `kc × nr` sliver of B is then 24 KB of the first-level cache, and one thread ran
    /// 2048³, 4096×768·768×3072 and 4096×3072·3072×768 2–7% faster than at 256, making fewer passes over C (six
    /// alternations on a Zen 3 core: 68.1 → 70.9, 67.5 → 70.2 and 64.6/66.3 → 68.9/68.8 GFLOP/s). 256 elsewhere:
    /// AVX-512's 32-column float32 sliver and AVX2's float64 one are then 32 KB, as tuned, and the portable build's
    /// left panels hold four copies of each value, 24 KB a tile (its GEMM was level at 384, within its noise).
    @inline(__always) static func kc<F>(_ type: F.Type) -> Int {
        #if arch(x86_64)
        return nr == 16 && F.self == Float.self ? 384 : 256
        #else
        return 256
        #endif
    }
    static let mc = 48
    /// Columns of a packed panel of B: `kc × nc` float32 values, 512 KB at a depth of 256, stay in a core's
    /// second-level cache (768 KB at AVX2's 384 spill it, but the panel is read a sliver at a time, once per `mc`
    /// rows, so its slivers stream from the third level at a few GB/s). At
    /// 4096 a thread's 2 MB panel spilled it, and 4096³ ran at 256–269 GFLOP/s against 2048³'s 288–298 (now 285–294).
    static let nc = 512
    /// The most rows of C for which the right operand is read in place rather than packed.
    static let inPlaceRows = 96
    /// The fewest columns of C in a thread's region for which the left operand is packed into micro-panels: the
    /// kernel then reads it as one stream (single-threaded 2048³ 144.5 → 153–154 GFLOP/s, median of eight runs),
    /// but the packing, a transposition, has to be repaid by the columns that reuse it (two threads each packing
    /// all of 1024³'s left operand for 512 columns ran 3% slower).
    static let packedLeftColumns = 1024
    /// Rows of the left operand packed at a time: 2–3 MB of float32 micro-panels at `kc`, reused over all of a thread's
    /// columns before the next rows are packed.
    static let packedLeftRows = 2048

    /// The next unclaimed row of a product whose threads claim its blocks of rows as they come free (see `blocked`).
    final class RowClaims: Sendable {
        /// The first row no thread has claimed yet.
        let next = Atomic<Int>(0)
    }

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
    /// The micro-kernel can read its left operand in place with any strides when it is stored as `F` (it packs it
    /// anyway where a region is wide enough to repay that, `packsLeft`), and its right operand in place when that
    /// has unit column stride; otherwise the operand must be packed (converted, and made unit-stride). Computing
    /// `Cᵀ = Bᵀ·Aᵀ` (into scratch, then transposed into C) moves that need from B to A, so the orientation that must
    /// pack and transpose fewer elements is taken: a Linear layer's `x·Wᵀ` over a batch of 128 and 4096 features
    /// packs the batch instead of the weight on every call.
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
        // Cᵀ is computed into scratch and transposed into C once at the end, each element counted as six packed ones:
        // at three, as a packing transposition, a batch of 128 through a 784 → 512 layer took Cᵀ and ran 10% slower.
        // (Written into C tile by tile, element by element once per depth block, Cᵀ ran at 35–90 GFLOP/s where C
        // ran at 115–240.)
        if packedElements(F.self, left: b.transposed, rows: n, right: a.transposed, columns: m, k: k) + 6 * m * n
            < packedElements(F.self, left: a, rows: m, right: b, columns: n, k: k) {
            let scratch = UnsafeMutablePointer<F>.allocate(capacity: m * n)
            defer { scratch.deallocate() }
            blocked(F.self, m: n, n: m, k: k, alpha: alpha, left: b.transposed, right: a.transposed,
                    c: Output(base: scratch, rowStride: m), bias: bias.map { Bias(values: $0, perRow: true) },
                    overwrite: true, threaded: threaded)
            transpose(scratch, into: c, m: m, n: n, adding: !overwrite, threaded: threaded)
        } else {
            blocked(F.self, m: m, n: n, k: k, alpha: alpha, left: a, right: b, c: Output(base: c, rowStride: n),
                    bias: bias.map { Bias(values: $0, perRow: false) }, overwrite: overwrite, threaded: threaded)
        }
    }

    /// `C (+)= Tᵀ` for a row-major `m × n` C and `n × m` T (`+=` when `adding`), in 32×32 blocks whose lines on
    /// both sides stay in the first-level cache, row blocks of C split over threads.
    static func transpose<F: CPUFloat>(_ t: UnsafePointer<F>, into c: UnsafeMutablePointer<F>, m: Int, n: Int,
                                       adding: Bool, threaded: Bool) {
        let block = 32
        Parallel.forEach((m + block - 1) / block, grain: threaded ? max(1, (1 << 14) / (block * n)) : Int.max) { blocks in
            for i0 in stride(from: blocks.lowerBound * block, to: min(blocks.upperBound * block, m), by: block) {
                let rows = min(block, m - i0)
                for j0 in stride(from: 0, to: n, by: block) {
                    let columns = min(block, n - j0)
                    for i in i0..<(i0 + rows) {
                        let to = c + i * n + j0, from = t + j0 * m + i
                        if adding {
                            for j in 0..<columns { to[j] += from[j * m] }
                        } else {
                            for j in 0..<columns { to[j] = from[j * m] }
                        }
                    }
                }
            }
        }
    }

    /// Values added to the product once, by row or by column of the C being computed (a linear layer's bias is per
    /// column of C, so per row of Cᵀ).
    struct Bias<F> {
        let values: UnsafePointer<F>
        let perRow: Bool

        /// The bias of the block that starts `rows` rows and `columns` columns in.
        func shifted(rows: Int, columns: Int) -> Bias { Bias(values: values + (perRow ? rows : columns), perRow: perRow) }

        /// Adds the bias to a `rows × columns` block of C that the micro-kernel has just stored, so still in the
        /// second-level cache (a pass after the product would read all of C from memory again). Not in the
        /// micro-kernel's own stores, where it cost the depth loop registers, nor tile by tile, where its calls and
        /// eight-column rows cost 3% of the default training task.
        func add(to c: Output<F>, rows: Int, columns: Int) where F: CPUFloat {
            for r in 0..<rows {
                let row = c.base + r * c.rowStride
                if perRow {
                    let value = values[r]
                    for j in 0..<columns { row[j] += value }
                } else {
                    row.add(values, count: columns)
                }
            }
        }
    }

    /// Where the micro-kernel adds its tile: `C[i, j]` is at `base + i·rowStride + j`.
    struct Output<F> {
        let base: UnsafeMutablePointer<F>
        let rowStride: Int
    }

    /// Whether the right operand is read in place: stored as `F` with unit column stride, and few enough
    /// rows of C (`inPlaceRows`, as many as a convolution's output channels often are) that packing it would not pay
    /// for itself through reuse.
    private static func readsRightInPlace<F: CPUFloat>(_ type: F.Type, _ right: Matrix, rows: Int) -> Bool {
        right.dtype == F.storageDType && right.columnStride == 1 && rows <= inPlaceRows
    }

    /// The elements that must be packed to compute `left·right` with `left` as the micro-kernel's left operand.
    private static func packedElements<F: CPUFloat>(_ type: F.Type, left: Matrix, rows: Int, right: Matrix,
                                                    columns: Int, k: Int) -> Int {
        (packsLeft(F.self, left, columns: columns) ? 3 * rows * k : 0)
            + (readsRightInPlace(F.self, right, rows: rows) ? 0 : k * columns)
    }

    /// `C += alpha·left·right` (`C = …` when `overwrite`), split into one region of C per thread: column ranges
    /// or row ranges (`splitsColumns`), or blocks of rows claimed as threads come free. One dispatch per product.
    private static func blocked<F: CPUFloat>(_ type: F.Type, m: Int, n: Int, k: Int, alpha: F,
                                             left a: Matrix, right b: Matrix, c: Output<F>, bias: Bias<F>?,
                                             overwrite: Bool, threaded: Bool) {
        let packRight = !readsRightInPlace(F.self, b, rows: m)
        let slivers = (n + nr - 1) / nr, rowSlivers = (m + mr - 1) / mr
        let parts = threaded ? min(Parallel.threadCount, max(slivers, rowSlivers)) : 1
        let splitsColumns = splitsColumns(m: m, n: n, k: k, parts: parts, packRight: packRight,
                                          packsLeft: { packsLeft(F.self, a, columns: $0) })
        // A product of one depth block and one packed panel that splits rows, into four blocks of rows a thread or
        // more: every thread's region is all of C, whose `mc`-row blocks the threads claim as they come free (each
        // packs the panel once, as with fixed ranges). Equal fixed ranges finished apart on a shared virtual machine,
        // the lagging thread changing from run to run (see the README); claimed, the default training task's
        // products of this kind took 14% less time (200-step runs of the portable build on two Zen 3 cores, five
        // alternations: medians 2.53 → 2.18 s) and its steps 48.8 → 44.6 ms, with bit-identical results.
        let claims = parts > 1 && !splitsColumns && packRight && k <= kc(F.self) && n <= nc && m >= 4 * parts * mc
            ? RowClaims() : nil
        Parallel.forEach(parts, grain: 1) { range in
            for part in range {
                let units = splitsColumns ? slivers : rowSlivers, unit = splitsColumns ? nr : mr
                let (start, end) = claims != nil ? (0, m)
                    : (units * part / parts * unit, min(units * (part + 1) / parts * unit, splitsColumns ? n : m))
                guard start < end else { continue }
                let (i0, rows, j0, columns) = splitsColumns ? (0, m, start, end - start) : (start, end - start, 0, n)
                region(F.self, m: rows, n: columns, k: k, alpha: alpha,
                       left: a.shifted(rows: i0, columns: 0), right: b.shifted(rows: 0, columns: j0), packRight: packRight,
                       c: Output(base: c.base + i0 * c.rowStride + j0, rowStride: c.rowStride),
                       bias: bias?.shifted(rows: i0, columns: j0), overwrite: overwrite, claims: claims)
            }
        }
    }

    /// Whether `parts` threads take column ranges of C rather than row ranges. With columns, every thread reads
    /// all of the left operand and packs its share of the right; with rows, it reads its share of the left and packs
    /// all of the right. When both split evenly (two units a thread or more) the one that moves fewer elements is
    /// taken, a packed element of the right operand counting twice (written, then read), a left operand read in
    /// place once per `nc`-column panel, and one packed into micro-panels (`packsLeft(columns)` of a region) three
    /// times, as a transposition. So a tall product such as a layer's `x·Wᵀ` over 2048 rows into 128 features
    /// splits rows, where columns made each thread read all of `x` (GPT step 81–84 → 77.5–78 ms, LSTM 6.2–6.3 →
    /// 5.8–6.0 ms), and so do squares of 2048 and more, where columns made each thread pack all of the left
    /// operand (4096³ 297 → 306 GFLOP/s, medians of six runs). Otherwise the operand with more units of work is
    /// split.
    static func splitsColumns(m: Int, n: Int, k: Int, parts: Int, packRight: Bool, packsLeft: (Int) -> Bool) -> Bool {
        let slivers = (n + nr - 1) / nr, rowSlivers = (m + mr - 1) / mr
        guard slivers >= 2 * parts && rowSlivers >= 2 * parts else { return slivers >= 2 * parts || slivers >= rowSlivers }
        func moved(rows: Int, columns: Int) -> Int {
            let packed = packsLeft(columns)
            let left = packed ? 3 * rows * k : rows * k * ((columns + nc - 1) / nc)
            let rightPasses = packed ? (rows + packedLeftRows - 1) / packedLeftRows : 1
            return left + (packRight ? 2 : 1) * k * columns * rightPasses
        }
        return moved(rows: m, columns: n / parts) <= moved(rows: m / parts, columns: n)
    }

    /// `C += alpha·left·right` on one thread over `kc × nc` panels: the right operand's `nr`-column slivers read in
    /// place or packed per panel; the left operand packed into micro-panels once per depth block and
    /// `packedLeftRows` rows (one block of rows where the region is one panel wide) where `packsLeft`, and read in
    /// place otherwise. With `overwrite`, the first depth block stores over C, so C's previous contents
    /// do not matter; `bias` is added as that block is stored. With `claims` (one depth block only), the region is
    /// all of C's rows, taken `mc` at a time from the counter that the product's threads share.
    private static func region<F: CPUFloat>(_ type: F.Type, m: Int, n: Int, k: Int, alpha: F,
                                            left a: Matrix, right b: Matrix, packRight: Bool, c: Output<F>,
                                            bias: Bias<F>?, overwrite: Bool, claims: RowClaims? = nil) {
        // Read in place, the right operand's last sliver is still packed when it is narrower than nr, so that
        // no vector load runs past the matrix. The buffers hold one depth block: a product shallower than `kc`
        // (attention's 32-deep heads) takes less than the 128 KB at which `malloc` maps fresh pages for a block.
        let depth = min(k, kc(F.self))
        assert(claims == nil || k == depth, "GEMM: rows are claimed only for one depth block, got \(k) deep")
        let packedB = allocateLines(F.self, count: depth * (packRight ? min(nc, roundUp(n, nr)) : nr))
        defer { UnsafeMutableRawPointer(packedB).deallocate() }
        // A right operand read in place has few rows of C (`readsRightInPlace`): one block of all of them reads each
        // of its slivers from memory once.
        let blockRows = packRight ? mc : m
        let packLeft = packsLeft(F.self, a, columns: n)
        // With one panel of columns, B is packed once a depth block and A one block of rows at a time, which stays in
        // the second-level cache while the panel's slivers run over it (2048×384·384×128 in the portable build on two
        // Zen 3 threads, alternated six times: medians 26 → 30 GFLOP/s).
        let copies = leftCopies(F.self), onePanel = n <= nc
        let chunkRows = claims != nil ? blockRows
            : packLeft ? min(m, onePanel ? blockRows : roundUp(packedLeftRows, blockRows)) : m
        let packedA = packLeft ? allocateLines(F.self, count: roundUp(chunkRows, mr) * depth * copies) : nil
        defer { packedA.map { UnsafeMutableRawPointer($0).deallocate() } }
        let leftElements = a.base.assumingMemoryBound(to: F.self) + a.offset
        let rightElements = b.base.assumingMemoryBound(to: F.self) + b.offset
        var pc = 0
        while pc < k {
            let kcEff = min(depth, k - pc)
            var r0 = 0, firstChunk = true
            while true {
                if let claims { r0 = claims.next.wrappingAdd(chunkRows, ordering: .relaxed).oldValue }
                guard r0 < m else { break }
                let rows = min(chunkRows, m - r0)
                if let packedA { packA(a, rows: r0, rows, columns: pc, kcEff, into: packedA) }
                var jc = 0
                while jc < n {
                    let ncEff = min(nc, n - jc)
                    let slivers = (ncEff + nr - 1) / nr
                    // With one panel, the panel packed for the first chunk is still there.
                    let packsPanel = firstChunk || !onePanel
                    if packsPanel && packRight {
                        packB(b, rows: pc, kcEff, columns: jc, ncEff, into: packedB)
                    } else if packsPanel && ncEff % nr != 0 {
                        packB(b, rows: pc, kcEff, columns: jc + (slivers - 1) * nr, ncEff % nr, into: packedB)
                    }
                    var i0 = 0
                    while i0 < rows {
                        let mcEff = min(blockRows, rows - i0)
                        for s in 0..<slivers {
                            let j = s * nr, nEff = min(nr, ncEff - j)
                            let (right, rightStride) = packRight ? (UnsafePointer(packedB + s * nr * kcEff), nr)
                                : nEff < nr ? (UnsafePointer(packedB), nr)
                                : (UnsafePointer(rightElements + pc * b.rowStride + jc + j), b.rowStride)
                            var i = 0
                            while i < mcEff {
                                let row = r0 + i0 + i, tileRows = min(mr, mcEff - i)
                                let tile = c.base + row * c.rowStride + jc + j
                                // The two layouts of the left operand run separate specialisations of the kernel:
                                // the packed one addresses its rows at constant offsets.
                                if let packedA {
                                    packedKernel(kcEff, left: packedA + (i0 + i) * kcEff * copies, rows: tileRows, right: right,
                                                 depthStride: rightStride, columns: nEff, c: tile, rowStride: c.rowStride,
                                                 alpha: alpha, overwrite: overwrite && pc == 0)
                                } else if a.columnStride == 1 {
                                    contiguousKernel(kcEff, left: leftElements + row * a.rowStride + pc,
                                                     rowStride: a.rowStride, rows: tileRows, right: right,
                                                     depthStride: rightStride, columns: nEff, c: tile,
                                                     rowStride: c.rowStride, alpha: alpha, overwrite: overwrite && pc == 0)
                                } else if a.rowStride == 1 && tileRows == mr {
                                    transposedKernel(kcEff, left: leftElements + row + pc * a.columnStride,
                                                     depthStride: a.columnStride, right: right,
                                                     depthStride: rightStride, columns: nEff, c: tile,
                                                     rowStride: c.rowStride, alpha: alpha, overwrite: overwrite && pc == 0)
                                } else {
                                    microKernel(kcEff, left: leftElements + row * a.rowStride + pc * a.columnStride,
                                                rowStride: a.rowStride, depthStride: a.columnStride, rows: tileRows,
                                                right: right, depthStride: rightStride, columns: nEff, c: tile,
                                                rowStride: c.rowStride, alpha: alpha, overwrite: overwrite && pc == 0)
                                }
                                i += mr
                            }
                        }
                        if pc == 0, let bias {
                            let row = r0 + i0
                            bias.shifted(rows: row, columns: jc)
                                .add(to: Output(base: c.base + row * c.rowStride + jc, rowStride: c.rowStride), rows: mcEff, columns: ncEff)
                        }
                        i0 += mcEff
                    }
                    jc += ncEff
                }
                firstChunk = false
                if claims == nil { r0 += rows }
            }
            pc += kcEff
        }
    }

    /// Whether a region with `columns` columns of C packs its left operand (see `region`): when its dtype needs
    /// converting, when the columns reuse it enough to repay the packing, and when its depth steps lie a multiple
    /// of 4 KB apart (a transposed operand such as a weight gradient's `xᵀ` with 1024 or 3072 features): every step
    /// then falls in the same sets of the first-level cache, beyond the stride the prefetchers follow, and a block
    /// read in place is fetched again for each sliver (Aᵀ·B, 4096×768·768×768: 193 → 268 GFLOP/s; 3072×2048·2048×768:
    /// 211 → 269; strides of 512 bytes and 3 KB ran as fast or faster in place). Where panels hold copies of each
    /// value (`leftCopies`), also whenever four slivers or more reuse it: read in place, each broadcast costs a shuffle.
    static func packsLeft<F: CPUFloat>(_ type: F.Type, _ a: Matrix, columns: Int) -> Bool {
        a.dtype != F.storageDType || columns >= packedLeftColumns || (leftCopies(F.self) > 1 && columns >= 4 * nr)
            || (columns >= 2 * nr && a.columnStride != 1 && abs(a.columnStride) * MemoryLayout<F>.stride % 4096 == 0)
    }

    /// Uninitialised memory for `count` values that starts on a cache line, so that no vector load of a packed
    /// operand straddles two lines (`malloc` returns large blocks 16 bytes past a page boundary).
    static func allocateLines<F>(_ type: F.Type, count: Int) -> UnsafeMutablePointer<F> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<F>.stride, alignment: 64).bindMemory(to: F.self, capacity: count)
    }

    @inline(__always)
    static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

    /// Packs `A[i0 ..< i0+mcEff, p0 ..< p0+kcEff]` into `mr`-row micro-panels, converted to `F`: panel `q` at
    /// `packed + q·mr·kcEff·c` holds its element `(r, p)` at `[(p·mr + r)·c ..< (p·mr + r + 1)·c]`, `c` copies
    /// (`leftCopies`), so the micro-kernel reads the left operand as one sequential stream. A last panel of fewer
    /// rows has zeros in its other lanes, which the micro-kernel multiplies but does not store.
    static func packA<F: CPUFloat>(_ a: Matrix, rows i0: Int, _ mcEff: Int, columns p0: Int, _ kcEff: Int,
                                   into packed: UnsafeMutablePointer<F>) {
        let copies = leftCopies(F.self)
        for q in stride(from: 0, to: mcEff, by: mr) {
            let panel = packed + q * kcEff * copies, rows = min(mr, mcEff - q)
            let start = a.offset + (i0 + q) * a.rowStride + p0 * a.columnStride
            let source = UnsafePointer(a.base.assumingMemoryBound(to: F.self) + start)
            let inPlace = a.dtype == F.storageDType && rows == mr
            if inPlace && a.columnStride == 1 {
                // `mr` contiguous rows; each line of them fetched while the panel before is packed: a row's `kc`
                // values are only 16 lines, too short a stream for the hardware prefetchers.
                let rowStride = a.rowStride
                if copies > 1 {
                    spreadRows(source, rowStride: rowStride, depth: kcEff, into: panel)
                } else {
                    transposeRuns(mr, depth: kcEff, ahead: q + 2 * mr <= mcEff ? mr * rowStride : 0, into: panel,
                                  stride: mr) { source + $0 &* rowStride }
                }
            } else if inPlace && a.rowStride == 1 {
                // Adjacent rows (a transposed A): each depth step's `mr` values lie side by side.
                let columnStride = a.columnStride
                for p in 0..<kcEff {
                    for r in 0..<mr {
                        let value = source[p &* columnStride &+ r], at = p &* mr &+ r
                        if copies > 1 { storeCopies(value, at: panel + at &* copies) } else { panel[at] = value }
                    }
                }
            } else {
                // Otherwise each depth step's `rows` elements are gathered along A's column, then spread to their
                // copies; a short panel's other lanes are zeroed, as the micro-kernel reads them.
                if rows < mr { panel.update(repeating: 0, count: mr * kcEff) }
                for p in 0..<kcEff {
                    ElementAccess.load(a.dtype, a.base, start: start + p * a.columnStride, stride: a.rowStride,
                                       count: rows, into: panel + p * mr)
                }
                if copies > 1 { spreadInPlace(panel, count: mr * kcEff) }
            }
        }
    }

    /// Stores four copies of `value` (a 16-byte register's worth of float32, `leftCopies`) at `to`.
    @inline(__always)
    private static func storeCopies<F: CPUFloat>(_ value: F, at to: UnsafeMutablePointer<F>) {
        UnsafeMutableRawPointer(to).storeBytes(of: SIMD4(repeating: value), as: SIMD4<F>.self)
    }

    /// Packs `mr` contiguous rows (`rowStride` apart) of `depth` values into a micro-panel of four copies a value,
    /// four depth steps of a row read at once.
    @inline(__always)
    private static func spreadRows<F: CPUFloat>(_ source: UnsafePointer<F>, rowStride: Int, depth: Int,
                                                into panel: UnsafeMutablePointer<F>) {
        @inline(__always) func store(_ value: F, _ r: Int, _ p: Int) { storeCopies(value, at: panel + (p &* mr &+ r) &* 4) }
        for r in 0..<mr {
            let row = source + r &* rowStride
            var p = 0
            while p &+ 4 <= depth {
                let steps = UnsafeRawPointer(row + p).loadUnaligned(as: SIMD4<F>.self)
                store(steps[0], r, p); store(steps[1], r, p &+ 1); store(steps[2], r, p &+ 2); store(steps[3], r, p &+ 3)
                p &+= 4
            }
            while p < depth { store(row[p], r, p); p &+= 1 }
        }
    }

    /// Spreads the `count` values at `values` to four copies each, in place: value `i` fills `values[4i ..< 4i + 4]`.
    /// Taken from the last down, four values at a time, each group is read before a copy overwrites it.
    @inline(__always)
    private static func spreadInPlace<F: CPUFloat>(_ values: UnsafeMutablePointer<F>, count: Int) {
        let whole = count / 4 * 4
        for i in stride(from: count - 1, through: whole, by: -1) { storeCopies(values[i], at: values + i &* 4) }
        for i in stride(from: whole - 4, through: 0, by: -4) {
            let group = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD4<F>.self), to = values + i &* 4
            storeCopies(group[0], at: to); storeCopies(group[1], at: to + 4)
            storeCopies(group[2], at: to + 8); storeCopies(group[3], at: to + 12)
        }
    }

    /// Stores `count` contiguous runs of `depth` values transposed: value `p` of run `r` (at `run(r) + p`) goes to
    /// `to[p·stride + r]`. Each run's values are taken sixteen at a time (a cache line of float32), as 4×4 blocks
    /// transposed in registers (element by element, the compiler made scatters of it: single-threaded 2048³ 152 →
    /// 155 GFLOP/s), four runs at a time (the last `count % 4` runs element by element), so that every line is used
    /// whole once read: runs a multiple of 4 KB apart all fall in the same sets of the first-level cache, where
    /// sixteen lines in use at once evict each other. With `ahead` ≠ 0, the line `ahead` values past each is fetched
    /// meanwhile.
    @inline(__always)
    static func transposeRuns<F: CPUFloat>(_ count: Int, depth: Int, ahead: Int, into to: UnsafeMutablePointer<F>,
                                           stride: Int, _ run: (Int) -> UnsafePointer<F>) {
        let fours = count / 4 * 4
        var line = 0
        while line < depth {
            if ahead != 0 { for r in 0..<count { kiln_prefetch_for_read(run(r) + ahead + line) } }
            let end = min(line + 16, depth), whole = line + (end - line) / 4 * 4
            for r in Swift.stride(from: 0, to: fours, by: 4) {
                for p in Swift.stride(from: line, to: whole, by: 4) {
                    transpose4(run(r) + p, run(r + 1) + p, run(r + 2) + p, run(r + 3) + p, into: to + p &* stride + r,
                               stride: stride)
                }
            }
            for p in line..<end {
                for r in (p < whole ? fours : 0)..<count { to[p &* stride &+ r] = run(r)[p] }
            }
            line += 16
        }
    }

    /// Stores the 4×4 block of rows `a`, `b`, `c`, `d` (four values each) transposed: value `p` of each row goes to
    /// `to + p·stride`, the four rows side by side.
    @inline(__always)
    static func transpose4<F: CPUFloat>(_ a: UnsafePointer<F>, _ b: UnsafePointer<F>, _ c: UnsafePointer<F>,
                                        _ d: UnsafePointer<F>, into to: UnsafeMutablePointer<F>, stride: Int) {
        typealias V4 = SIMD4<F>
        @inline(__always) func load(_ p: UnsafePointer<F>) -> V4 { UnsafeRawPointer(p).loadUnaligned(as: V4.self) }
        let ab = SIMD8(lowHalf: load(a), highHalf: load(b)), cd = SIMD8(lowHalf: load(c), highHalf: load(d))
        let even = SIMD8(lowHalf: ab.evenHalf, highHalf: cd.evenHalf), odd = SIMD8(lowHalf: ab.oddHalf, highHalf: cd.oddHalf)
        @inline(__always) func store(_ v: V4, _ p: Int) { UnsafeMutableRawPointer(to + p &* stride).storeBytes(of: v, as: V4.self) }
        store(even.evenHalf, 0); store(odd.evenHalf, 1); store(even.oddHalf, 2); store(odd.oddHalf, 3)
    }

    /// Packs `B[p0 ..< p0+kcEff, j0 ..< j0+ncEff]` into `nr`-column slivers, each stored k-major, zero-padded.
    static func packB<F: CPUFloat>(_ b: Matrix, rows p0: Int, _ kcEff: Int, columns j0: Int, _ ncEff: Int,
                                   into packed: UnsafeMutablePointer<F>) {
        let slivers = (ncEff + nr - 1) / nr
        let rowMajor = abs(b.columnStride) <= abs(b.rowStride)
        if ncEff % nr != 0 {
            // A narrow last sliver's rows are zeroed whole (a vector or a few each), then filled.
            typealias V = SIMD8<F>
            let sliver = packed + (slivers - 1) * nr * kcEff
            for kk in 0..<kcEff {
                let row = UnsafeMutableRawPointer(sliver + kk &* nr)
                for offset in stride(from: 0, to: nr * MemoryLayout<F>.stride, by: MemoryLayout<V>.stride) {
                    row.storeBytes(of: V(), toByteOffset: offset, as: V.self)
                }
            }
        }
        if b.dtype == F.storageDType && b.columnStride == 1 {
            // Contiguous rows are read whole, each spread over the slivers: one stream of `ncEff` values a row, where
            // a sliver at a time read 128 bytes of each of `kc` rows a page or more apart. They move inline, where
            // `update` called `memmove` for every piece of at most 128 bytes.
            let source = b.base.assumingMemoryBound(to: F.self) + b.offset + p0 * b.rowStride + j0
            for kk in 0..<kcEff {
                let from = source + kk &* b.rowStride, to = packed + kk &* nr
                for s in 0..<slivers {
                    ElementAccess.copyBytes(from: UnsafeRawPointer(from + s &* nr),
                                            to: UnsafeMutableRawPointer(to + s &* (nr * kcEff)),
                                            count: min(nr, ncEff &- s &* nr) &* MemoryLayout<F>.stride)
                }
            }
            return
        }
        for s in 0..<slivers {
            let sliver = packed + s * nr * kcEff
            let j = j0 + s * nr, width = min(nr, j0 + ncEff - j)
            if b.dtype == F.storageDType && b.rowStride == 1 {
                // Each column of B is contiguous (a transposed operand: a weight gradient's `Xᵀ`, a layer's `Wᵀ`),
                // and the next sliver's columns are fetched meanwhile. Gathering one element of every column a row,
                // all sixteen columns' lines were in use at once and evicted each other where the columns lie a
                // multiple of 4 KB apart (`packB` took 10% of the profile against the micro-kernel's 50% for
                // 128×2048·2048×384 on two Zen 3 threads, 7% against 55% with the lines used whole).
                let source = UnsafePointer(b.base.assumingMemoryBound(to: F.self) + b.offset + p0 + j * b.columnStride)
                let columnStride = b.columnStride
                transposeRuns(width, depth: kcEff, ahead: s + 1 < slivers ? nr * columnStride : 0, into: sliver,
                              stride: nr) { source + $0 &* columnStride }
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

    /// `microKernel` over a packed micro-panel of the left operand: its twelve rows at constant offsets, which the
    /// compiler folds into the broadcasts' addresses (with the offsets as arguments, it kept six of them on the stack
    /// and reloaded them every depth step).
    @inline(never)
    static func packedKernel<F: CPUFloat>(_ kc: Int, left: UnsafePointer<F>, rows: Int, right: UnsafePointer<F>,
                                          depthStride rightStride: Int, columns: Int, c: UnsafeMutablePointer<F>,
                                          rowStride ldc: Int, alpha: F, overwrite: Bool) {
        microKernel(kc, left: left, rowStride: 1, depthStride: mr * leftCopies(F.self), rows: rows, right: right,
                    depthStride: rightStride, columns: columns, c: c, rowStride: ldc, alpha: alpha, overwrite: overwrite,
                    adjacentRows: true, unrolling: true, copies: leftCopies(F.self))
    }

    /// `microKernel` over a left operand read in place with contiguous rows (depth stride 1), so that each row's
    /// depth steps lie at constant offsets from its pointer and the depth loop is unrolled (see `unrolled`).
    @inline(never)
    static func contiguousKernel<F: CPUFloat>(_ kc: Int, left: UnsafePointer<F>, rowStride: Int, rows: Int,
                                              right: UnsafePointer<F>, depthStride rightStride: Int, columns: Int,
                                              c: UnsafeMutablePointer<F>, rowStride ldc: Int, alpha: F, overwrite: Bool) {
        microKernel(kc, left: left, rowStride: rowStride, depthStride: 1, rows: rows, right: right,
                    depthStride: rightStride, columns: columns, c: c, rowStride: ldc, alpha: alpha, overwrite: overwrite,
                    unrolling: true)
    }

    /// `microKernel` over `mr` whole rows of a left operand read in place with adjacent rows (a transposed operand, a
    /// weight gradient's `dYᵀ`): each depth step's `mr` values lie side by side, as in a packed micro-panel, a runtime
    /// stride apart.
    @inline(never)
    static func transposedKernel<F: CPUFloat>(_ kc: Int, left: UnsafePointer<F>, depthStride: Int,
                                              right: UnsafePointer<F>, depthStride rightStride: Int, columns: Int,
                                              c: UnsafeMutablePointer<F>, rowStride ldc: Int, alpha: F, overwrite: Bool) {
        microKernel(kc, left: left, rowStride: 1, depthStride: depthStride, rows: mr, right: right,
                    depthStride: rightStride, columns: columns, c: c, rowStride: ldc, alpha: alpha, overwrite: overwrite,
                    adjacentRows: true, unrolling: true)
    }

    /// `C[0..<rows, 0..<columns] += alpha · Ã·B̃` (`=` when `overwrite`) for one `mr × kc` sliver of the left operand
    /// (element `(r, p)` at `left[r·rowStride + p·depthStride]`) and one `kc × nr` sliver of the right (row `p` at
    /// `right + p·depthStride`, `nr` contiguous values). Rows past `rows` are not stored: read in place they repeat the
    /// last real row, and a packed micro-panel holds zeros there. With `adjacentRows` row `r` is at `left + r·copies`,
    /// at a constant offset (a packed micro-panel, or `transposedKernel`'s whole tile); with `copies` > 1 each value
    /// of the left operand is that many copies of it (`leftCopies`), loaded whole as the broadcast.
    ///
    /// Twelve rows of two float32 vectors of sixteen (AVX-512), or six of one (two AVX2 registers each, or two SSE
    /// registers of a vector of eight): twenty-four accumulator registers, or twelve, keep both fused multiply-add
    /// pipes of a core busy through their latency (or its multiply and add pipes); each depth step loads one row of B
    /// (`nr` values) and broadcasts `mr` values of A. The rows past `mr`, and the second vector where a row is one,
    /// fold away, `mr` and `nr` being constants of the build.
    @inline(__always)
    static func microKernel<F: CPUFloat>(_ kc: Int, left: UnsafePointer<F>, rowStride: Int, depthStride: Int,
                                         rows: Int, right: UnsafePointer<F>, depthStride rightStride: Int,
                                         columns: Int, c: UnsafeMutablePointer<F>, rowStride ldc: Int,
                                         alpha: F, overwrite: Bool, adjacentRows: Bool = false,
                                         unrolling: Bool = false, copies: Int = 1) {
        @inline(__always) func tile<V: TileVector>(rowsOf vector: V.Type) where V.Scalar == F {
            microKernel(vector, kc, left: left, rowStride: rowStride, depthStride: depthStride, rows: rows,
                        right: right, depthStride: rightStride, columns: columns, c: c, rowStride: ldc, alpha: alpha,
                        overwrite: overwrite, adjacentRows: adjacentRows, unrolling: unrolling, copies: copies)
        }
        if nr == 8 { tile(rowsOf: SIMD8<F>.self) } else { tile(rowsOf: SIMD16<F>.self) }
    }

    /// `microKernel` with rows of `V`: one vector a row, or two where `nr` is twice its lanes.
    @inline(__always)
    private static func microKernel<F, V: TileVector>(_ vector: V.Type, _ kc: Int, left: UnsafePointer<F>, rowStride: Int,
                                                      depthStride: Int, rows: Int, right: UnsafePointer<F>,
                                                      depthStride rightStride: Int, columns: Int,
                                                      c: UnsafeMutablePointer<F>, rowStride ldc: Int, alpha: F,
                                                      overwrite: Bool, adjacentRows: Bool,
                                                      unrolling: Bool, copies: Int) where V.Scalar == F {
        var sums = TileSums<V>()
        let last = rows - 1
        @inline(__always) func leftRow(_ r: Int) -> UnsafePointer<F> { adjacentRows ? left + r &* copies : left + min(r, last) * rowStride }
        let a0 = leftRow(0), a1 = leftRow(1), a2 = leftRow(2), a3 = leftRow(3), a4 = leftRow(4), a5 = leftRow(5)
        let a6 = leftRow(6), a7 = leftRow(7), a8 = leftRow(8), a9 = leftRow(9), aA = leftRow(10), aB = leftRow(11)
        let bStep = rightStride * MemoryLayout<F>.stride, half = V.scalarCount * MemoryLayout<F>.stride
        let wide = nr > V.scalarCount, rowBytes = nr * MemoryLayout<F>.stride, third = mr / 3
        // A right operand read in place has its rows a stride apart, one to three lines each, which the hardware
        // prefetchers do not follow: each step asks for the row sixteen ahead (a 3×3 convolution over 56×56 images,
        // 64 to 64 channels: 115 → 176 GFLOP/s; four rows ahead 151, eight 163, twenty-four and thirty-two no better).
        let ahead = rightStride == nr ? 0 : 16 &* bStep, unrolls = unrolling && unrollsDepth
        // The depth loop for the first third, two thirds or all of the rows: a short sliver (a 16-row block's last 4
        // rows of 12) does not pay for all. Each call below passes a constant, so each inlined loop keeps only its own.
        @inline(__always) func accumulate(groups: Int, prefetching: Bool, _ s: inout TileSums<V>) {
            let used = groups * third
            unrolled(kc, by: unrolls ? 4 : 1) { step in
                let b = UnsafeRawPointer(right) + step &* bStep, p = step &* depthStride
                if prefetching {
                    kiln_prefetch_for_read(b + ahead)
                    if wide { kiln_prefetch_for_read(b + (ahead &+ half)) }
                    kiln_prefetch_for_read(b + (ahead &+ rowBytes &- 1))
                }
                let b0 = b.loadUnaligned(as: V.self), b1 = wide ? b.loadUnaligned(fromByteOffset: half, as: V.self) : V()
                @inline(__always) func row(_ r: Int, _ a: UnsafePointer<F>, _ low: inout V, _ high: inout V) {
                    guard r < used else { return }
                    let broadcast = copies > 1 ? V.broadcast(copiesAt: a + p) : V(repeating: a[p])
                    low = V.multiplyAdd(b0, broadcast, low)
                    if wide { high = V.multiplyAdd(b1, broadcast, high) }
                }
                row(0, a0, &s.c00, &s.c01); row(1, a1, &s.c10, &s.c11); row(2, a2, &s.c20, &s.c21)
                row(3, a3, &s.c30, &s.c31); row(4, a4, &s.c40, &s.c41); row(5, a5, &s.c50, &s.c51)
                row(6, a6, &s.c60, &s.c61); row(7, a7, &s.c70, &s.c71); row(8, a8, &s.c80, &s.c81)
                row(9, a9, &s.c90, &s.c91); row(10, aA, &s.cA0, &s.cA1); row(11, aB, &s.cB0, &s.cB1)
            }
        }
        prefetchTile(c, rows: rows, columns: columns, rowStride: ldc)
        // Unrolled, whether to prefetch is decided outside the loop, so that its body is one straight run of code
        // (with a branch between its steps, the compiler hoisted broadcasts across them and spilled them). Rolled, the
        // loops stay three: AVX-512's twelve rows of two vectors in six unrolled loops grew the kernel past what the
        // compiler inlines, and its sums then lived in memory.
        @inline(__always) func accumulate(groups: Int, _ s: inout TileSums<V>) {
            if !unrolls {
                accumulate(groups: groups, prefetching: ahead != 0, &s)
            } else if ahead != 0 {
                accumulate(groups: groups, prefetching: true, &s)
            } else {
                accumulate(groups: groups, prefetching: false, &s)
            }
        }
        if rows <= third {
            accumulate(groups: 1, &sums)
        } else if rows <= 2 * third {
            accumulate(groups: 2, &sums)
        } else {
            accumulate(groups: 3, &sums)
        }
        @inline(__always) func store(_ r: Int, _ low: V, _ high: V) {
            guard r < mr && r < rows else { return }
            let row = c + r * ldc
            if columns == nr {
                let raw = UnsafeMutableRawPointer(row)
                if overwrite {
                    raw.storeBytes(of: low * alpha, as: V.self)
                    if wide { raw.storeBytes(of: high * alpha, toByteOffset: half, as: V.self) }
                } else {
                    raw.storeBytes(of: V.multiplyAdd(low, V(repeating: alpha), raw.loadUnaligned(as: V.self)), as: V.self)
                    if wide {
                        raw.storeBytes(of: V.multiplyAdd(high, V(repeating: alpha), raw.loadUnaligned(fromByteOffset: half, as: V.self)),
                                       toByteOffset: half, as: V.self)
                    }
                }
            } else {
                for j in 0..<columns {
                    let value = alpha * (j < V.scalarCount ? low[j] : high[j - V.scalarCount])
                    if overwrite { row[j] = value } else { row[j] += value }
                }
            }
        }
        store(0, sums.c00, sums.c01); store(1, sums.c10, sums.c11); store(2, sums.c20, sums.c21)
        store(3, sums.c30, sums.c31); store(4, sums.c40, sums.c41); store(5, sums.c50, sums.c51)
        store(6, sums.c60, sums.c61); store(7, sums.c70, sums.c71); store(8, sums.c80, sums.c81)
        store(9, sums.c90, sums.c91); store(10, sums.cA0, sums.cA1); store(11, sums.cB0, sums.cB1)
    }

    /// The sums of a micro-kernel tile, two vectors for each of up to twelve rows (`cR0`, `cR1` for row `R`): one value
    /// that the depth loop updates through an `inout` parameter. As local variables captured by the nested functions
    /// of the unrolled loop, they were checked for exclusive access at run time (0.3 GFLOP/s).
    struct TileSums<V: TileVector> {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
        var c80 = V(), c81 = V(), c90 = V(), c91 = V(), cA0 = V(), cA1 = V(), cB0 = V(), cB1 = V()
    }

    /// Runs `body(0 ..< count)`, `factor` steps an iteration (4 or 1, a constant where inlined). A rolled depth loop's
    /// own counting and branching held a Zen 3 core's 6×16 tile to 71 GFLOP/s with its operands in the first-level
    /// cache, against 89 unrolled four times (a C model of the micro-kernel); single-threaded 2048³ ran at 56–62
    /// GFLOP/s rolled, 64–74 unrolled. A left operand read in place with a depth stride that is not a constant stays
    /// rolled: unrolled, the compiler kept a pointer for every row and step of the four, reloaded from the stack
    /// (2048×128·128×384 ran at 47 GFLOP/s against 67–72 rolled). Only AVX2 builds unroll (`unrollsDepth`).
    @inline(__always)
    private static func unrolled(_ count: Int, by factor: Int, _ body: (Int) -> Void) {
        var i = 0
        if factor == 4 {
            while i &+ 4 <= count {
                body(i); body(i &+ 1); body(i &+ 2); body(i &+ 3)
                i &+= 4
            }
        }
        while i < count {
            body(i)
            i &+= 1
        }
    }

    /// Asks for every cache line of a `rows × columns` tile of C before the depth loop, so that the stores after
    /// it find the tile in the cache: the rows of a large C lie a page or more apart, which the hardware
    /// prefetchers do not follow. Worth 1–4% on products of 4096 rows.
    @inline(__always)
    private static func prefetchTile<F>(_ c: UnsafeMutablePointer<F>, rows: Int, columns: Int, rowStride: Int) {
        // Each row is prefetched at every 64 bytes and at its last element.
        let step = 64 / MemoryLayout<F>.stride
        for r in 0..<rows {
            let row = c + r * rowStride
            for e in stride(from: 0, to: columns, by: step) { kiln_prefetch_for_write(row + e) }
            kiln_prefetch_for_write(row + columns - 1)
        }
    }
}
