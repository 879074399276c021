import KilnCore

/// Runs a kernel over contiguous blocks of compute-type values: each operand's run is read directly when it is
/// stored as the compute type with unit stride, else converted into a per-thread scratch block; the output is
/// written directly or converted back. Kernels see plain contiguous arrays, whatever the layouts and dtypes.
enum ElementwiseEngine {
    /// Elements per block: small enough for scratch blocks to stay in L1.
    static let block = 1024
    /// Elements below which a loop runs on the calling thread.
    static let grain = 16_384

    /// `out = kernel(inputs…)` elementwise, all computed as `T`; `inputs` (one to three) have `out`'s shape.
    /// The kernel receives the output block, up to three input blocks (unused ones repeat the last) and the
    /// block length.
    static func map<T: CPUScalar>(
        _ type: T.Type, out: BufferView, inputs: [BufferView],
        _ kernel: (UnsafeMutablePointer<T>, UnsafePointer<T>, UnsafePointer<T>, UnsafePointer<T>, Int) -> Void
    ) {
        let walker = StridedWalker([out.layout] + inputs.map(\.layout))
        let steps = walker.innerStrides
        let outBase = out.base
        let inputBases = inputs.map { UnsafeRawPointer($0.base) }
        let outDirect = out.dtype == T.storageDType && (steps[0] == 1 || walker.count == 1)
        let direct = inputs.indices.map { inputs[$0].dtype == T.storageDType && steps[$0 + 1] == 1 }
        Parallel.forEach(walker.count, grain: grain) { range in
            let scratch = UnsafeMutablePointer<T>.allocate(capacity: 4 * block)
            defer { scratch.deallocate() }
            walker.forEachRun(in: range, maxRun: block) { offsets, length in
                var pointers = (UnsafePointer(scratch), UnsafePointer(scratch), UnsafePointer(scratch))
                for k in inputs.indices {
                    let p: UnsafePointer<T>
                    if direct[k] {
                        p = UnsafePointer(inputBases[k].assumingMemoryBound(to: T.self) + offsets[k + 1])
                    } else {
                        let slot = scratch + (k + 1) * block
                        ElementAccess.load(inputs[k].dtype, inputBases[k], start: offsets[k + 1], stride: steps[k + 1],
                                           count: length, into: slot)
                        p = UnsafePointer(slot)
                    }
                    switch k {
                    case 0: pointers = (p, p, p)
                    case 1: pointers.1 = p; pointers.2 = p
                    default: pointers.2 = p
                    }
                }
                if outDirect {
                    kernel(outBase.assumingMemoryBound(to: T.self) + offsets[0], pointers.0, pointers.1, pointers.2, length)
                } else {
                    kernel(scratch, pointers.0, pointers.1, pointers.2, length)
                    ElementAccess.store(scratch, count: length, as: out.dtype, outBase, start: offsets[0], stride: steps[0])
                }
            }
        }
    }

    /// A contiguous copy of `view` as `T`: the view's own memory when it already is one, else a converted copy
    /// that lives for the duration of `body`.
    static func withContiguous<T: CPUScalar, R>(_ view: BufferView, as type: T.Type,
                                                _ body: (UnsafePointer<T>) -> R) -> R {
        if view.dtype == T.storageDType && view.layout.isContiguous {
            return body(UnsafePointer(view.base.assumingMemoryBound(to: T.self) + view.layout.offset))
        }
        let copy = UnsafeMutablePointer<T>.allocate(capacity: max(view.count, 1))
        defer { copy.deallocate() }
        gather(view, into: copy)
        return body(UnsafePointer(copy))
    }

    /// Runs `body` on a contiguous `T` array that becomes `out`'s contents: `out`'s own memory when it is stored
    /// that way, else a scratch array converted into `out` afterwards. With `preserving`, the array starts with
    /// `out`'s current values (for ops that accumulate or update in place).
    static func withOutput<T: CPUScalar, R>(_ out: BufferView, as type: T.Type, preserving: Bool = false,
                                            _ body: (UnsafeMutablePointer<T>) -> R) -> R {
        if out.dtype == T.storageDType && out.layout.isContiguous {
            return body(out.base.assumingMemoryBound(to: T.self) + out.layout.offset)
        }
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: max(out.count, 1))
        defer { scratch.deallocate() }
        if preserving { gather(out, into: scratch) }
        let result = body(scratch)
        scatter(UnsafePointer(scratch), into: out)
        return result
    }

    /// `withContiguous` for an optional operand: `body` gets `nil` when there is none.
    static func withOptionalContiguous<T: CPUScalar, R>(_ view: BufferView?, as type: T.Type,
                                                        _ body: (UnsafePointer<T>?) -> R) -> R {
        guard let view else { return body(nil) }
        return withContiguous(view, as: T.self) { body($0) }
    }

    /// `withOutput` for an optional output: `body` gets `nil` when there is none.
    static func withOptionalOutput<T: CPUScalar, R>(_ out: BufferView?, as type: T.Type,
                                                    _ body: (UnsafeMutablePointer<T>?) -> R) -> R {
        guard let out else { return body(nil) }
        return withOutput(out, as: T.self) { body($0) }
    }

    /// Reads every element of `view`, in row-major order, into `destination`.
    static func gather<T: CPUScalar>(_ view: BufferView, into destination: UnsafeMutablePointer<T>) {
        let walker = StridedWalker([view.layout])
        let step = walker.innerStrides[0], base = UnsafeRawPointer(view.base)
        Parallel.forEach(walker.count, grain: grain) { range in
            var position = range.lowerBound
            walker.forEachRun(in: range) { offsets, length in
                ElementAccess.load(view.dtype, base, start: offsets[0], stride: step, count: length,
                                   into: destination + position)
                position += length
            }
        }
    }

    /// Writes `source` (row-major) into every element of `view`.
    static func scatter<T: CPUScalar>(_ source: UnsafePointer<T>, into view: BufferView) {
        let walker = StridedWalker([view.layout])
        let step = walker.innerStrides[0], base = view.base
        Parallel.forEach(walker.count, grain: grain) { range in
            var position = range.lowerBound
            walker.forEachRun(in: range) { offsets, length in
                ElementAccess.store(source + position, count: length, as: view.dtype, base, start: offsets[0], stride: step)
                position += length
            }
        }
    }
}
