import KilnCore

/// The 2-D sliding-window ops: im2col/col2im for convolution and max/average pooling, forward and backward.
/// Images are processed in parallel over (image, channel) planes.
enum CPUWindow {
    static func im2col(_ x: BufferView, geometry g: Window2d, out: BufferView) {
        if x.dtype == .float64 { im2col(Double.self, x, g, out) } else { im2col(Float.self, x, g, out) }
    }

    private static func im2col<F: CPUFloat>(_ type: F.Type, _ x: BufferView, _ g: Window2d, _ out: BufferView) {
        let (oh, ow) = (g.outputHeight, g.outputWidth), taps = g.kernelHeight * g.kernelWidth
        ElementwiseEngine.withContiguous(x, as: F.self) { src in
            ElementwiseEngine.withOutput(out, as: F.self) { dst in
                Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                    for plane in planes {
                        let image = src + plane * g.height * g.width
                        // Rows of this plane's taps within image n: index (c·taps + tap) of C·kh·kw.
                        let rows = dst + plane * taps * oh * ow
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let row = rows + (ky * g.kernelWidth + kx) * oh * ow
                                let inside = g.outputColumns(tap: kx), shift = kx * g.dilationWidth - g.paddingWidth
                                for oy in 0..<oh {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    let line = row + oy * ow
                                    guard y >= 0 && y < g.height && !inside.isEmpty else {
                                        line.update(repeating: 0, count: ow)
                                        continue
                                    }
                                    line.update(repeating: 0, count: inside.lowerBound)
                                    (line + inside.upperBound).update(repeating: 0, count: ow - inside.upperBound)
                                    let source = image + y * g.width + shift
                                    if g.strideWidth == 1 {
                                        (line + inside.lowerBound).update(from: source + inside.lowerBound, count: inside.count)
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
        ElementwiseEngine.withContiguous(columns, as: F.self) { src in
            ElementwiseEngine.withOutput(out, as: F.self) { dst in
                Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                    for plane in planes {
                        let image = dst + plane * g.height * g.width
                        image.update(repeating: 0, count: g.height * g.width)
                        let rows = src + plane * taps * oh * ow
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let row = rows + (ky * g.kernelWidth + kx) * oh * ow
                                let inside = g.outputColumns(tap: kx), shift = kx * g.dilationWidth - g.paddingWidth
                                for oy in 0..<oh {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    guard y >= 0 && y < g.height else { continue }
                                    let target = image + y * g.width + shift, line = row + oy * ow
                                    for ox in inside { target[ox * g.strideWidth] += line[ox] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static func pool(_ kind: PoolKind, _ x: BufferView, geometry g: Window2d, out: BufferView, indices: BufferView?) {
        if x.dtype == .float64 { pool(Double.self, kind, x, g, out, indices) } else { pool(Float.self, kind, x, g, out, indices) }
    }

    private static func pool<F: CPUFloat>(_ type: F.Type, _ kind: PoolKind, _ x: BufferView, _ g: Window2d,
                                          _ out: BufferView, _ indices: BufferView?) {
        require(kind == .average || indices != nil, "maxPool2d: the backend needs an indices output")
        let (oh, ow) = (g.outputHeight, g.outputWidth)
        let windowSize = F(g.kernelHeight * g.kernelWidth)
        ElementwiseEngine.withContiguous(x, as: F.self) { src in
            ElementwiseEngine.withOutput(out, as: F.self) { dst in
                let positions = UnsafeMutablePointer<Int64>.allocate(capacity: max(out.count, 1))
                defer { positions.deallocate() }
                Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                    // One output row at a time: every tap updates the row's running results over the columns
                    // where it falls inside the image, in window order (so the first maximum wins).
                    let best = UnsafeMutablePointer<F>.allocate(capacity: ow), total = UnsafeMutablePointer<F>.allocate(capacity: ow)
                    let bestAt = UnsafeMutablePointer<Int>.allocate(capacity: ow)
                    defer { best.deallocate(); total.deallocate(); bestAt.deallocate() }
                    let columns = (0..<g.kernelWidth).map { g.outputColumns(tap: $0) }
                    for plane in planes {
                        let image = src + plane * g.height * g.width
                        for oy in 0..<oh {
                            best.update(repeating: -F.infinity, count: ow)
                            total.update(repeating: 0, count: ow)
                            bestAt.update(repeating: -1, count: ow)
                            for ky in 0..<g.kernelHeight {
                                let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                guard y >= 0 && y < g.height else { continue }
                                for kx in 0..<g.kernelWidth {
                                    let start = y * g.width + kx * g.dilationWidth - g.paddingWidth
                                    for ox in columns[kx] {
                                        let at = start + ox * g.strideWidth, v = image[at]
                                        total[ox] += v
                                        if bestAt[ox] < 0 || v > best[ox] || v.isNaN && !best[ox].isNaN {
                                            best[ox] = v
                                            bestAt[ox] = at
                                        }
                                    }
                                }
                            }
                            let o = (plane * oh + oy) * ow
                            for ox in 0..<ow {
                                dst[o + ox] = kind == .max ? best[ox] : total[ox] / windowSize
                                positions[o + ox] = Int64(bestAt[ox])
                            }
                        }
                    }
                }
                if let indices {
                    ElementwiseEngine.scatter(UnsafePointer(positions), into: indices)
                }
            }
        }
    }

    static func poolBackward(_ kind: PoolKind, gradient: BufferView, indices: BufferView?, geometry g: Window2d,
                             out: BufferView) {
        if out.dtype == .float64 {
            poolBackward(Double.self, kind, gradient, indices, g, out)
        } else {
            poolBackward(Float.self, kind, gradient, indices, g, out)
        }
    }

    private static func poolBackward<F: CPUFloat>(_ type: F.Type, _ kind: PoolKind, _ gradient: BufferView,
                                                  _ indices: BufferView?, _ g: Window2d, _ out: BufferView) {
        let (oh, ow) = (g.outputHeight, g.outputWidth), planeSize = g.height * g.width
        let positions = kind == .max ? CPUIndexing.loadIndices(indices!, extent: planeSize, op: "maxPool2dBackward") : []
        let windowSize = F(g.kernelHeight * g.kernelWidth)
        ElementwiseEngine.withContiguous(gradient, as: F.self) { dy in
            ElementwiseEngine.withOutput(out, as: F.self) { dx in
                Parallel.forEach(g.batch * g.channels, grain: 1) { planes in
                    for plane in planes {
                        let image = dx + plane * planeSize
                        image.update(repeating: 0, count: planeSize)
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let o = (plane * oh + oy) * ow + ox
                                if kind == .max {
                                    image[Int(positions[o])] += dy[o]
                                    continue
                                }
                                let share = dy[o] / windowSize
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
            }
        }
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
