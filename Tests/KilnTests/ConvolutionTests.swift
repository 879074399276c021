import Testing
import Kiln

/// Direct convolution in Float64: out[n][o][y][x] = b[o] + Σ w[o][c][i][j] · in[n][g·C/G + c][y·s - p + i·d][x·s - p + j·d].
func referenceConv(_ x: Ref, _ w: Ref, _ b: Ref?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
                   groups: Int) -> Ref {
    let (n, h, wd) = (x.shape[0], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    var out = [Double](repeating: 0, count: n * o * oh * ow)
    for ni in 0..<n {
        for oi in 0..<o {
            let group = oi / (o / groups)
            for y in 0..<oh {
                for xx in 0..<ow {
                    var s = b?.values[oi] ?? 0
                    for ci in 0..<cg {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let yy = y * stride.0 - padding.0 + i * dilation.0
                                let xxx = xx * stride.1 - padding.1 + j * dilation.1
                                guard yy >= 0, yy < h, xxx >= 0, xxx < wd else { continue }
                                s += w[[oi, ci, i, j]] * x[[ni, group * cg + ci, yy, xxx]]
                            }
                        }
                    }
                    out[((ni * o + oi) * oh + y) * ow + xx] = s
                }
            }
        }
    }
    return Ref([n, o, oh, ow], out)
}

