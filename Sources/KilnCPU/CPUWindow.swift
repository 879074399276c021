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
                                for oy in 0..<oh {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    let line = row + oy * ow
                                    guard y >= 0 && y < g.height else {
                                        line.update(repeating: 0, count: ow)
                                        continue
                                    }
                                    for ox in 0..<ow {
                                        let xx = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth
                                        line[ox] = xx >= 0 && xx < g.width ? image[y * g.width + xx] : 0
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
                                for oy in 0..<oh {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    guard y >= 0 && y < g.height else { continue }
                                    for ox in 0..<ow {
                                        let xx = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth
                                        if xx >= 0 && xx < g.width { image[y * g.width + xx] += row[oy * ow + ox] }
                                    }
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
                    for plane in planes {
                        let image = src + plane * g.height * g.width
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                var best = -F.infinity, bestAt = -1, total = F.zero
                                for ky in 0..<g.kernelHeight {
                                    let y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                                    guard y >= 0 && y < g.height else { continue }
                                    for kx in 0..<g.kernelWidth {
                                        let xx = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth
                                        guard xx >= 0 && xx < g.width else { continue }
                                        let v = image[y * g.width + xx]
                                        total += v
                                        if bestAt < 0 || v > best || v.isNaN && !best.isNaN {
                                            best = v
                                            bestAt = y * g.width + xx
                                        }
                                    }
                                }
                                let o = (plane * oh + oy) * ow + ox
                                dst[o] = kind == .max ? best : total / windowSize
                                positions[o] = Int64(bestAt)
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
