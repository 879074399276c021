import KilnCore

/// Random fills and dropout from the Philox4x32-10 stream, exactly as `Philox4x32` defines it.
enum CPURandom {
    static func fill(_ out: BufferView, distribution: RandomDistribution, stream: RandomStream) {
        let count = out.count
        let blocks = Int(Philox4x32.blocks(for: count))
        var values = [Double](repeating: 0, count: blocks * 4)
        values.withUnsafeMutableBufferPointer { buffer in
            let v = buffer.baseAddress!
            Parallel.forEach(blocks, grain: 1024) { range in
                for b in range {
                    let words = Philox4x32.block(index: stream.offset &+ UInt64(b), seed: stream.seed)
                    let slot = v + 4 * b
                    switch distribution {
                    case .uniform(let low, let high):
                        for j in 0..<4 { slot[j] = low + (high - low) * Double(Philox4x32.uniform(words[j])) }
                    case .normal(let mean, let std):
                        let z = Philox4x32.normals(words)
                        for j in 0..<4 { slot[j] = mean + std * z[j] }
                    case .bernoulli(let p):
                        for j in 0..<4 { slot[j] = Double(Philox4x32.uniform(words[j])) < p ? 1 : 0 }
                    }
                }
            }
            ElementwiseEngine.scatter(UnsafePointer(v), into: out)
        }
    }

    static func dropout(_ x: BufferView, probability p: Double, stream: RandomStream, out: BufferView, mask: BufferView) {
        let count = x.count
        let keep = [Double](unsafeUninitializedCapacity: Int(Philox4x32.blocks(for: count)) * 4) { buffer, initialized in
            let v = buffer.baseAddress!
            Parallel.forEach(Int(Philox4x32.blocks(for: count)), grain: 1024) { range in
                for b in range {
                    let words = Philox4x32.block(index: stream.offset &+ UInt64(b), seed: stream.seed)
                    for j in 0..<4 { v[4 * b + j] = Double(Philox4x32.uniform(words[j])) >= p ? 1 : 0 }
                }
            }
            initialized = buffer.count
        }
        keep.withUnsafeBufferPointer { ElementwiseEngine.scatter($0.baseAddress!, into: mask) }
        let scale = p < 1 ? 1 / (1 - p) : 0
        if x.dtype == .float64 {
            ElementwiseEngine.map(Double.self, out: out, inputs: [x, mask]) { o, a, m, _, n in
                for i in 0..<n { o[i] = m[i] != 0 ? a[i] * scale : 0 }
            }
        } else {
            let s = Float(scale)
            ElementwiseEngine.map(Float.self, out: out, inputs: [x, mask]) { o, a, m, _, n in
                for i in 0..<n { o[i] = m[i] != 0 ? a[i] * s : 0 }
            }
        }
    }
}
