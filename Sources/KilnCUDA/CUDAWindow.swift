import CCUDA
import KilnCore

extension Window2d {
    /// The geometry as kernels receive it.
    var kernelWindow: KilnWindow {
        KilnWindow(batch: Int64(batch), channels: Int64(channels), height: Int64(height), width: Int64(width),
                   kernelHeight: Int64(kernelHeight), kernelWidth: Int64(kernelWidth),
                   strideHeight: Int64(strideHeight), strideWidth: Int64(strideWidth),
                   paddingHeight: Int64(paddingHeight), paddingWidth: Int64(paddingWidth),
                   dilationHeight: Int64(dilationHeight), dilationWidth: Int64(dilationWidth),
                   outputHeight: Int64(outputHeight), outputWidth: Int64(outputWidth))
    }
}

extension BufferView {
    /// A rank-4 image (or rank-3 columns) view as a kernel operand.
    var image: KilnImage {
        require(layout.rank == 4 || layout.rank == 3, "CUDA: a rank-\(layout.rank) view where an image was expected: \(shape)")
        let s = layout.strides.map(Int64.init) + [0]
        return KilnImage(offset: Int64(layout.offset), strides: (s[0], s[1], s[2], s[3]))
    }
}

extension CUDABackend {
    /// Launches a window kernel over `count` threads, or with `rows`, one block per row of `length`
    /// elements, with the geometry first among its arguments.
    private func launchWindow(_ kernel: String, op: String, count: Int, rows: (count: Int, length: Int)? = nil, _ geometry: Window2d,
                              _ build: (inout KernelArguments) -> Void) {
        guard count > 0 else { return }
        var arguments = KernelArguments()
        arguments.append(geometry.kernelWindow)
        build(&arguments)
        let (grid, block) = rows.map { context.rowConfiguration(rows: $0.count, length: $0.length) }
            ?? context.elementwiseConfiguration(count: count)
        context.launch(kernel, op: op, grid: grid, block: block, arguments: arguments)
    }

    /// Unfolds `x` into columns.
    public func im2col(_ x: BufferView, geometry: Window2d, out: BufferView) {
        require(x.shape == geometry.inputShape && out.shape == geometry.columnsShape && x.dtype == out.dtype,
                "im2col: \(x.shape) -> \(out.shape) for \(geometry)")
        let positions = geometry.outputHeight * geometry.outputWidth
        launchWindow("kiln_im2col", op: "im2col", count: out.count, rows: (out.count / max(positions, 1), positions), geometry) {
            $0.append(x.address); $0.append(x.image); $0.append(out.address); $0.append(out.image); $0.append(out.code)
        }
    }

    /// Folds columns into an image, summing overlaps.
    public func col2im(_ columns: BufferView, geometry: Window2d, out: BufferView) {
        require(columns.shape == geometry.columnsShape && out.shape == geometry.inputShape && columns.dtype == out.dtype,
                "col2im: \(columns.shape) -> \(out.shape) for \(geometry)")
        launchWindow("kiln_col2im", op: "col2im", count: out.count, geometry) {
            $0.append(columns.address); $0.append(columns.image); $0.append(out.address); $0.append(out.image); $0.append(out.code)
        }
    }

    /// Max or average pooling.
    public func pool2d(_ kind: PoolKind, _ x: BufferView, geometry: Window2d, out: BufferView, indices: BufferView?) {
        let name = Op.pool2d(kind).name
        require(x.shape == geometry.inputShape && out.shape == geometry.outputShape, "\(name): \(x.shape) -> \(out.shape) for \(geometry)")
        require(kind == .average || indices != nil, "maxPool2d: the backend needs an indices output")
        launchWindow("kiln_pool", op: name, count: out.count, geometry) {
            $0.append(Int32(kind == .max ? 1 : 0)); $0.append(x.address); $0.append(x.image)
            $0.append(out.address); $0.append(out.image)
            $0.append(indices.address); $0.append(indices?.code ?? 0); $0.append(indices?.image ?? KilnImage())
            $0.append(out.code)
        }
    }

    /// The input gradient of pooling.
    public func pool2dBackward(_ kind: PoolKind, gradient: BufferView, indices: BufferView?, geometry: Window2d,
                               out: BufferView) {
        let name = Op.pool2dBackward(kind).name
        require(gradient.shape == geometry.outputShape && out.shape == geometry.inputShape, "\(name): \(gradient.shape) -> \(out.shape) for \(geometry)")
        require(kind == .average || indices != nil, "maxPool2dBackward: needs the forward pass's indices")
        launchWindow("kiln_pool_backward", op: name, count: out.count, geometry) {
            $0.append(Int32(kind == .max ? 1 : 0)); $0.append(gradient.address); $0.append(gradient.image)
            $0.append(indices.address); $0.append(indices?.code ?? 0); $0.append(indices?.image ?? KilnImage())
            $0.append(out.address); $0.append(out.image); $0.append(out.code); $0.append(faultWordAddress)
        }
    }
}
