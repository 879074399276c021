extension Tensor {
    /// The window geometry of this `[batch, channels, height, width]` tensor.
    func window(_ op: String, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)) -> Window2d {
        require(rank == 4, "\(op): input must be [batch, channels, height, width], got \(shape)")
        return Window2d(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], kernel: kernel,
                        stride: stride, padding: padding, dilation: dilation)
    }

    /// The image patches as columns (`[batch, channels·kh·kw, outH·outW]`), as `torch.nn.functional.unfold`.
    public func im2col(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1)) -> Tensor {
        im2col(kernel: kernel, stride: stride, padding: padding, dilation: dilation, rowsOuter: false)
    }

    /// `im2col`, with the columns stored `[channels·kh·kw, batch, outH·outW]` when `rowsOuter`: the result is
    /// then a transposed view, and `.transposed(0, 1)` of it is contiguous, so that one matrix product
    /// convolves every image.
    func im2col(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
                rowsOuter: Bool) -> Tensor {
        let g = window("im2col", kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        OpCheck.floatingPoint("im2col", self)
        OpCheck.supported(.im2col, dtype, on: device)
        let shape = g.columnsShape
        let out = rowsOuter
            ? Tensor.uninitialized([shape[1], shape[0], shape[2]], dtype: dtype, device: device).transposed(0, 1)
            : Tensor.uninitialized(shape, dtype: dtype, device: device)
        device.backend.im2col(view, geometry: g, out: out.view)
        return out.recorded("im2col", [self]) { grad in
            let dx = Tensor.uninitialized(g.inputShape, dtype: grad.dtype, device: grad.device)
            grad.device.backend.col2im(grad.view, geometry: g, out: dx.view)
            return [dx]
        }
    }

    /// Pooling through the device's fused kernels, recorded with its backward.
    func pool(_ kind: PoolKind, kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)) -> Tensor {
        let op = kind == .max ? "maxPool2d" : "avgPool2d"
        let g = window(op, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: (1, 1))
        require(2 * padding.0 <= kernel.0 && 2 * padding.1 <= kernel.1,
                     "\(op): padding \(padding) must be at most half the kernel \(kernel)")
        OpCheck.floatingPoint(op, self)
        OpCheck.supported(.pool2d(kind), dtype, on: device)
        let out = Tensor.uninitialized(g.outputShape, dtype: dtype, device: device)
        let indices = kind == .max ? Tensor.uninitialized(g.outputShape, dtype: .int64, device: device) : nil
        device.backend.pool2d(kind, view, geometry: g, out: out.view, indices: indices?.view)
        return out.recorded(op, [self]) { grad in
            let dx = Tensor.uninitialized(g.inputShape, dtype: grad.dtype, device: grad.device)
            grad.device.backend.pool2dBackward(kind, gradient: grad.view, indices: indices?.view, geometry: g, out: dx.view)
            return [dx]
        }
    }
}

/// 2-D convolution (cross-correlation, as PyTorch) of `[batch, inChannels, height, width]` input with
/// `[outChannels, inChannels/groups, kh, kw]` weights: im2col, then matrix products per group. While all images'
/// columns together are narrow (`batch·outH·outW` ≤ 2¹⁵), one product covers them (`[inChannels·kh·kw,
/// batch·outH·outW]`); wider, one product per image, which the CPU's GEMM runs faster than one very wide one. On the
/// CPU, when the input needs no gradient (inference, or a network's first layer), those images go through im2col
/// and their products a few at a time, so that their columns are read back from the cache rather than from memory.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    require(weight.rank == 4, "conv2d: weight must be [out, in/groups, kh, kw], got \(weight.shape)")
    require(x.rank == 4, "conv2d: input must be [batch, channels, height, width], got \(x.shape)")
    let (outChannels, groupChannels) = (weight.shape[0], weight.shape[1])
    require(groups > 0 && x.shape[1] == groupChannels * groups && outChannels % groups == 0,
                 "conv2d: input \(x.shape) with \(groups) groups does not match weight \(weight.shape)")
    let kernel = (weight.shape[2], weight.shape[3])
    let g = x.window("conv2d", kernel: kernel, stride: stride, padding: padding, dilation: dilation)
    let (taps, positions) = (groupChannels * kernel.0 * kernel.1, g.outputHeight * g.outputWidth)
    let w = weight.reshaped([groups, outChannels / groups, taps])
    var out: Tensor
    if g.batch * positions <= 1 << 15 {
        let columns = x.im2col(kernel: kernel, stride: stride, padding: padding, dilation: dilation, rowsOuter: true)
        // [out, batch, outH, outW] as a [batch, out, outH, outW] view, made contiguous below.
        out = w.matmul(columns.transposed(0, 1).reshaped([groups, taps, g.batch * positions]))
            .reshaped([outChannels, g.batch, g.outputHeight, g.outputWidth]).transposed(0, 1)
    } else {
        let convolve = { (images: Tensor) in
            let count = images.shape[0]
            let columns = images.im2col(kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                                        rowsOuter: false)
            return w.matmul(columns.reshaped([count, groups, taps, positions]))
                .reshaped([count, outChannels, g.outputHeight, g.outputWidth])
        }
        // Images whose columns fill about 8 MiB (at least one): a 32×64×56×56 float32 batch's columns are 231 MB, one
        // image's 7.2 MB.
        let columnBytes = groups * taps * positions * x.dtype.byteSize
        let images = max(1, (8 << 20) / columnBytes)
        if x.device.kind == .cpu && images < g.batch && !(Autograd.isEnabled && x.requiresGrad) {
            out = concat(Swift.stride(from: 0, to: g.batch, by: images).map { start in
                convolve(x.sliced(axis: 0, start: start, end: min(start + images, g.batch)))
            })
        } else {
            out = convolve(x)
        }
    }
    if let bias {
        require(bias.shape == [outChannels], "conv2d: bias must be [\(outChannels)], got \(bias.shape)")
        out = out + bias.reshaped([1, outChannels, 1, 1])
    }
    return out.contiguous()
}

/// 2-D max pooling of `[batch, channels, height, width]` input; `stride` defaults to the kernel.
public func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
    x.pool(.max, kernel: kernel, stride: stride, padding: padding)
}

/// 2-D average pooling (padding counts as zeros); `stride` defaults to the kernel.
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
    x.pool(.average, kernel: kernel, stride: stride, padding: padding)
}
