import CSIMD
import KilnCore

/// Reductions, arg-reductions and the row-wise softmax.
///
/// Results accumulate in `Double` (so integer sums are exact up to 2⁵³) and are converted to the output dtype.
/// A reduction permutes the reduced axes innermost. When the input's fastest axis is reduced, each output
/// is one pass over its elements (blocked summation into `Double`); when the fastest axis is kept, whole rows
/// of outputs are accumulated at once so the input is still read in memory order.
enum CPUReduce {
    static func reduce(_ op: ReduceOp, _ x: BufferView, axes: [Int], out: BufferView) {
        let plan = Plan(x.layout, axes: axes, out: out.layout)
        switch ComputeDomain(x.dtype) {
        case .float: reduce(op, Float.self, x, plan, out)
        case .double: reduce(op, Double.self, x, plan, out)
        case .integer: reduce(op, Int64.self, x, plan, out)
        }
    }

    /// The input split into kept (outer) and reduced (inner) axes, with the output's strides for the kept ones.
    struct Plan {
        let kept: Layout
        let reduced: Layout
        let outKept: Layout
        var outerCount: Int { kept.count }
        var innerCount: Int { reduced.count }

        init(_ x: Layout, axes: [Int], out: Layout) {
            let keptAxes = (0..<x.rank).filter { !axes.contains($0) }
            kept = Layout(shape: keptAxes.map { x.shape[$0] }, strides: keptAxes.map { x.strides[$0] }, offset: x.offset)
            reduced = Layout(shape: axes.map { x.shape[$0] }, strides: axes.map { x.strides[$0] }, offset: 0)
            outKept = Layout(shape: keptAxes.map { out.shape[$0] }, strides: keptAxes.map { out.strides[$0] },
                             offset: out.offset)
        }

        /// Whether the input's fastest-moving axis is among the kept ones (then accumulate whole output rows).
        var keepsFastestAxis: Bool {
            let keptMin = zip(kept.shape, kept.strides).filter { $0.0 > 1 }.map { abs($0.1) }.min() ?? .max
            let reducedMin = zip(reduced.shape, reduced.strides).filter { $0.0 > 1 }.map { abs($0.1) }.min() ?? .max
            return keptMin < reducedMin && outerCount > 1
        }
    }

    private static func reduce<T: CPUScalar>(_ op: ReduceOp, _ type: T.Type, _ x: BufferView, _ plan: Plan,
                                             _ out: BufferView) {
        if plan.keepsFastestAxis, op == .sum || op == .mean || op == .max || op == .min {
            reduceAcrossRows(op, T.self, x, plan, out)
            return
        }
        if op == .sum || op == .mean, plan.outerCount < Parallel.threadCount, plan.innerCount >= 1 << 20 {
            reduceInChunks(op, T.self, x, plan, out)
            return
        }
        let inner = StridedWalker([plan.reduced])
        let base = UnsafeRawPointer(x.base), dtype = x.dtype
        let n = plan.innerCount
        ElementwiseEngine.withOutput(out.with(layout: plan.outKept), as: Double.self) { o in
            let offsets = outerOffsets(plan.kept)
            Parallel.forEach(plan.outerCount, grain: max(1, 16_384 / max(n, 1))) { range in
                let scratch = UnsafeMutablePointer<T>.allocate(capacity: ElementwiseEngine.block)
                defer { scratch.deallocate() }
                for j in range {
                    o[j] = reduceOne(op, base: base, dtype: dtype, start: offsets[j], walker: inner, count: n,
                                     scratch: scratch)
                }
            }
        }
    }

    /// The element offsets of each kept position, in row-major order.
    static func outerOffsets(_ kept: Layout) -> [Int] {
        var result = [Int](repeating: 0, count: kept.count)
        var j = 0
        let walker = StridedWalker([kept]), step = walker.innerStrides[0]
        walker.forEachRun(in: 0..<kept.count) { offsets, length in
            for i in 0..<length { result[j + i] = offsets[0] + i * step }
            j += length
        }
        return result
    }

    /// The sum in `Double` of positions `range` of an inner reduction: blocks read in place when they are
    /// contiguous and stored as `T`, else converted through `scratch`.
    private static func sum<T: CPUScalar>(base: UnsafeRawPointer, dtype: DType, start: Int, walker: StridedWalker,
                                          range: Range<Int>, scratch: UnsafeMutablePointer<T>) -> Double {
        let step = walker.innerStrides[0], direct = dtype == T.storageDType && step == 1
        var total = 0.0
        // Runs read in place are summed whole; converted ones go through `scratch` a block at a time.
        walker.forEachRun(in: range, maxRun: direct ? .max : ElementwiseEngine.block) { offsets, length in
            if direct {
                total += blockSum(base.assumingMemoryBound(to: T.self) + start + offsets[0], length)
            } else {
                ElementAccess.load(dtype, base, start: start + offsets[0], stride: step, count: length, into: scratch)
                total += blockSum(scratch, length)
            }
        }
        return total
    }

