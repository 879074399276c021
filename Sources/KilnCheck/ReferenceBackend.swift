import Foundation
import KilnCore

/// A deliberately simple implementation of the device protocol: one index at a time, every value as `Double`,
/// no blocking, no threads, no fast paths. It is the independent reference `kiln check` holds the optimised CPU
/// backend against (the CPU backend is in turn the reference for every other device). Outputs are stored in
/// their dtype, so rounding to half precision happens where it does on the real backends.
public final class ReferenceBackend: Backend {
    /// The one reference backend of the process.
    public static let shared = ReferenceBackend()
    private init() {}

    /// Always `.reference`.
    public var kind: DeviceKind { .reference }
    /// Always 0.
    public var ordinal: Int { 0 }
    /// `"reference (naive float64 loops)"`.
    public var name: String { "reference (naive float64 loops)" }
    /// The reference backend keeps no statistics.
    public func memoryInfo() -> MemoryInfo { MemoryInfo(allocated: 0, reserved: 0, peak: 0, total: nil) }
    /// Every op on every dtype it is defined for (`Op.isDefined(for:)`).
    public func supports(_ op: Op, dtype: DType) -> Bool { op.isDefined(for: dtype) }
    /// Nothing to wait for.
    public func synchronize() throws {}

    /// A new host buffer.
    public func allocate(byteCount: Int) throws -> any DeviceBuffer { ReferenceBuffer(byteCount: byteCount) }
    /// Copies host bytes in.
    public func copy(fromHost source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, byteOffset: Int) throws {
        guard let target = buffer as? ReferenceBuffer, let address = source.baseAddress else { return }
        (target.bytes + byteOffset).copyMemory(from: address, byteCount: source.count)
    }
    /// Copies bytes out.
    public func copy(toHost destination: UnsafeMutableRawBufferPointer, from buffer: any DeviceBuffer, byteOffset: Int) throws {
        guard let source = buffer as? ReferenceBuffer, let address = destination.baseAddress else { return }
        address.copyMemory(from: source.bytes + byteOffset, byteCount: destination.count)
    }

    /// Every element set to `value`.
    public func fill(_ out: BufferView, value: Double) { for i in indices(of: out.shape) { out[i] = value } }
    /// Element-by-element copy with conversion.
    public func copy(_ source: BufferView, to out: BufferView) { for i in indices(of: out.shape) { out[i] = source[i] } }

