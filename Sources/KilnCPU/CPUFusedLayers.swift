import Foundation
import KilnCore

/// Layer normalisation and cross-entropy: row-wise kernels with `Double` accumulation (float32 layer-norm rows take
/// their moments in float32 about a centre, see `moments`).
enum CPUFusedLayers {
    static func layerNorm(_ x: BufferView, weight: BufferView?, bias: BufferView?, epsilon: Double, out: BufferView,
                          mean: BufferView, rstd: BufferView) {
        if x.dtype == .float64 {
            layerNorm(Double.self, x, weight, bias, epsilon, out, mean, rstd)
        } else {
            layerNorm(Float.self, x, weight, bias, epsilon, out, mean, rstd)
        }
    }

    private static func layerNorm<F: CPUFloat>(_ type: F.Type, _ x: BufferView, _ weight: BufferView?, _ bias: BufferView?,
                                               _ epsilon: Double, _ out: BufferView, _ mean: BufferView, _ rstd: BufferView) {
        require(x.shape.count == 2, "layerNorm: the backend takes 2-D input, got \(x.shape)")
        let (rows, n) = (x.shape[0], x.shape[1])
        ElementwiseEngine.withContiguous(x, as: F.self) { src in
            ElementwiseEngine.withOptionalContiguous(weight, as: F.self) { w in
                ElementwiseEngine.withOptionalContiguous(bias, as: F.self) { b in
                    ElementwiseEngine.withOutput(out, as: F.self) { dst in
                        ElementwiseEngine.withOutput(mean, as: Double.self) { means in
                            ElementwiseEngine.withOutput(rstd, as: Double.self) { rstds in
                                Parallel.forEach(rows, grain: max(1, 4096 / max(n, 1))) { range in
                                    for r in range {
                                        let row = src + r * n, o = dst + r * n
                                        let (mu, squares) = moments(row, count: n)
                                        let inv = 1 / (squares / Double(n) + epsilon).squareRoot()
                                        means[r] = mu
                                        rstds[r] = inv
                                        let (m, s) = (F(mu), F(inv))
                                        // One loop per case, so that each vectorises.
                                        switch (w, b) {
                                        case let (w?, b?): for i in 0..<n { o[i] = (row[i] - m) * s * w[i] + b[i] }
                                        case let (w?, nil): for i in 0..<n { o[i] = (row[i] - m) * s * w[i] }
                                        case let (nil, b?): for i in 0..<n { o[i] = (row[i] - m) * s + b[i] }
                                        case (nil, nil): for i in 0..<n { o[i] = (row[i] - m) * s }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The mean of `count` elements and the sum of their squared deviations from it (two passes). Float32 rows take
    /// a centre `c` from float32 sums, then `Σ(x - c)` and `Σ(x - c)²` in float32 running sums, corrected to the mean
    /// in Double: with `c` within rounding of the mean, that is the shifted two-pass form, about as accurate as the
    /// float32 inputs. A row whose float32 sums overflow, or holds a NaN, goes through Double instead, as other types do.
    static func moments<F: CPUFloat>(_ row: UnsafePointer<F>, count n: Int) -> (mean: Double, squares: Double) {
        if let f = row as? UnsafePointer<Float> {
            let c = Float(Double(VectorMath.sum(f, count: n)) / Double(n))
            if c.isFinite {
                let (deviations, squares) = VectorMath.deviations(f, count: n, from: c)
                if squares.isFinite {
                    // Σ(x - μ)² = Σ(x - c)² - n·(μ - c)², with μ - c = Σ(x - c)/n.
                    let shift = Double(deviations) / Double(n)
                    return (Double(c) + shift, max(Double(squares) - Double(n) * shift * shift, 0))
                }
            }
        }
        let mu = CPUReduce.blockSum(row, n) / Double(n)
        var squares = 0.0
        for i in 0..<n {
            let d = row[i].asDouble - mu
            squares += d * d
        }
        return (mu, squares)
    }

    static func layerNormBackward(gradient: BufferView, x: BufferView, mean: BufferView, rstd: BufferView,
                                  weight: BufferView?, gradInput: BufferView, gradWeight: BufferView?, gradBias: BufferView?) {
        if x.dtype == .float64 {
            layerNormBackward(Double.self, gradient, x, mean, rstd, weight, gradInput, gradWeight, gradBias)
        } else {
            layerNormBackward(Float.self, gradient, x, mean, rstd, weight, gradInput, gradWeight, gradBias)
        }
    }

    private static func layerNormBackward<F: CPUFloat>(_ type: F.Type, _ gradient: BufferView, _ x: BufferView,
                                                       _ mean: BufferView, _ rstd: BufferView, _ weight: BufferView?,
                                                       _ gradInput: BufferView, _ gradWeight: BufferView?,
                                                       _ gradBias: BufferView?) {
        let (rows, n) = (x.shape[0], x.shape[1])
        ElementwiseEngine.withContiguous(gradient, as: F.self) { dy in
        ElementwiseEngine.withContiguous(x, as: F.self) { src in
        ElementwiseEngine.withContiguous(mean, as: Double.self) { means in
        ElementwiseEngine.withContiguous(rstd, as: Double.self) { rstds in
        ElementwiseEngine.withOptionalContiguous(weight, as: F.self) { w in
            ElementwiseEngine.withOutput(gradInput, as: F.self) { dx in
                // dx = rstd · (g - mean(g) - x̂ · mean(g · x̂)), with g = dy · w.
                Parallel.forEach(rows, grain: max(1, 4096 / max(n, 1))) { range in
                    for r in range {
                        inputGradientRow(dy + r * n, src + r * n, w, mean: means[r], rstd: rstds[r], count: n,
                                         into: dx + r * n)
                    }
                }
            }
            // Column sums for the affine parameters, parallel over columns.
            guard gradWeight != nil || gradBias != nil else { return }
            let dw = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1))
            let db = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1))
            defer { dw.deallocate(); db.deallocate() }
            Parallel.forEach(n, grain: 64) { columns in
                affineGradients(dy, src, means: means, rstds: rstds, rows: rows, n: n, columns: columns, dw: dw, db: db)
            }
            if let gradWeight { ElementwiseEngine.scatter(UnsafePointer(dw), into: gradWeight) }
            if let gradBias { ElementwiseEngine.scatter(UnsafePointer(db), into: gradBias) }
        }
        }
        }
        }
        }
    }

    /// Layer norm's affine-parameter gradients for `columns` of `n`: `dw = Σ dy·(x − μ)·rstd` and `db = Σ dy` over the
    /// rows, in Double. Float32 columns go 16 at a time, their four running sums held in registers over every row
    /// (sums in memory would be loaded and stored per element); the rest one at a time.
    private static func affineGradients<F: CPUFloat>(_ dy: UnsafePointer<F>, _ x: UnsafePointer<F>,
                                                     means: UnsafePointer<Double>, rstds: UnsafePointer<Double>,
                                                     rows: Int, n: Int, columns: Range<Int>,
                                                     dw: UnsafeMutablePointer<Double>, db: UnsafeMutablePointer<Double>) {
        typealias D = SIMD8<Double>
        @inline(__always) func lanes(_ p: UnsafePointer<F>, _ i: Int) -> D { D(wideningFloatsAt: p + i) }
        @inline(__always) func store(_ v: D, _ p: UnsafeMutablePointer<Double>) {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: D.self)
        }
        var c = columns.lowerBound
        while F.self == Float.self && c + 16 <= columns.upperBound {
            var (w0, w1, b0, b1) = (D(), D(), D(), D())
            for r in 0..<rows {
                let (mu, inv, i) = (means[r], rstds[r], r * n + c)
                let (g0, g1) = (lanes(dy, i), lanes(dy, i + 8))
                w0 += g0 * (lanes(x, i) - mu) * inv
                w1 += g1 * (lanes(x, i + 8) - mu) * inv
                b0 += g0
                b1 += g1
            }
            store(w0, dw + c); store(w1, dw + c + 8); store(b0, db + c); store(b1, db + c + 8)
            c += 16
        }
        for column in c..<columns.upperBound {
            var (w, b) = (0.0, 0.0)
            for r in 0..<rows {
                let g = dy[r * n + column].asDouble
                w += g * (x[r * n + column].asDouble - means[r]) * rstds[r]
                b += g
            }
            (dw[column], db[column]) = (w, b)
        }
    }

    /// One row of layer norm's input gradient, `rstd · (g − mean(g) − x̂ · mean(g · x̂))` with `g = dy · w` and
    /// `x̂ = (x − μ) · rstd`, in Double; float32 rows eight lanes at a time (a scalar loop's running sums are one
    /// chain of dependent additions).
    static func inputGradientRow<F: CPUFloat>(_ dy: UnsafePointer<F>, _ x: UnsafePointer<F>, _ w: UnsafePointer<F>?,
                                              mean mu: Double, rstd inv: Double, count n: Int,
                                              into dx: UnsafeMutablePointer<F>) {
        typealias D = SIMD8<Double>
        @inline(__always) func lanes(_ p: UnsafePointer<F>, _ i: Int) -> D { D(wideningFloatsAt: p + i) }
        let vectorised = F.self == Float.self
        let vectorEnd = vectorised ? n / 8 * 8 : 0
        var sumsG = D(), sumsGX = D()
        for i in stride(from: 0, to: vectorEnd, by: 8) {
            let g = w.map { lanes(dy, i) * lanes($0, i) } ?? lanes(dy, i)
            sumsG += g
            sumsGX += g * ((lanes(x, i) - mu) * inv)
        }
        var (sumG, sumGX) = (sumsG.laneSum, sumsGX.laneSum)
        for i in vectorEnd..<n {
            let g = dy[i].asDouble * (w?[i].asDouble ?? 1)
            sumG += g
            sumGX += g * ((x[i].asDouble - mu) * inv)
        }
        let (meanG, meanGX) = (sumG / Double(n), sumGX / Double(n))
        for i in stride(from: 0, to: vectorEnd, by: 8) {
            let g = w.map { lanes(dy, i) * lanes($0, i) } ?? lanes(dy, i)
            let result = SIMD8<Float>(inv * (g - meanG - (lanes(x, i) - mu) * inv * meanGX))
            UnsafeMutableRawPointer(dx + i).storeBytes(of: result, as: SIMD8<Float>.self)
        }
        for i in vectorEnd..<n {
            let g = dy[i].asDouble * (w?[i].asDouble ?? 1)
            dx[i] = F(double: inv * (g - meanG - (x[i].asDouble - mu) * inv * meanGX))
        }
    }

    static func crossEntropy(logits: BufferView, targets: BufferView, options: CrossEntropyOptions, losses: BufferView) {
        if logits.dtype == .float64 {
            crossEntropy(Double.self, logits, targets, options, nil, losses)
        } else {
            crossEntropy(Float.self, logits, targets, options, nil, losses)
        }
    }

    static func crossEntropyBackward(logits: BufferView, targets: BufferView, gradient: BufferView,
                                     options: CrossEntropyOptions, out: BufferView) {
        if logits.dtype == .float64 {
            crossEntropy(Double.self, logits, targets, options, gradient, out)
        } else {
            crossEntropy(Float.self, logits, targets, options, gradient, out)
        }
    }

    /// The forward pass (`gradient == nil`: one loss per row into `out`) or the backward pass (the logits'
    /// gradient into `out`), sharing the row's log-sum-exp.
    private static func crossEntropy<F: CPUFloat>(_ type: F.Type, _ logits: BufferView, _ targets: BufferView,
                                                  _ options: CrossEntropyOptions, _ gradient: BufferView?,
                                                  _ out: BufferView) {
        require(logits.shape.count == 2, "crossEntropy: the backend takes 2-D logits, got \(logits.shape)")
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        var target = [Int64](repeating: 0, count: targets.count)
        target.withUnsafeMutableBufferPointer { ElementwiseEngine.gather(targets, into: $0.baseAddress!) }
        for t in target where t != Int64(options.ignoreIndex ?? -1) && (t < 0 || t >= classes) {
            fatalError("crossEntropy: target \(t) is out of range for \(classes) classes")
        }
        let epsilon = options.labelSmoothing, ignore = options.ignoreIndex.map(Int64.init)
        var upstream = [Double](repeating: 1, count: gradient == nil ? 0 : rows)
        if let gradient { upstream.withUnsafeMutableBufferPointer { ElementwiseEngine.gather(gradient, into: $0.baseAddress!) } }
        ElementwiseEngine.withContiguous(logits, as: F.self) { src in
            ElementwiseEngine.withOutput(out, as: F.self) { dst in
                Parallel.forEach(rows, grain: max(1, 4096 / max(classes, 1))) { range in
                    // Each row's maximum is found while the row before it is exponentiated (`sumExp(…maximumOf:)`).
                    var m = F.maximum(src + range.lowerBound * classes, count: classes)
                    for r in range {
                        let row = src + r * classes, t = target[r], k = Int(t), rowMaximum = m
                        // The last row reads itself as its "next" one, for nothing.
                        let next = r + 1 < range.upperBound ? row + classes : row
                        if t == ignore {
                            if gradient == nil { dst[r] = 0 } else { (dst + r * classes).update(repeating: 0, count: classes) }
                            m = F.maximum(next, count: classes)
                            continue
                        }
                        // The negative log-likelihood log(1 + Σ_{j≠t} e^{x_j - x_t}) from the other classes' sum, so that a
                        // confident row's small loss is not lost to rounding in 1 + (a float32 sum).
                        let (before, nextBefore) = F.sumExp(row, minus: rowMaximum, count: k, maximumOf: next)
                        let (after, nextAfter) = F.sumExp(row + k + 1, minus: rowMaximum, count: classes - k - 1,
                                                          maximumOf: next + k + 1)
                        m = larger(larger(nextBefore, next[k]), nextAfter)
                        let others = before.asDouble + after.asDouble, xt = row[k].asDouble
                        let d = rowMaximum.asDouble - xt
                        let nll = d < 1 ? Foundation.log1p(others * Foundation.exp(d)) : d + Foundation.log(Foundation.exp(-d) + others)
                        let lse = xt + nll
                        if gradient == nil {
                            var loss = (1 - epsilon) * nll
                            if epsilon > 0 { loss += epsilon * (lse - F.sum(row, count: classes).asDouble / Double(classes)) }
                            dst[r] = F(double: loss)
                        } else {
                            // o = (softmax - q)·g with q = (1-ε)·onehot + ε/C: the exponentials vectorised, then one pass.
                            let o = dst + r * classes, g = F(double: upstream[r]), spread = F(double: epsilon / Double(classes))
                            F.exp(row, minus: F(double: lse), into: o, count: classes)
                            for c in 0..<classes { o[c] = (o[c] - spread) * g }
                            // The target's p − 1 is minus the other classes' probability: formed from their sum, a
                            // confident row's small gradient does not cancel away in float32.
                            let rest = others * Foundation.exp(rowMaximum.asDouble - lse)
                            o[k] = F(double: (epsilon - epsilon / Double(classes) - rest) * upstream[r])
                        }
                    }
                }
            }
        }
    }

    /// The larger of two values, NaN if either is (as `CPUFloat.maximum`).
    private static func larger<F: CPUFloat>(_ a: F, _ b: F) -> F { a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
}