    /// Sums (or means) of a few outputs over many elements each: every output's elements are split into fixed
    /// chunks summed in parallel, and the chunk totals added in order, so the result does not depend on the
    /// thread count.
    private static func reduceInChunks<T: CPUScalar>(_ op: ReduceOp, _ type: T.Type, _ x: BufferView, _ plan: Plan,
                                                     _ out: BufferView) {
        let inner = StridedWalker([plan.reduced]), n = plan.innerCount, chunk = 1 << 16
        let base = UnsafeRawPointer(x.base), chunks = (n + chunk - 1) / chunk
        let offsets = outerOffsets(plan.kept)
        var partials = [Double](repeating: 0, count: chunks)
        ElementwiseEngine.withOutput(out.with(layout: plan.outKept), as: Double.self) { o in
            for j in 0..<plan.outerCount {
                partials.withUnsafeMutableBufferPointer { partial in
                    Parallel.forEach(chunks, grain: 1) { range in
                        let scratch = UnsafeMutablePointer<T>.allocate(capacity: ElementwiseEngine.block)
                        defer { scratch.deallocate() }
                        for c in range {
                            partial[c] = sum(base: base, dtype: x.dtype, start: offsets[j], walker: inner,
                                             range: c * chunk..<Swift.min(n, (c + 1) * chunk), scratch: scratch)
                        }
                    }
                }
                let total = partials.reduce(0, +)
                o[j] = op == .mean ? total / Double(n) : total
            }
        }
    }

    /// One output of an inner reduction, accumulated in `Double` (sums) or `T` (extremes).
    private static func reduceOne<T: CPUScalar>(_ op: ReduceOp, base: UnsafeRawPointer, dtype: DType, start: Int,
                                                walker: StridedWalker, count: Int,
                                                scratch: UnsafeMutablePointer<T>) -> Double {
        let step = walker.innerStrides[0]
        switch op {
        case .sum, .mean, .variance:
            let total = sum(base: base, dtype: dtype, start: start, walker: walker, range: 0..<count, scratch: scratch)
            if op == .sum { return total }
            let mean = total / Double(count)
            guard case .variance(let correction) = op else { return mean }
            var squares = 0.0
            walker.forEachRun(in: 0..<count, maxRun: ElementwiseEngine.block) { offsets, length in
                ElementAccess.load(dtype, base, start: start + offsets[0], stride: step, count: length, into: scratch)
                for i in 0..<length {
                    let d = scratch[i].asDouble - mean
                    squares += d * d
                }
            }
            return squares / Double(count - correction)
        case .max, .min:
            var best: Double? = nil
            walker.forEachRun(in: 0..<count, maxRun: ElementwiseEngine.block) { offsets, length in
                ElementAccess.load(dtype, base, start: start + offsets[0], stride: step, count: length, into: scratch)
                for i in 0..<length {
                    let v = scratch[i].asDouble
                    if v.isNaN { best = .nan } else if let b = best {
                        if !b.isNaN && (op == .max ? v > b : v < b) { best = v }
                    } else { best = v }
                }
            }
            return best ?? .nan
        }
    }

    /// The sum of a block in `Double`, `float32` data widened eight lanes at a time into four running vectors (one
    /// would leave the loop bound by the adds' latency), asking for the lines 4 KB ahead as it goes (as the vector
    /// folds do: a reduction over memory otherwise kept too few lines in flight).
    @inline(__always)
    static func blockSum<T: CPUScalar>(_ p: UnsafePointer<T>, _ n: Int) -> Double {
        if T.self == Float.self {
            let f = UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
            @inline(__always) func load(_ i: Int) -> SIMD8<Double> { SIMD8(wideningFloatsAt: f + i) }
            var s0 = SIMD8<Double>(), s1 = s0, s2 = s0, s3 = s0
            var i = 0
            while i + 32 <= n {
                kiln_prefetch_for_read(f + i + 1024)
                kiln_prefetch_for_read(f + i + 1040)
                s0 += load(i); s1 += load(i + 8); s2 += load(i + 16); s3 += load(i + 24)
                i += 32
            }
            while i + 8 <= n {
                s0 += load(i)
                i += 8
            }
            var total = ((s0 + s1) + (s2 + s3)).laneSum
            while i < n { total += Double(f[i]); i += 1 }
            return total
        }
        var total = 0.0
        for i in 0..<n { total += p[i].asDouble }
        return total
    }

