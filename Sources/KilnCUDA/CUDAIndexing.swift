import CCUDA
import KilnCore

extension CUDABackend {
    /// `out[…, i, …] = x[…, indices[i], …]` along `axis`.
    public func indexSelect(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        require(indices.shape.count == 1 && indices.dtype.isIndex, "indexSelect: indices must be 1-D int32 or int64, got \(indices.shape) \(indices.dtype)")
        let position = indexPosition(indices, along: axis, of: out.shape)
        indexed("kiln_index_read", op: "indexSelect", site: KILN_FAULT_INDEX_SELECT, walked: out, addressed: x, indices: indices,
                axis: axis, position: position)
    }

    /// `out[…, indices[i], …] += source[…, i, …]` along `axis`.
    public func indexAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        require(indices.shape.count == 1 && indices.dtype.isIndex, "indexAdd: indices must be 1-D int32 or int64, got \(indices.shape) \(indices.dtype)")
        let position = indexPosition(indices, along: axis, of: source.shape)
        indexed("kiln_index_add", op: "indexAdd", site: KILN_FAULT_INDEX_ADD, walked: source, addressed: out, indices: indices,
                axis: axis, position: position)
    }

    /// `out[…, j, …] = x[…, indices[…, j, …], …]` along `axis`.
    public func gather(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        require(indices.shape == out.shape && indices.dtype.isIndex, "gather: indices \(indices.shape) \(indices.dtype) for output \(out.shape)")
        indexed("kiln_index_read", op: "gather", site: KILN_FAULT_GATHER, walked: out, addressed: x, indices: indices,
                axis: axis, position: indices.layout)
    }

    /// `out[…, indices[…, j, …], …] += source[…, j, …]` along `axis`.
    public func scatterAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        require(indices.shape == source.shape && indices.dtype.isIndex, "scatterAdd: source \(source.shape) and indices \(indices.shape) differ")
        indexed("kiln_index_add", op: "scatterAdd", site: KILN_FAULT_SCATTER_ADD, walked: source, addressed: out, indices: indices,
                axis: axis, position: indices.layout)
    }

    /// A layout over `shape` that gives, at each position, where its index sits in 1-D `indices`: the indices'
    /// stride along `axis` and 0 elsewhere.
    private func indexPosition(_ indices: BufferView, along axis: Int, of shape: [Int]) -> Layout {
        var strides = [Int](repeating: 0, count: shape.count)
        strides[axis] = indices.layout.strides[0]
        return Layout(shape: shape, strides: strides, offset: indices.layout.offset)
    }

    /// Walks `walked`'s shape; `addressed` is reached through the index along `axis` (its other axes follow
    /// the walk; where the walked shape is larger than `addressed` only along `axis`, that is the indexed axis).
    private func indexed(_ kernel: String, op: String, site: KilnFaultSite, walked: BufferView, addressed: BufferView,
                         indices: BufferView, axis: Int, position: Layout) {
        require(walked.dtype == addressed.dtype, "\(op): dtypes \(walked.dtype) and \(addressed.dtype) differ")
        require(walked.shape.count == addressed.shape.count && walked.shape.indices.allSatisfy { $0 == axis || walked.shape[$0] <= addressed.shape[$0] },
                "\(op): shapes \(walked.shape) and \(addressed.shape) do not match outside axis \(axis)")
        let other = Layout(shape: walked.shape, strides: addressed.layout.strides, offset: addressed.layout.offset)
            .settingStride(of: axis, to: 0)
        let iterator = KernelIterator([walked.layout, other, position])
        launchElementwise(kernel, op: op, iterator) {
            $0.append(Int64(addressed.shape[axis])); $0.append(Int64(addressed.layout.strides[axis]))
            $0.append(indices.address); $0.append(indices.code)
            if kernel == "kiln_index_read" {
                $0.append(addressed.address); $0.append(walked.address)
            } else {
                $0.append(walked.address); $0.append(addressed.address)
            }
            $0.append(walked.code); $0.append(faultWordAddress); $0.append(Int32(site.rawValue))
        }
    }
}
