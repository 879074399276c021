import CCUDA
import KilnCore

extension CUDABackend {
    /// `out = alpha·a·b + beta·out` by `cublasGemmStridedBatchedEx`: float32 (TF32 only when allowed), float16
    /// and bfloat16 with float32 compute, float64. Operands cuBLAS cannot read in place are copied contiguous.
    public func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double) {
        require(a.shape.count == 3 && b.shape.count == 3 && out.shape.count == 3,
                "matmul: operands must be rank 3, got \(a.shape), \(b.shape) -> \(out.shape)")
        require(a.shape[2] == b.shape[1] && out.shape == [out.shape[0], a.shape[1], b.shape[2]]
                    && a.shape[0] == out.shape[0] && b.shape[0] == out.shape[0],
                "matmul: shapes \(a.shape) and \(b.shape) do not give \(out.shape)")
        require(a.dtype == b.dtype && a.dtype == out.dtype && a.dtype.isFloatingPoint,
                "matmul: dtypes \(a.dtype), \(b.dtype) -> \(out.dtype); cuBLAS takes one floating-point dtype")
        guard out.count > 0 else { return }
        if let plan = GemmPlan(a: a.layout, b: b.layout, out: out.layout) {
            gemm(plan, a, b, out, alpha, beta)
            return
        }
        // Copy whatever cuBLAS cannot read in place, compute into a contiguous output, copy back.
        guard let a2 = contiguous(a, op: "matmul"), let b2 = contiguous(b, op: "matmul"),
              let o2 = contiguous(out, op: "matmul", copyingContents: beta != 0) else { return }
        gemm(GemmPlan(a: a2.layout, b: b2.layout, out: o2.layout)!, a2, b2, o2, alpha, beta)
        if o2.buffer !== out.buffer { copy(o2, to: out) }
    }

    /// `view` itself when contiguous, else a contiguous copy (its contents copied only when asked).
    func contiguous(_ view: BufferView, op: String, copyingContents: Bool = true) -> BufferView? {
        if view.layout.isContiguous { return view }
        guard let buffer = scratch(byteCount: view.count * view.dtype.byteSize, op: op) else { return nil }
        let copy = BufferView(buffer: buffer, layout: Layout(contiguous: view.shape), dtype: view.dtype)
        if copyingContents { self.copy(view, to: copy) }
        return copy
    }

    private func gemm(_ plan: GemmPlan, _ a: BufferView, _ b: BufferView, _ out: BufferView, _ alpha: Double, _ beta: Double) {
        let size = out.dtype.byteSize
        let operands = [a, b]
        func pointer(_ view: BufferView) -> UInt64 { view.address + UInt64(view.layout.offset * size) }
        let first = operands[plan.first.source], second = operands[plan.second.source]
        let type: Int32, compute: Int32
        switch out.dtype {
        case .float64: (type, compute) = (Int32(KILN_BLAS_R_64F.rawValue), Int32(KILN_BLAS_COMPUTE_64F.rawValue))
        case .float16: (type, compute) = (Int32(KILN_BLAS_R_16F.rawValue), Int32(KILN_BLAS_COMPUTE_32F.rawValue))
        case .bfloat16: (type, compute) = (Int32(KILN_BLAS_R_16BF.rawValue), Int32(KILN_BLAS_COMPUTE_32F.rawValue))
        default:
            type = Int32(KILN_BLAS_R_32F.rawValue)
            compute = Int32(allowsTensorFloat32 ? KILN_BLAS_COMPUTE_32F_FAST_TF32.rawValue : KILN_BLAS_COMPUTE_32F.rawValue)
        }
        func flag(_ operand: GemmPlan.Operand) -> Int32 {
            Int32(operand.transposed ? KILN_BLAS_OP_T.rawValue : KILN_BLAS_OP_N.rawValue)
        }
        for value in [plan.m, plan.n, plan.k, plan.first.leading, plan.second.leading, plan.leadingC, out.shape[0]] {
            require(value <= Int(Int32.max), "matmul: a dimension of \(a.shape) x \(b.shape) exceeds cuBLAS's 32-bit sizes")
        }
        context.makeCurrent()
        let status: Int32
        if out.dtype == .float64 {
            var (alpha, beta) = (alpha, beta)
            status = kiln_cublasGemmStridedBatchedEx(
                blas.handle, flag(plan.first), flag(plan.second), Int32(plan.m), Int32(plan.n), Int32(plan.k), &alpha,
                pointer(first), type, Int32(plan.first.leading), Int64(plan.first.batchStride),
                pointer(second), type, Int32(plan.second.leading), Int64(plan.second.batchStride), &beta,
                pointer(out), type, Int32(plan.leadingC), Int64(plan.batchStrideC), Int32(out.shape[0]), compute)
        } else {
            var (alpha, beta) = (Float(alpha), Float(beta))
            status = kiln_cublasGemmStridedBatchedEx(
                blas.handle, flag(plan.first), flag(plan.second), Int32(plan.m), Int32(plan.n), Int32(plan.k), &alpha,
                pointer(first), type, Int32(plan.first.leading), Int64(plan.first.batchStride),
                pointer(second), type, Int32(plan.second.leading), Int64(plan.second.batchStride), &beta,
                pointer(out), type, Int32(plan.leadingC), Int64(plan.batchStrideC), Int32(out.shape[0]), compute)
        }
        do {
            try CUDAStatus.checkBLAS(status, "matmul (cublasGemmStridedBatchedEx \(a.shape) x \(b.shape), \(out.dtype))",
                                     device: context.label)
        } catch let error as KilnError {
            context.record(error)
        } catch {}
    }
}