    /// Sum, mean, max or min with the fastest axis kept: each reduced position adds a run of outputs at once.
    private static func reduceAcrossRows<T: CPUScalar>(_ op: ReduceOp, _ type: T.Type, _ x: BufferView,
                                                       _ plan: Plan, _ out: BufferView) {
        let keptWalker = StridedWalker([plan.kept])
        let reducedOffsets = outerOffsets(plan.reduced)
        let base = UnsafeRawPointer(x.base), dtype = x.dtype
        let step = keptWalker.innerStrides[0]
        let isExtreme = op == .max || op == .min
        let sumsFloatRows = !isExtreme && dtype == .float32 && step == 1
        ElementwiseEngine.withOutput(out.with(layout: plan.outKept), as: Double.self) { o in
            Parallel.forEach(plan.outerCount, grain: max(64, 16_384 / max(plan.innerCount, 1))) { range in
                for j in range { o[j] = isExtreme ? .nan : 0 }
                // The kept positions' runs, found once for all the reduced positions.
                var runs: [(start: Int, length: Int)] = []
                keptWalker.forEachRun(in: range, maxRun: ElementwiseEngine.block) { offsets, length in
                    runs.append((offsets[0], length))
                }
                if sumsFloatRows {
                    // Each block of columns is held in registers across every reduced position.
                    var position = range.lowerBound
                    for (start, length) in runs {
                        addColumns(base.assumingMemoryBound(to: Float.self) + start, length, rows: reducedOffsets,
                                   into: o + position)
                        position += length
                    }
                } else {
                    let scratch = UnsafeMutablePointer<T>.allocate(capacity: ElementwiseEngine.block)
                    defer { scratch.deallocate() }
                    for (r, reducedOffset) in reducedOffsets.enumerated() {
                        var position = range.lowerBound
                        for (start, length) in runs {
                            let acc = o + position
                            position += length
                            if !isExtreme && dtype == T.storageDType && step == 1 {
                                // Sums of rows stored as T (float64, integers): added straight from memory.
                                let row = base.assumingMemoryBound(to: T.self) + start + reducedOffset
                                for i in 0..<length { acc[i] += row[i].asDouble }
                                continue
                            }
                            ElementAccess.load(dtype, base, start: start + reducedOffset, stride: step,
                                               count: length, into: scratch)
                            switch op {
                            case .max, .min:
                                for i in 0..<length {
                                    let v = scratch[i].asDouble
                                    if r == 0 || v.isNaN { acc[i] = v } else if !acc[i].isNaN && (op == .max ? v > acc[i] : v < acc[i]) {
                                        acc[i] = v
                                    }
                                }
                            default:
                                for i in 0..<length { acc[i] += scratch[i].asDouble }
                            }
                        }
                    }
                }
                if op == .mean {
                    let n = Double(plan.innerCount)
                    for j in range { o[j] /= n }
                }
            }
        }
    }

    /// Adds to `acc[0..<count]` the column sums of the float32 rows at `columns + offset` for each of `rows`'
    /// offsets: 64 columns at a time in eight `Double` vectors that stay in registers over all the rows (a running
    /// total in memory would be loaded and stored for every row), then 8, then one.
    private static func addColumns(_ columns: UnsafePointer<Float>, _ count: Int, rows: [Int],
                                   into acc: UnsafeMutablePointer<Double>) {
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Double> { SIMD8(wideningFloatsAt: p) }
        @inline(__always) func add(_ s: SIMD8<Double>, at j: Int) {
            UnsafeMutableRawPointer(acc + j).storeBytes(
                of: UnsafeRawPointer(acc + j).loadUnaligned(as: SIMD8<Double>.self) + s, as: SIMD8<Double>.self)
        }
        rows.withUnsafeBufferPointer { rows in
            var j = 0
            while j + 64 <= count {
                var s0 = SIMD8<Double>(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0
                for r in rows {
                    let p = columns + j + r
                    s0 += load(p); s1 += load(p + 8); s2 += load(p + 16); s3 += load(p + 24)
                    s4 += load(p + 32); s5 += load(p + 40); s6 += load(p + 48); s7 += load(p + 56)
                }
                add(s0, at: j); add(s1, at: j + 8); add(s2, at: j + 16); add(s3, at: j + 24)
                add(s4, at: j + 32); add(s5, at: j + 40); add(s6, at: j + 48); add(s7, at: j + 56)
                j += 64
            }
            while j + 8 <= count {
                var s = SIMD8<Double>()
                for r in rows { s += load(columns + j + r) }
                add(s, at: j)
                j += 8
            }
            for i in j..<count {
                var total = 0.0
                for r in rows { total += Double(columns[i + r]) }
                acc[i] += total
            }
        }
    }

    static func argReduce(_ op: ArgReduceOp, _ x: BufferView, axis: Int, out: BufferView) {
        let plan = Plan(x.layout, axes: [axis], out: out.layout)
        let offsets = outerOffsets(plan.kept)
        let n = x.shape[axis], stride = x.layout.strides[axis]
        let base = UnsafeRawPointer(x.base), dtype = x.dtype
        ElementwiseEngine.withOutput(out.with(layout: plan.outKept), as: Int64.self) { o in
            Parallel.forEach(plan.outerCount, grain: max(1, 16_384 / max(n, 1))) { range in
                let row = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1))
                defer { row.deallocate() }
                for j in range {
                    ElementAccess.load(dtype, base, start: offsets[j], stride: stride, count: n, into: row)
                    var best = 0
                    for i in 0..<n {
                        let v = row[i], b = row[best]
                        if b.isNaN { break }
                        if v.isNaN || (op == .argmax ? v > b : v < b) { best = i }
                    }
                    o[j] = Int64(best)
                }
            }
        }
    }
}