    /// `op` on each element.
    public func unary(_ op: UnaryOp, _ x: BufferView, out: BufferView) {
        let f: (Double) -> Double = switch op {
        case .neg: { -$0 }
        case .abs: { Swift.abs($0) }
        case .sign: { $0 > 0 ? 1 : ($0 < 0 ? -1 : ($0.isNaN ? .nan : 0)) }
        case .square: { $0 * $0 }
        case .exp: { Foundation.exp($0) }
        case .log: { Foundation.log($0) }
        case .sqrt: { $0.squareRoot() }
        case .rsqrt: { 1 / $0.squareRoot() }
        case .reciprocal: { 1 / $0 }
        case .sin: { Foundation.sin($0) }
        case .cos: { Foundation.cos($0) }
        case .tanh: { Foundation.tanh($0) }
        case .sigmoid: { Self.sigmoid($0) }
        case .relu: { $0.isNaN ? $0 : Swift.max($0, 0) }
        case .gelu: { $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) / 2 }
        case .geluTanh: { v in v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) / 2 }
        case .silu: { $0 / (1 + Foundation.exp(-$0)) }
        case .erf: { Foundation.erf($0) }
        case .floor: { $0.rounded(.down) }
        case .ceil: { $0.rounded(.up) }
        case .round: { $0.rounded(.toNearestOrEven) }
        }
        for i in indices(of: out.shape) { out[i] = f(x[i]) }
    }

    /// `gradient · op′` from the textbook derivatives, each element in Float64.
    public func unaryBackward(_ op: UnaryOp, _ saved: BufferView, gradient: BufferView, out: BufferView) {
        let derivative: (Double) -> Double = switch op {
        case .relu: { $0 > 0 ? 1 : 0 }
        case .sigmoid: { y in y * (1 - y) }
        case .tanh: { y in 1 - y * y }
        case .gelu: { x in (1 + Foundation.erf(x / 2.0.squareRoot())) / 2 + x * Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot() }
        case .geluTanh: { x in
            let c = (2 / Double.pi).squareRoot(), t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
            return (1 + t) / 2 + x / 2 * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        }
        case .silu: { x in
            let s = Self.sigmoid(x)
            return s * (1 + x * (1 - s))
        }
        default: fatalError("\(op)Backward: not a fused backward")
        }
        for i in indices(of: out.shape) { out[i] = gradient[i] * derivative(saved[i]) }
    }

    /// `op` on each pair of elements.
    public func binary(_ op: BinaryOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        let f: (Double, Double) -> Double = switch op {
        case .add: { $0 + $1 }
        case .sub: { $0 - $1 }
        case .mul: { $0 * $1 }
        case .div: { $0 / $1 }
        case .pow: { Foundation.pow($0, $1) }
        case .maximum: { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .minimum: { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        }
        for i in indices(of: out.shape) { out[i] = f(a[i], b[i]) }
    }

    /// The comparison on each pair, as 1 or 0.
    public func compare(_ op: CompareOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        let f: (Double, Double) -> Bool = switch op {
        case .eq: { $0 == $1 }
        case .ne: { $0 != $1 }
        case .lt: { $0 < $1 }
        case .le: { $0 <= $1 }
        case .gt: { $0 > $1 }
        case .ge: { $0 >= $1 }
        }
        for i in indices(of: out.shape) { out[i] = f(a[i], b[i]) ? 1 : 0 }
    }

    /// `condition ? a : b` per element.
    public func select(_ condition: BufferView, _ a: BufferView, _ b: BufferView, out: BufferView) {
        for i in indices(of: out.shape) { out[i] = condition[i] != 0 ? a[i] : b[i] }
    }

    /// The groups of input values that reduce to each output position (row-major over the kept-shape).
    private func groups(_ x: BufferView, axes: [Int]) -> (kept: [Int], values: [[Double]]) {
        var kept = x.shape
        for a in axes { kept[a] = 1 }
        let strides = Layout.contiguousStrides(kept)
        var values = [[Double]](repeating: [], count: kept.reduce(1, *))
        for i in indices(of: x.shape) {
            var o = 0
            for axis in i.indices where !axes.contains(axis) { o += i[axis] * strides[axis] }
            values[o].append(x[i])
        }
        return (kept, values)
    }

    /// Sum, mean, max, min or variance of each group, accumulated in `Double` in index order.
    public func reduce(_ op: ReduceOp, _ x: BufferView, axes: [Int], out: BufferView) {
        let (kept, values) = groups(x, axes: axes)
        for (o, index) in indices(of: kept).enumerated() {
            let v = values[o]
            let total = v.reduce(0, +), mean = total / Double(v.count)
            out[index] = switch op {
            case .sum: total
            case .mean: mean
            case .max: v.contains { $0.isNaN } ? .nan : v.max() ?? .nan
            case .min: v.contains { $0.isNaN } ? .nan : v.min() ?? .nan
            case .variance(let correction): v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - correction)
            }
        }
    }

    /// The position of the first extreme (or first NaN) along `axis`.
    public func argReduce(_ op: ArgReduceOp, _ x: BufferView, axis: Int, out: BufferView) {
        let (kept, values) = groups(x, axes: [axis])
        for (o, index) in indices(of: kept).enumerated() {
            let v = values[o]
            if let nan = v.firstIndex(where: \.isNaN) {
                out[index] = Double(nan)
            } else {
                out[index] = Double(v.firstIndex(of: op == .argmax ? v.max()! : v.min()!)!)
            }
        }
    }

    /// The index lists of each row along `axis`.
    private func rows(_ shape: [Int], axis: Int) -> [[[Int]]] {
        var outer = shape
        outer[axis] = 1
        return indices(of: outer).map { start in
            (0..<shape[axis]).map { k in
                var i = start
                i[axis] = k
                return i
            }
        }
    }

    /// exp(x - max) / Σ, or its logarithm, per row.
    public func softmax(_ x: BufferView, axis: Int, log: Bool, out: BufferView) {
        for row in rows(x.shape, axis: axis) {
            let v = row.map { x[$0] }
            let m = v.max() ?? 0
            let z = v.map { Foundation.exp($0 - m) }.reduce(0, +)
            for (k, i) in row.enumerated() { out[i] = log ? v[k] - m - Foundation.log(z) : Foundation.exp(v[k] - m) / z }
        }
    }

    /// The softmax (or log-softmax) Jacobian-vector product per row.
    public func softmaxBackward(output y: BufferView, gradient: BufferView, axis: Int, log: Bool, out: BufferView) {
        for row in rows(y.shape, axis: axis) {
            let sumG = row.map { gradient[$0] }.reduce(0, +)
            let dot = row.map { y[$0] * gradient[$0] }.reduce(0, +)
            for i in row {
                out[i] = log ? gradient[i] - Foundation.exp(y[i]) * sumG : y[i] * (gradient[i] - dot)
            }
        }
    }

    /// Three nested loops per batch entry.
    public func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double) {
        let (batch, m, k, n) = (out.shape[0], a.shape[1], a.shape[2], b.shape[2])
        for bi in 0..<batch {
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += a[[bi, i, p]] * b[[bi, p, j]] }
                    out[[bi, i, j]] = alpha * s + (beta == 0 ? 0 : beta * out[[bi, i, j]])
                }
            }
        }
    }

    private func index(_ view: BufferView, _ position: Int, extent: Int, op: String) -> Int {
        var index = [Int](repeating: 0, count: view.shape.count), rest = position
        for axis in view.shape.indices.reversed() {
            index[axis] = rest % view.shape[axis]
            rest /= view.shape[axis]
        }
        let value = Int(view[index])
        guard value >= 0 && value < extent else { fatalError("\(op): index \(value) is out of range for an axis of extent \(extent)") }
        return value
    }

    /// `out[…, i, …] = x[…, indices[i], …]`.
    public func indexSelect(_ x: BufferView, indices idx: BufferView, axis: Int, out: BufferView) {
        for i in indices(of: out.shape) {
            var source = i
            source[axis] = index(idx, i[axis], extent: x.shape[axis], op: "indexSelect")
            out[i] = x[source]
        }
    }

    /// `out[…, indices[i], …] += source[…, i, …]`.
    public func indexAdd(_ source: BufferView, indices idx: BufferView, axis: Int, out: BufferView) {
        for i in indices(of: source.shape) {
            var target = i
            target[axis] = index(idx, i[axis], extent: out.shape[axis], op: "indexAdd")
            out[target] += source[i]
        }
    }

    /// `out[i] = x[i with axis replaced by indices[i]]`.
    public func gather(_ x: BufferView, indices idx: BufferView, axis: Int, out: BufferView) {
        for (position, i) in indices(of: out.shape).enumerated() {
            var source = i
            source[axis] = index(idx, position, extent: x.shape[axis], op: "gather")
            out[i] = x[source]
        }
    }

    /// `out[i with axis replaced by indices[i]] += source[i]`.
    public func scatterAdd(_ source: BufferView, indices idx: BufferView, axis: Int, out: BufferView) {
        for (position, i) in indices(of: source.shape).enumerated() {
            var target = i
            target[axis] = index(idx, position, extent: out.shape[axis], op: "scatterAdd")
            out[target] += source[i]
        }
    }

    /// The input position a window tap reads, or nil in the padding.
    private func tap(_ g: Window2d, _ oy: Int, _ ox: Int, _ ky: Int, _ kx: Int) -> (Int, Int)? {
        let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
        let x = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth
        return y >= 0 && y < g.height && x >= 0 && x < g.width ? (y, x) : nil
    }

    /// Patches as columns, zeros in the padding.
    public func im2col(_ x: BufferView, geometry g: Window2d, out: BufferView) {
        for n in 0..<g.batch { for c in 0..<g.channels { for ky in 0..<g.kernelHeight { for kx in 0..<g.kernelWidth {
            for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth {
                let row = (c * g.kernelHeight + ky) * g.kernelWidth + kx, column = oy * g.outputWidth + ox
                out[[n, row, column]] = tap(g, oy, ox, ky, kx).map { x[[n, c, $0.0, $0.1]] } ?? 0
            } }
        } } } }
    }

    /// Columns summed back into the image.
    public func col2im(_ columns: BufferView, geometry g: Window2d, out: BufferView) {
        fill(out, value: 0)
        for n in 0..<g.batch { for c in 0..<g.channels { for ky in 0..<g.kernelHeight { for kx in 0..<g.kernelWidth {
            for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth {
                guard let (y, x) = tap(g, oy, ox, ky, kx) else { continue }
                let row = (c * g.kernelHeight + ky) * g.kernelWidth + kx, column = oy * g.outputWidth + ox
                out[[n, c, y, x]] += columns[[n, row, column]]
            } }
        } } } }
    }

    /// Window maxima (first maximum, or first NaN) or means counting padding as zeros.
    public func pool2d(_ kind: PoolKind, _ x: BufferView, geometry g: Window2d, out: BufferView, indices positions: BufferView?) {
        for i in indices(of: g.outputShape) {
            let (n, c, oy, ox) = (i[0], i[1], i[2], i[3])
            var taps: [(Double, Int)] = []
            for ky in 0..<g.kernelHeight { for kx in 0..<g.kernelWidth {
                if let (y, xx) = tap(g, oy, ox, ky, kx) { taps.append((x[[n, c, y, xx]], y * g.width + xx)) }
            } }
            if kind == .average {
                out[i] = taps.map(\.0).reduce(0, +) / Double(g.kernelHeight * g.kernelWidth)
            } else {
                let best = taps.first { $0.0.isNaN } ?? taps.first { $0.0 == taps.map(\.0).max()! }!
                out[i] = best.0
                positions?[i] = Double(best.1)
            }
        }
    }

    /// Max pooling routes each gradient to its maximum; average pooling spreads it over the window.
    public func pool2dBackward(_ kind: PoolKind, gradient: BufferView, indices positions: BufferView?, geometry g: Window2d,
                               out: BufferView) {
        fill(out, value: 0)
        for i in indices(of: g.outputShape) {
            let (n, c, oy, ox) = (i[0], i[1], i[2], i[3])
            if kind == .max {
                let p = Int(positions![i])
                out[[n, c, p / g.width, p % g.width]] += gradient[i]
                continue
            }
            for ky in 0..<g.kernelHeight { for kx in 0..<g.kernelWidth {
                if let (y, x) = tap(g, oy, ox, ky, kx) {
                    out[[n, c, y, x]] += gradient[i] / Double(g.kernelHeight * g.kernelWidth)
                }
            } }
        }
    }

    /// Per row: (x - mean) / √(var + ε) · w + b, saving mean and 1/√(var + ε).
    public func layerNorm(_ x: BufferView, weight: BufferView?, bias: BufferView?, epsilon: Double, out: BufferView,
                          mean: BufferView, rstd: BufferView) {
        for (r, row) in rows(x.shape, axis: 1).enumerated() {
            let v = row.map { x[$0] }
            let mu = v.reduce(0, +) / Double(v.count)
            let inv = 1 / (v.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(v.count) + epsilon).squareRoot()
            mean[[r]] = mu
            rstd[[r]] = inv
            for (k, i) in row.enumerated() { out[i] = (v[k] - mu) * inv * (weight?[[k]] ?? 1) + (bias?[[k]] ?? 0) }
        }
    }

    /// The cell equations element by element in Float64.
    public func lstmCell(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView, cellOut: BufferView) {
        let (batch, hidden) = (cell.shape[0], cell.shape[1])
        for b in 0..<batch { for j in 0..<hidden {
            let (i, f, g, o) = (Self.sigmoid(gates[[b, j]]), Self.sigmoid(gates[[b, hidden + j]]),
                                Foundation.tanh(gates[[b, 2 * hidden + j]]), Self.sigmoid(gates[[b, 3 * hidden + j]]))
            for (k, a) in [i, f, g, o].enumerated() { activationsOut[[b, k * hidden + j]] = a }
            let c = f * cell[[b, j]] + i * g
            cellOut[[b, j]] = c
            hiddenOut[[b, j]] = o * Foundation.tanh(c)
        } }
    }

    /// The chain rule through the cell equations, element by element in Float64.
    public func lstmCellBackward(activations: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                                 cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView) {
        let (batch, hidden) = (cell.shape[0], cell.shape[1])
        for b in 0..<batch { for j in 0..<hidden {
            let (i, f, g, o) = (activations[[b, j]], activations[[b, hidden + j]], activations[[b, 2 * hidden + j]], activations[[b, 3 * hidden + j]])
            let t = Foundation.tanh(cellOut[[b, j]]), dh = hiddenGradient[[b, j]]
            let dc = cellOutGradient[[b, j]] + dh * o * (1 - t * t)
            gatesGradient[[b, j]] = dc * g * i * (1 - i)
            gatesGradient[[b, hidden + j]] = dc * cell[[b, j]] * f * (1 - f)
            gatesGradient[[b, 2 * hidden + j]] = dc * i * (1 - g * g)
            gatesGradient[[b, 3 * hidden + j]] = dh * t * o * (1 - o)
            cellGradient[[b, j]] = dc * f
        } }
    }

    private static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

    /// dx = rstd·(g - mean(g) - x̂·mean(g·x̂)) with g = dy·w; dw = Σ dy·x̂; db = Σ dy.
    public func layerNormBackward(gradient: BufferView, x: BufferView, mean: BufferView, rstd: BufferView,
                                  weight: BufferView?, gradInput: BufferView, gradWeight: BufferView?, gradBias: BufferView?) {
        let n = x.shape[1]
        // The parameter sums accumulate in Float64 and are stored once: adding into a bfloat16 buffer would
        // round at every row, an error of the reference's own.
        var (dw, db) = ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
        for (r, row) in rows(x.shape, axis: 1).enumerated() {
            let xhat = row.map { (x[$0] - mean[[r]]) * rstd[[r]] }
            let g = row.enumerated().map { gradient[$0.element] * (weight?[[$0.offset]] ?? 1) }
            let meanG = g.reduce(0, +) / Double(n)
            let meanGX = zip(g, xhat).map { $0 * $1 }.reduce(0, +) / Double(n)
            for (k, i) in row.enumerated() {
                gradInput[i] = rstd[[r]] * (g[k] - meanG - xhat[k] * meanGX)
                dw[k] += gradient[i] * xhat[k]
                db[k] += gradient[i]
            }
        }
        for k in 0..<n {
            gradWeight?[[k]] = dw[k]
            gradBias?[[k]] = db[k]
        }
    }

    /// The row's log-sum-exp and the smoothed target distribution, or nil for an ignored row.
    private func crossEntropyRow(_ logits: BufferView, _ targets: BufferView, _ r: Int, _ options: CrossEntropyOptions)
        -> (values: [Double], max: Double, logSum: Double, target: [Double])? {
        let t = Int(targets[[r]])
        if t == options.ignoreIndex { return nil }
        let classes = logits.shape[1]
        guard t >= 0 && t < classes else { fatalError("crossEntropy: target \(t) is out of range for \(classes) classes") }
        let v = (0..<classes).map { logits[[r, $0]] }
        let m = v.max()!, top = v.firstIndex(of: m) ?? 0
        // log Σ exp(x − m) = log1p(Σ over the others), the maximum's own term being exactly 1: a confident row's
        // tiny loss keeps its relative precision instead of vanishing into log(1 + small).
        let logSum = Foundation.log1p(v.indices.filter { $0 != top }.map { Foundation.exp(v[$0] - m) }.reduce(0, +))
        let e = options.labelSmoothing
        return (v, m, logSum, (0..<classes).map { ($0 == t ? 1 - e : 0) + e / Double(classes) })
    }

    /// Σ_c q_c · (lse - x_c) per row, with lse - x_c formed as (max - x_c) + log Σ exp(x - max).
    public func crossEntropy(logits: BufferView, targets: BufferView, options: CrossEntropyOptions, losses: BufferView) {
        for r in 0..<logits.shape[0] {
            guard let (v, m, logSum, q) = crossEntropyRow(logits, targets, r, options) else { losses[[r]] = 0; continue }
            losses[[r]] = zip(q, v).map { $0 * ((m - $1) + logSum) }.reduce(0, +)
        }
    }

    /// (softmax - q) · gradient[row].
    public func crossEntropyBackward(logits: BufferView, targets: BufferView, gradient: BufferView,
                                     options: CrossEntropyOptions, out: BufferView) {
        for r in 0..<logits.shape[0] {
            guard let (v, m, logSum, q) = crossEntropyRow(logits, targets, r, options) else {
                for c in 0..<logits.shape[1] { out[[r, c]] = 0 }
                continue
            }
            for c in v.indices { out[[r, c]] = (Foundation.exp((v[c] - m) - logSum) - q[c]) * gradient[[r]] }
        }
    }

    /// The `i`-th uniform of a stream, straight from the definition in `Philox4x32`.
    private func uniform(_ stream: RandomStream, _ i: Int) -> Double {
        Double(Philox4x32.uniform(Philox4x32.block(index: stream.offset &+ UInt64(i / 4), seed: stream.seed)[i % 4]))
    }

    /// Keep element `i` when its uniform is at least `p`, scaled by 1/(1-p).
    public func dropout(_ x: BufferView, probability p: Double, stream: RandomStream, out: BufferView, mask: BufferView) {
        for (k, i) in indices(of: x.shape).enumerated() {
            let keep = uniform(stream, k) >= p
            mask[i] = keep ? 1 : 0
            out[i] = keep ? x[i] / (1 - p) : 0
        }
    }

    /// Values from the stream as `Philox4x32` defines them.
    public func randomFill(_ out: BufferView, distribution: RandomDistribution, stream: RandomStream) {
        for (k, i) in indices(of: out.shape).enumerated() {
            out[i] = switch distribution {
            case .uniform(let low, let high): low + (high - low) * uniform(stream, k)
            case .normal(let mean, let std):
                mean + std * Philox4x32.normals(Philox4x32.block(index: stream.offset &+ UInt64(k / 4), seed: stream.seed))[k % 4]
            case .bernoulli(let p): uniform(stream, k) < p ? 1 : 0
            }
        }
    }

    /// PyTorch's SGD, one element at a time in Float64, each buffer written once (rounded once to its dtype, as
    /// the fused kernels do; reading a value back after storing it would round it mid-step).
    public func sgdStep(parameter: BufferView, gradient: BufferView, momentumBuffer: BufferView?, parameters h: SGDParameters,
                        isFirstStep: Bool) {
        for i in indices(of: parameter.shape) {
            var d = gradient[i] + h.weightDecay * parameter[i]
            if h.momentum != 0, let buffer = momentumBuffer {
                let b = isFirstStep ? d : h.momentum * buffer[i] + (1 - h.dampening) * d
                buffer[i] = b
                d = h.nesterov ? d + h.momentum * b : b
            }
            parameter[i] -= h.learningRate * d
        }
    }

    /// PyTorch's Adam/AdamW with bias correction, one element at a time in Float64, each buffer written once.
    public func adamStep(parameter: BufferView, gradient: BufferView, firstMoment: BufferView, secondMoment: BufferView,
                         parameters h: AdamParameters, step: Int) {
        for i in indices(of: parameter.shape) {
            var (p, d) = (parameter[i], gradient[i])
            if h.decoupledWeightDecay { p *= 1 - h.learningRate * h.weightDecay } else { d += h.weightDecay * p }
            let m = h.beta1 * firstMoment[i] + (1 - h.beta1) * d
            let v = h.beta2 * secondMoment[i] + (1 - h.beta2) * d * d
            (firstMoment[i], secondMoment[i]) = (m, v)
            let mHat = m / (1 - Foundation.pow(h.beta1, Double(step)))
            let vHat = v / (1 - Foundation.pow(h.beta2, Double(step)))
            parameter[i] = p - h.learningRate * mHat / (vHat.squareRoot() + h.epsilon)
        }
    }
}
