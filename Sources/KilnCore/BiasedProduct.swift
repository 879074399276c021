/// The rows of a rank-3 product's output, for `Backend.matmul(_:_:bias:out:)`.
package enum BiasedProduct {
    /// Stops with the shapes unless `bias` is `[n]` for an `out` of `[batch, m, n]`.
    package static func check(bias: BufferView, out: BufferView) {
        require(out.shape.count == 3 && bias.shape == [out.shape[2]],
                "matmul: a bias of shape \(bias.shape) does not fit the product's rows \(out.shape)")
    }

    /// `bias` repeated over every row of `out`.
    package static func broadcast(_ bias: BufferView, over out: BufferView) -> BufferView {
        bias.with(layout: Layout(shape: out.shape, strides: [0, 0, bias.layout.strides[0]], offset: bias.layout.offset))
    }
}

extension Backend {
    /// `Backend.matmul(_:_:bias:out:)` as the product, then the bias added in a second pass.
    public func matmul(_ a: BufferView, _ b: BufferView, bias: BufferView, out: BufferView) {
        BiasedProduct.check(bias: bias, out: out)
        matmul(a, b, out: out, alpha: 1, beta: 0)
        binary(.add, out, BiasedProduct.broadcast(bias, over: out), out: out)
    }
}