/// Pooling in Float64 with padding ignored by max and counted as zeros by the average.
func referencePool(_ x: Ref, max: Bool, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> Ref {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = (h + 2 * padding.0 - kernel.0) / stride.0 + 1, ow = (w + 2 * padding.1 - kernel.1) / stride.1 + 1
    var out: [Double] = []
    for ni in 0..<n { for ci in 0..<c { for y in 0..<oh { for xx in 0..<ow {
        var values: [Double] = []
        for i in 0..<kernel.0 { for j in 0..<kernel.1 {
            let yy = y * stride.0 - padding.0 + i, xxx = xx * stride.1 - padding.1 + j
            if yy >= 0 && yy < h && xxx >= 0 && xxx < w { values.append(x[[ni, ci, yy, xxx]]) }
        } }
        out.append(max ? values.max()! : values.reduce(0, +) / Double(kernel.0 * kernel.1))
    } } } }
    return Ref([n, c, oh, ow], out)
}

struct ConvCase: CustomStringConvertible, Sendable {
    var input: [Int], weight: [Int], stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1, bias = true
    var description: String { "in \(input) w \(weight) s \(stride) p \(padding) d \(dilation) g \(groups)" }
}

@Suite struct ConvolutionTests {
    static let cases: [ConvCase] = [
        ConvCase(input: [1, 1, 5, 5], weight: [1, 1, 3, 3]),
        ConvCase(input: [2, 3, 7, 6], weight: [4, 3, 3, 2], padding: (1, 1)),
        ConvCase(input: [2, 3, 9, 9], weight: [5, 3, 3, 3], stride: (2, 2), padding: (1, 0), bias: false),
        ConvCase(input: [1, 2, 11, 10], weight: [3, 2, 3, 3], dilation: (2, 3), groups: 1),
        ConvCase(input: [2, 4, 6, 6], weight: [6, 2, 3, 3], padding: (1, 1), groups: 2),
        ConvCase(input: [3, 6, 5, 5], weight: [6, 1, 3, 3], stride: (1, 2), padding: (1, 1), groups: 6),
        ConvCase(input: [2, 1, 28, 28], weight: [8, 1, 5, 5], padding: (2, 2)),
        // More than 2¹⁵ output positions over the batch: one product per image instead of one for all.
        ConvCase(input: [3, 2, 110, 110], weight: [4, 1, 3, 3], padding: (1, 1), groups: 2),
        // Columns over 8 MiB for the batch, an input that needs no gradient: on the CPU, im2col and products two images
        // and then one at a time in float32 (3.6 MB of columns an image), one at a time in float64, per group too.
        ConvCase(input: [3, 8, 112, 112], weight: [2, 8, 3, 3], padding: (1, 1)),
        ConvCase(input: [3, 16, 112, 112], weight: [2, 8, 3, 3], padding: (1, 1), groups: 2, bias: false),
    ]

    /// The per-image products (a batch with more than 2¹⁵ output positions) give the gradients that the
    /// all-images product gives each image alone.
    @Test func wideBatchesGiveEachImagesGradients() {
        let x = Tensor.normal([3, 2, 110, 110]).requiringGrad(), w = Tensor.normal([4, 1, 3, 3]).requiringGrad()
        let b = Tensor.normal([4]).requiringGrad(), g = Tensor.normal([3, 4, 110, 110])
        (conv2d(x, weight: w, bias: b, padding: (1, 1), groups: 2) * g).sum().backward()
        let (dx, dw, db) = (x.grad!, w.grad!, b.grad!)
        x.zeroGrad(); w.zeroGrad(); b.zeroGrad()
        for i in 0..<3 {
            let image = x.sliced(axis: 0, start: i, end: i + 1)
            (conv2d(image, weight: w, bias: b, padding: (1, 1), groups: 2) * g.sliced(axis: 0, start: i, end: i + 1)).sum().backward()
        }
        #expect((dx - x.grad!).abs().max().item(Double.self) < 1e-4)
        #expect((dw - w.grad!).abs().max().item(Double.self) < 1e-4 * dw.abs().max().item(Double.self))
        #expect((db - b.grad!).abs().max().item(Double.self) < 1e-4 * db.abs().max().item(Double.self))
    }

    /// The weights' and bias's gradients when the batch goes through in pieces (see `cases`), against sums in
    /// float64: `dW[o][c][i][j] = Σ g[n][o][y][x] · x[n][c][y + i - 1][x + j - 1]` and `db[o] = Σ g[n][o][y][x]`.
    @Test(arguments: [DType.float32, .float64])
    func batchInPiecesGivesTheWeightsGradients(_ dtype: DType) {
        let (n, c, o, side) = (3, 8, 2, 112), plane = side * side
        let x = rounded(Ref.random([n, c, side, side], seed: 86), to: dtype)
        let g = rounded(Ref.random([n, o, side, side], seed: 87), to: dtype)
        let w = Tensor.normal([o, c, 3, 3], dtype: dtype).requiringGrad()
        let b = Tensor.zeros([o], dtype: dtype).requiringGrad()
        let y = conv2d(Tensor(x.values, shape: x.shape).to(dtype), weight: w, bias: b, padding: (1, 1))
        (y * Tensor(g.values, shape: g.shape).to(dtype)).sum().backward()
        var dw = [Double](repeating: 0, count: o * c * 9), db = [Double](repeating: 0, count: o)
        for ni in 0..<n { for oi in 0..<o {
            let gs = (ni * o + oi) * plane
            db[oi] += g.values[gs..<gs + plane].reduce(0, +)
            for ci in 0..<c { for i in 0..<3 { for j in 0..<3 {
                let xs = (ni * c + ci) * plane
                var s = 0.0
                for yy in max(0, 1 - i)..<min(side, side + 1 - i) { for xx in max(0, 1 - j)..<min(side, side + 1 - j) {
                    s += g.values[gs + yy * side + xx] * x.values[xs + (yy + i - 1) * side + xx + j - 1]
                } }
                dw[((oi * c + ci) * 3 + i) * 3 + j] += s
            } } }
        } }
        let tolerance = dtype == .float32 ? 1e-4 : 1e-10
        #expect(mismatch(w.grad!, Ref([o, c, 3, 3], dw), rtol: tolerance, atol: tolerance) == nil, "\(dtype)")
        #expect(mismatch(b.grad!, Ref([o], db), rtol: tolerance, atol: tolerance) == nil, "\(dtype)")
    }

    @Test(arguments: cases)
    func conv2dMatchesDirectConvolution(_ c: ConvCase) {
        let x = Ref.random(c.input, seed: 81), w = Ref.random(c.weight, seed: 82), b = Ref.random([c.weight[0]], seed: 83)
        let expected = referenceConv(x, w, c.bias ? b : nil, stride: c.stride, padding: c.padding, dilation: c.dilation,
                                     groups: c.groups)
        let result = conv2d(Storage.transposed.tensor(x), weight: Storage.strided.tensor(w),
                            bias: c.bias ? Tensor(b.values).to(.float32) : nil, stride: c.stride, padding: c.padding,
                            dilation: c.dilation, groups: c.groups)
        #expect(mismatch(result, expected, rtol: 1e-5, atol: 1e-5) == nil, "\(c)")
        let result64 = conv2d(Tensor(x.values, shape: x.shape), weight: Tensor(w.values, shape: w.shape),
                              bias: c.bias ? Tensor(b.values) : nil, stride: c.stride, padding: c.padding,
                              dilation: c.dilation, groups: c.groups)
        #expect(mismatch(result64, expected, rtol: 1e-12, atol: 1e-12) == nil, "float64 \(c)")
    }

    /// Narrow and wide rows: the CPU pools eight output columns at a time, so the wide ones (37 columns) take
    /// whole vectors, tails, the stride-2 deinterleaving load, a column-by-column gather (stride 3) and reads up
    /// to the end of the input.
    @Test(arguments: [([2, 3, 7, 8], (2, 2), (2, 2), (0, 0)), ([2, 3, 7, 8], (3, 3), (2, 2), (1, 1)),
                      ([2, 3, 7, 8], (3, 2), (1, 2), (1, 0)), ([2, 3, 7, 8], (1, 1), (1, 1), (0, 0)),
                      ([2, 2, 5, 37], (2, 2), (2, 2), (0, 0)), ([2, 2, 5, 37], (3, 3), (1, 1), (1, 1)),
                      ([2, 2, 5, 37], (3, 3), (2, 2), (1, 1)), ([1, 2, 4, 37], (2, 3), (1, 3), (1, 1))])
    func pooling(_ shape: [Int], _ kernel: (Int, Int), _ stride: (Int, Int), _ padding: (Int, Int)) {
        let x = rounded(Ref.random(shape, seed: 84), to: .float32)
        let t = Storage.transposed.tensor(x)
        #expect(mismatch(maxPool2d(t, kernel: kernel, stride: stride, padding: padding),
                         referencePool(x, max: true, kernel: kernel, stride: stride, padding: padding), rtol: 0, atol: 0) == nil)
        #expect(mismatch(avgPool2d(t, kernel: kernel, stride: stride, padding: padding),
                         referencePool(x, max: false, kernel: kernel, stride: stride, padding: padding), rtol: 1e-6, atol: 1e-6) == nil)
    }

    /// Ties and NaNs in wide rows, in float32 and float64, for padded 3×3 windows and for the 2×2 halving (which
    /// the CPU reads as two deinterleaved rows): each window's gradient goes to its first maximum, or to its first
    /// NaN, which is also its output.
    @Test(arguments: [DType.float32, .float64], [((3, 3), (1, 1)), ((2, 2), (0, 0))])
    func maxPoolTakesTheFirstMaximumOrNaN(_ dtype: DType, _ window: ((Int, Int), (Int, Int))) {
        let shape = [2, 2, 6, 35], (kernel, stride, padding) = (window.0, (2, 2), window.1)
        var values = Ref.random(shape, seed: 85).values.map { ($0 + 2).rounded(.down) }  // 0...3: many ties
        for i in Swift.stride(from: 7, to: values.count, by: 97) { values[i] = .nan }
        let x = Tensor(values, shape: shape).to(dtype).requiringGrad()
        let y = maxPool2d(x, kernel: kernel, stride: stride, padding: padding)
        let (h, w) = (shape[2], shape[3]), (oh, ow) = (y.shape[2], y.shape[3])
        var expected: [Double] = [], gradient = [Double](repeating: 0, count: values.count)
        for plane in 0..<shape[0] * shape[1] { for oy in 0..<oh { for ox in 0..<ow {
            var best = -Double.infinity, at = -1
            for i in 0..<kernel.0 { for j in 0..<kernel.1 {
                let (yy, xx) = (oy * stride.0 - padding.0 + i, ox * stride.1 - padding.1 + j)
                guard yy >= 0, yy < h, xx >= 0, xx < w, !best.isNaN else { continue }
                let v = values[plane * h * w + yy * w + xx]
                if at < 0 || v > best || v.isNaN { (best, at) = (v, plane * h * w + yy * w + xx) }
            } }
            expected.append(best)
            gradient[at] += 1
        } } }
        let output = y.toArray(Double.self)
        #expect(output.count == expected.count)
        #expect(zip(output, expected).allSatisfy { $0 == $1 || $0.isNaN && $1.isNaN })
        y.sum().backward()
        #expect(x.grad!.toArray(Double.self) == gradient)
    }

    @Test func maxPoolGradientGoesToTheMaximum() {
        let x = Tensor([1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 1, 2, 0, 0, 3, 3] as [Float], shape: [1, 1, 4, 4]).requiringGrad()
        let y = maxPool2d(x, kernel: (2, 2))
        #expect(y.toArray(Float.self) == [5, 9, 7, 3])
        y.sum().backward()
        #expect(x.grad!.toArray(Float.self) == [0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    }
}
