import KilnCore

/// Max and average pooling, forward and backward, over (image, channel) planes in parallel.
///
/// The forward computes eight output columns of a row at once: each window tap is one vector load (a
/// deinterleaving load for stride 2) and a branch-free compare-and-select, so the result does not depend on the
/// branch predictor guessing the data.
enum CPUPooling {
    static func forward(_ kind: PoolKind, _ x: BufferView, geometry g: Window2d, out: BufferView, indices: BufferView?) {
        if x.dtype == .float64 {
            forward(Double.self, kind, x, g, out, indices)
        } else {
            forward(Float.self, kind, x, g, out, indices)
        }
    }

    private static func forward<F: PoolLanes>(_ type: F.Type, _ kind: PoolKind, _ x: BufferView, _ g: Window2d,
                                              _ out: BufferView, _ indices: BufferView?) {
        require(kind == .average || indices != nil, "maxPool2d: the backend needs an indices output")
        // A window's winning tap is kept as its offset from the window's first input element.
        let span = (g.kernelHeight - 1) * g.dilationHeight * g.width + (g.kernelWidth - 1) * g.dilationWidth
        require(span < 1 << F.significandBitCount,
                "\(kind == .max ? "maxPool2d" : "avgPool2d"): a window spanning \(span) input elements is too large")
        let (oh, ow, planeSize) = (g.outputHeight, g.outputWidth, g.height * g.width)
        let inputCount = g.batch * g.channels * planeSize
        let windowSize = F(g.kernelHeight * g.kernelWidth)
        let columns = (0..<g.kernelWidth).map { g.outputColumns(tap: $0) }
        let columnSteps = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7) &* Int64(g.strideWidth)
        let halving = g.kernelHeight == 2 && g.kernelWidth == 2 && g.strideHeight == 2 && g.strideWidth == 2
            && g.paddingHeight == 0 && g.paddingWidth == 0 && g.dilationHeight == 1 && g.dilationWidth == 1
        ElementwiseEngine.withContiguous(x, as: F.self) { src in
        ElementwiseEngine.withOutput(out, as: F.self) { dst in
        ElementwiseEngine.withOptionalOutput(indices, as: Int64.self) { positions in
            Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                for plane in planes {
                    for oy in 0..<oh {
                        let top = oy * g.strideHeight - g.paddingHeight
                        let o = (plane * oh + oy) * ow
                        for group in stride(from: 0, to: ow, by: 8) {
                            // A row's last group of fewer than eight moves back to end at the row's end, recomputing
                            // outputs of the group before, so that all its lanes take part.
                            let first = min(group, max(ow - 8, 0)), n = min(8, ow - first)
                            let windows = halving && (plane * g.height + top + 1) * g.width + 2 * first + 16 <= inputCount
                                ? halvedWindows(src + (plane * g.height + top) * g.width + 2 * first, width: g.width)
                                : eightWindows(src, plane: plane, top: top, first: first, count: n, g, columns: columns,
                                               inputCount: inputCount)
                            let results = kind == .max ? windows.best : windows.total / SIMD8(repeating: windowSize)
                            store(results, into: dst + o + first, count: n)
                            if let positions {
                                let origin = Int64(top * g.width - g.paddingWidth + first * g.strideWidth)
                                store(F.offsets(windows.winner) &+ columnSteps &+ origin, into: positions + o + first, count: n)
                            }
                        }
                    }
                }
            }
        }
        }
        }
    }

    /// The windows of output columns `first ..< first + count` (at most eight) of the output row whose windows
    /// start at input row `top` of `plane`, folded tap by tap in window order.
    @inline(__always)
    private static func eightWindows<F: PoolLanes>(_ src: UnsafePointer<F>, plane: Int, top: Int, first: Int, count n: Int,
                                                   _ g: Window2d, columns: [Range<Int>], inputCount: Int) -> PoolWindows<F> {
        var windows = PoolWindows<F>()
        for ky in 0..<g.kernelHeight {
            let y = top + ky * g.dilationHeight
            guard y >= 0 && y < g.height else { continue }
            for kx in 0..<g.kernelWidth {
                let lo = max(columns[kx].lowerBound, first) - first, hi = min(columns[kx].upperBound, first + n) - first
                guard lo < hi else { continue }
                // The input of lane 0 (in the padding when that lane is unused).
                let start = (plane * g.height + y) * g.width + first * g.strideWidth + kx * g.dilationWidth - g.paddingWidth
                let v = load(src, start, stride: g.strideWidth, lanes: lo..<hi, count: inputCount)
                F.fold(v, tap: ky * g.dilationHeight * g.width + kx * g.dilationWidth, lanes: lo..<hi, into: &windows)
            }
        }
        return windows
    }

    /// Eight 2×2 windows at stride 2 (no padding or dilation) whose first inputs are at `p`, `p + 2`, …: one
    /// 16-element load per input row, split into even and odd columns, folded in window order. In a row of fewer
    /// than eight outputs the loads run on into the next row (the caller keeps them inside the input), and the
    /// lanes past the row's outputs are not stored.
    @inline(__always)
    private static func halvedWindows<F: PoolLanes>(_ p: UnsafePointer<F>, width: Int) -> PoolWindows<F> {
        var windows = PoolWindows<F>()
        let upper = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<F>.self)
        let lower = UnsafeRawPointer(p + width).loadUnaligned(as: SIMD16<F>.self)
        F.fold(upper.evenHalf, tap: 0, lanes: 0..<8, into: &windows)
        F.fold(upper.oddHalf, tap: 1, lanes: 0..<8, into: &windows)
        F.fold(lower.evenHalf, tap: width, lanes: 0..<8, into: &windows)
        F.fold(lower.oddHalf, tap: width + 1, lanes: 0..<8, into: &windows)
        return windows
    }

    /// Stores the first `count` lanes of `v` at `p`: one vector store when all eight are wanted.
    @inline(__always)
    private static func store<T: SIMDScalar>(_ v: SIMD8<T>, into p: UnsafeMutablePointer<T>, count: Int) {
        if count == 8 {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self)
        } else {
            for i in 0..<count { p[i] = v[i] }
        }
    }

    /// The inputs `src[start + i·stride]` of lanes `i` in `lanes` (other lanes are unspecified): one vector load
    /// for strides 1 and 2 when it stays inside the `count` input elements, else one element at a time.
    @inline(__always)
    private static func load<F: SIMDScalar & BinaryFloatingPoint>(_ src: UnsafePointer<F>, _ start: Int, stride: Int,
                                                                  lanes: Range<Int>, count: Int) -> SIMD8<F> {
        let raw = UnsafeRawPointer(src + start)
        if stride == 1 && start >= 0 && start + 8 <= count {
            return raw.loadUnaligned(as: SIMD8<F>.self)
        }
        if stride == 2 && start >= 0 && start + 16 <= count {
            return raw.loadUnaligned(as: SIMD16<F>.self).evenHalf
        }
        var v = SIMD8<F>.zero
        for i in lanes { v[i] = src[start + i * stride] }
        return v
    }

    static func backward(_ kind: PoolKind, gradient: BufferView, indices: BufferView?, geometry g: Window2d,
                         out: BufferView) {
        if out.dtype == .float64 {
            backward(Double.self, kind, gradient, indices, g, out)
        } else {
            backward(Float.self, kind, gradient, indices, g, out)
        }
    }

    private static func backward<F: CPUFloat>(_ type: F.Type, _ kind: PoolKind, _ gradient: BufferView,
                                              _ indices: BufferView?, _ g: Window2d, _ out: BufferView) {
        require(kind == .average || indices?.dtype.isIndex == true,
                "maxPool2dBackward: indices must be int32 or int64, got \(indices.map { "\($0.dtype)" } ?? "none")")
        let (outputs, planeSize) = (g.outputHeight * g.outputWidth, g.height * g.width)
        ElementwiseEngine.withContiguous(gradient, as: F.self) { dy in
        ElementwiseEngine.withOutput(out, as: F.self) { dx in
        ElementwiseEngine.withOptionalContiguous(indices, as: Int64.self) { positions in
            Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                for plane in planes {
                    let (image, dyPlane) = (dx + plane * planeSize, dy + plane * outputs)
                    image.update(repeating: 0, count: planeSize)
                    if let positions {
                        routeToMaxima(dyPlane, positions + plane * outputs, count: outputs, into: image, planeSize: planeSize)
                    } else {
                        spreadOverWindows(dyPlane, g, into: image)
                    }
                }
            }
        }
        }
        }
    }

    /// Max pooling's backward on one plane: each output's gradient goes to the input its window took.
    private static func routeToMaxima<F: CPUFloat>(_ dy: UnsafePointer<F>, _ positions: UnsafePointer<Int64>, count: Int,
                                                   into image: UnsafeMutablePointer<F>, planeSize: Int) {
        for o in 0..<count {
            let at = Int(positions[o])
            require(at >= 0 && at < planeSize, "maxPool2dBackward: index \(at) is out of range for a plane of \(planeSize) elements")
            image[at] += dy[o]
        }
    }

    /// Average pooling's backward on one plane: each output's gradient is shared by its window's inputs (padding
    /// counted in the window's size).
    private static func spreadOverWindows<F: CPUFloat>(_ dy: UnsafePointer<F>, _ g: Window2d, into image: UnsafeMutablePointer<F>) {
        let windowSize = F(g.kernelHeight * g.kernelWidth)
        for oy in 0..<g.outputHeight {
            for ox in 0..<g.outputWidth {
                let share = dy[oy * g.outputWidth + ox] / windowSize
                for ky in 0..<g.kernelHeight {
                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                    guard y >= 0 && y < g.height else { continue }
                    for kx in 0..<g.kernelWidth {
                        let xx = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth
                        if xx >= 0 && xx < g.width { image[y * g.width + xx] += share }
                    }
                }
            }
        }
    }
}

