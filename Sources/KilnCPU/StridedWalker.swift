import KilnCore

/// Walks up to four layouts of one shape in lockstep, in row-major order of that shape, as runs along the
/// innermost axis. Axes of extent 1 are dropped and neighbouring axes that every layout stores contiguously
/// together are merged, so a contiguous tensor is one long run whatever its rank.
struct StridedWalker {
    private let shape: [Int]
    private let strides: [SIMD4<Int>]
    private let offsets: SIMD4<Int>
    /// The number of elements walked.
    let count: Int

    /// A walker over `layouts` (one to four), all of shape `layouts[0].shape`.
    init(_ layouts: [Layout]) {
        require(!layouts.isEmpty && layouts.count <= 4, "StridedWalker: walks one to four layouts, got \(layouts.count)")
        let fullShape = layouts[0].shape
        for layout in layouts {
            require(layout.shape == fullShape, "StridedWalker: shapes \(layout.shape) and \(fullShape) differ")
        }
        var dims: [(Int, SIMD4<Int>)] = []
        for axis in fullShape.indices where fullShape[axis] != 1 {
            var s = SIMD4<Int>(repeating: 0)
            for (k, layout) in layouts.enumerated() { s[k] = layout.strides[axis] }
            if let last = dims.last, last.1 == s &* fullShape[axis] {
                dims[dims.count - 1] = (last.0 * fullShape[axis], s)
            } else {
                dims.append((fullShape[axis], s))
            }
        }
        if dims.isEmpty { dims = [(1, SIMD4(repeating: 0))] }
        shape = dims.map(\.0)
        strides = dims.map(\.1)
        var o = SIMD4<Int>(repeating: 0)
        for (k, layout) in layouts.enumerated() { o[k] = layout.offset }
        offsets = o
        count = fullShape.reduce(1, *)
    }

    /// The per-layout step along the innermost (merged) axis.
    var innerStrides: SIMD4<Int> { strides[strides.count - 1] }

    /// Calls `body(offsets, length)` for each run of the elements in `range` (in row-major order), each run at
    /// most `maxRun` long; `offsets[k]` is the element index in layout `k` of the run's first element, and the
    /// run advances by `innerStrides`.
    func forEachRun(in range: Range<Int>, maxRun: Int = .max, _ body: (SIMD4<Int>, Int) -> Void) {
        guard !range.isEmpty else { return }
        let inner = shape[shape.count - 1]
        let innerStride = strides[strides.count - 1]
        // Decompose the start into an index over the outer axes and a position in the inner axis.
        var index = [Int](repeating: 0, count: shape.count)
        var rest = range.lowerBound
        for axis in shape.indices.reversed() {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        var base = offsets
        for axis in 0..<(shape.count - 1) { base &+= strides[axis] &* index[axis] }
        var position = index[shape.count - 1]
        var remaining = range.count
        while remaining > 0 {
            let length = min(inner - position, remaining, maxRun)
            body(base &+ innerStride &* position, length)
            remaining -= length
            position += length
            if position == inner {
                position = 0
                var axis = shape.count - 2
                while axis >= 0 {
                    index[axis] += 1
                    base &+= strides[axis]
                    if index[axis] < shape[axis] { break }
                    base &-= strides[axis] &* shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}
