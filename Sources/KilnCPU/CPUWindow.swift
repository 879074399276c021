import KilnCore

/// im2col/col2im, the patch copies behind convolution, in parallel over (image, channel) planes.
enum CPUWindow {
    static func im2col(_ x: BufferView, geometry g: Window2d, out: BufferView) {
        if x.dtype == .float64 { im2col(Double.self, x, g, out) } else { im2col(Float.self, x, g, out) }
    }

    private static func im2col<F: CPUFloat>(_ type: F.Type, _ x: BufferView, _ g: Window2d, _ out: BufferView) {
        let (oh, ow) = (g.outputHeight, g.outputWidth), taps = g.kernelHeight * g.kernelWidth
        let size = MemoryLayout<F>.stride
        ElementwiseEngine.withContiguous(x, as: F.self) { src in
            withColumns(out, as: F.self, writing: true) { columns in
                Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                    for plane in planes {
                        let (n, c, offset) = channelMajor(plane, g)
                        let image = src + offset
                        // Rows of this plane's taps within image n: index (c·taps + tap) of C·kh·kw.
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let row = columns.row(n, c * taps + ky * g.kernelWidth + kx)
                                let inside = g.outputColumns(tap: kx), shift = kx * g.dilationWidth - g.paddingWidth
                                // A line is a few dozen values (14–56 in a 3×3 convolution over 14×14–56×56
                                // images): it is zeroed and copied inline, not through a `memset` and a `memmove`
                                // call for each piece (the 56×56 convolution's im2col and product 67.9 → 66.5 ms).
                                for oy in 0..<oh {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    let line = row + oy * ow
                                    guard y >= 0 && y < g.height && !inside.isEmpty else {
                                        ElementAccess.zeroBytes(at: line, count: ow * size)
                                        continue
                                    }
                                    ElementAccess.zeroBytes(at: line, count: inside.lowerBound * size)
                                    ElementAccess.zeroBytes(at: line + inside.upperBound, count: (ow - inside.upperBound) * size)
                                    let source = image + y * g.width + shift
                                    if g.strideWidth == 1 {
                                        ElementAccess.copyBytes(from: source + inside.lowerBound, to: line + inside.lowerBound,
                                                                count: inside.count * size)
                                    } else {
                                        for ox in inside { line[ox] = source[ox * g.strideWidth] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static func col2im(_ columns: BufferView, geometry g: Window2d, out: BufferView) {
        if out.dtype == .float64 { col2im(Double.self, columns, g, out) } else { col2im(Float.self, columns, g, out) }
    }

    private static func col2im<F: CPUFloat>(_ type: F.Type, _ columns: BufferView, _ g: Window2d, _ out: BufferView) {
        let (oh, ow) = (g.outputHeight, g.outputWidth), taps = g.kernelHeight * g.kernelWidth
        withColumns(columns, as: F.self, writing: false) { source in
            ElementwiseEngine.withOutput(out, as: F.self) { dst in
                Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                    for plane in planes {
                        let (n, c, offset) = channelMajor(plane, g)
                        let image = dst + offset
                        image.update(repeating: 0, count: g.height * g.width)
                        // Taps one column apart add into the same rows one element to the side, which the core cannot
                        // forward from stores still in flight: a tap column's rows all pass before the next column's.
                        for kx in 0..<g.kernelWidth {
                            let inside = g.outputColumns(tap: kx), shift = kx * g.dilationWidth - g.paddingWidth
                            for ky in 0..<g.kernelHeight {
                                let row = source.row(n, c * taps + ky * g.kernelWidth + kx)
                                for oy in 0..<oh {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    guard y >= 0 && y < g.height else { continue }
                                    let target = image + y * g.width + shift, line = row + oy * ow
                                    if g.strideWidth == 1 {
                                        (target + inside.lowerBound).add(line + inside.lowerBound, count: inside.count)
                                    } else {
                                        for ox in inside { target[ox * g.strideWidth] += line[ox] }
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

extension CPUWindow {
    /// Plane `index` of the order im2col and col2im take, channel by channel: its image, its channel and the offset
    /// of the plane in the `[batch, channels, height, width]` image tensor. Consecutive planes so continue each of the
    /// channel's tap rows in the columns, which are `[rows, batch, positions]` in memory (image by image, a plane's
    /// nine rows would be stretches 50 KB apart in a 64-image batch).
    static func channelMajor(_ index: Int, _ g: Window2d) -> (image: Int, channel: Int, offset: Int) {
        let (c, n) = index.quotientAndRemainder(dividingBy: g.batch)
        return (n, c, (n * g.channels + c) * g.height * g.width)
    }
}

/// Columns `[batch, rows, positions]` whose rows each hold their positions contiguously.
struct ColumnRows<F> {
    let base: UnsafeMutablePointer<F>
    let imageStride: Int, rowStride: Int

    /// The first position of row `row` of image `image`.
    func row(_ image: Int, _ row: Int) -> UnsafeMutablePointer<F> { base + image * imageStride + row * rowStride }
}

extension CPUWindow {
    /// Runs `body` on `view`'s columns in place when each row is contiguous (as a convolution lays them out:
    /// `[rows, batch, positions]` in memory, so that one product covers every image), else on a contiguous copy
    /// (`writing`: scratch that becomes `view`'s contents afterwards).
    static func withColumns<F: CPUScalar, R>(_ view: BufferView, as type: F.Type, writing: Bool,
                                             _ body: (ColumnRows<F>) -> R) -> R {
        let (rows, positions) = (view.shape[1], view.shape[2])
        if view.dtype == F.storageDType && (view.layout.strides[2] == 1 || positions == 1) {
            let base = view.base.assumingMemoryBound(to: F.self) + view.layout.offset
            return body(ColumnRows(base: base, imageStride: view.layout.strides[0], rowStride: view.layout.strides[1]))
        }
        func contiguous(_ base: UnsafeMutablePointer<F>) -> R {
            body(ColumnRows(base: base, imageStride: rows * positions, rowStride: positions))
        }
        if writing { return ElementwiseEngine.withOutput(view, as: F.self, contiguous) }
        return ElementwiseEngine.withContiguous(view, as: F.self) { contiguous(UnsafeMutablePointer(mutating: $0)) }
    }
}

extension Window2d {
    /// The output columns whose window tap `tap` (counted along the width) falls inside the input.
    func outputColumns(tap: Int) -> Range<Int> {
        // Input column of output column ox: ox·stride + shift, which must lie in 0..<width.
        let shift = tap * dilationWidth - paddingWidth
        let first = shift >= 0 ? 0 : (-shift + strideWidth - 1) / strideWidth
        let lastInput = width - 1 - shift
        guard lastInput >= 0 else { return 0..<0 }
        let end = min(outputWidth, lastInput / strideWidth + 1)
        return first < end ? first..<end : 0..<0
    }
}