/// Eight windows being pooled, one per lane: their running sums and maxima, and the offset of each maximum from
/// its window's first element (−1 before the window's first tap), exact in `F` for the windows `forward` takes.
struct PoolWindows<F: SIMDScalar & BinaryFloatingPoint> {
    var total = SIMD8<F>.zero
    var best = SIMD8<F>(repeating: -.infinity)
    var winner = SIMD8<F>(repeating: -1)
}

/// The floating-point types pooled eight windows at a time.
protocol PoolLanes: CPUFloat {
    /// Folds one tap into the windows of `lanes`: each sum gains the candidate; the maximum (and `tap` as its
    /// offset) is replaced by a greater candidate, by NaN over a number, or by the window's first, so that the
    /// first of equal maxima wins.
    static func fold(_ candidate: SIMD8<Self>, tap: Int, lanes: Range<Int>, into windows: inout PoolWindows<Self>)
    /// The integers of the used lanes of `winner` (whole numbers from 0 below 2^significandBitCount).
    static func offsets(_ winner: SIMD8<Self>) -> SIMD8<Int64>
}

extension Float: PoolLanes {
    /// Branch-free, in float comparisons and blends only: a generic `.>` on `SIMD8<F>` and integer vector
    /// comparisons compile to a comparison and branch per lane.
    @inline(__always)
    static func fold(_ candidate: SIMD8<Float>, tap: Int, lanes: Range<Int>, into w: inout PoolWindows<Float>) {
        let lane = SIMD8<Float>(0, 1, 2, 3, 4, 5, 6, 7)
        let used = (lane .>= Float(lanes.lowerBound)) .& (lane .< Float(lanes.upperBound))
        w.total += SIMD8.zero.replacing(with: candidate, where: used)
        let greater = (candidate .> w.best) .| ((candidate .!= candidate) .& (w.best .== w.best))
        let take = used .& ((w.winner .< 0) .| greater)
        w.best.replace(with: candidate, where: take)
        w.winner.replace(with: Float(tap), where: take)
    }

    /// Exact through the float's bits: adding 2^23 puts a whole number below 2^23 into the significand.
    @inline(__always)
    static func offsets(_ winner: SIMD8<Float>) -> SIMD8<Int64> {
        SIMD8(truncatingIfNeeded: unsafeBitCast(winner + 0x1p23, to: SIMD8<Int32>.self) &- 0x4B00_0000)
    }
}

extension Double: PoolLanes {
    /// Lane by lane: float64 is the reference dtype, not a fast one.
    static func fold(_ candidate: SIMD8<Double>, tap: Int, lanes: Range<Int>, into w: inout PoolWindows<Double>) {
        for i in lanes {
            let v = candidate[i]
            w.total[i] += v
            if w.winner[i] < 0 || v > w.best[i] || v.isNaN && !w.best[i].isNaN {
                w.best[i] = v
                w.winner[i] = Double(tap)
            }
        }
    }

    static func offsets(_ winner: SIMD8<Double>) -> SIMD8<Int64> {
        var result = SIMD8<Int64>()
        for i in 0..<8 { result[i] = Int64(winner[i]) }
        return result
    }
}
