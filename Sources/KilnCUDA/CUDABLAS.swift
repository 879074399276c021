import CCUDA
import KilnCore

/// The device's cuBLAS handle, bound to its stream, with a workspace from the caching allocator.
final class CUDABLAS: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let workspace: CUDABuffer
    /// cuBLAS's recommended workspace for Hopper; enough for every earlier generation.
    static let workspaceBytes = 32 << 20

    init(context: CUDAContext, memory: CUDAMemory) throws {
        context.makeCurrent()
        var handle: UnsafeMutableRawPointer?
        try CUDAStatus.checkBLAS(kiln_cublasCreate(&handle), "cublasCreate", device: context.label)
        self.handle = handle!
        try CUDAStatus.checkBLAS(kiln_cublasSetStream(handle, context.stream), "cublasSetStream", device: context.label)
        workspace = try memory.allocate(byteCount: Self.workspaceBytes)
        try CUDAStatus.checkBLAS(kiln_cublasSetWorkspace(handle, workspace.address, Self.workspaceBytes),
                                 "cublasSetWorkspace", device: context.label)
    }
}

/// How one batched product maps onto `cublasGemmStridedBatchedEx`, which is column-major: a row-major
/// `C = A·B` is computed as `Cᵀ = Bᵀ·Aᵀ`, and a transposed operand is passed with a transpose flag and its
/// own leading dimension instead of being copied.
public struct GemmPlan: Equatable, Sendable {
    /// One operand as cuBLAS sees it.
    public struct Operand: Equatable, Sendable {
        /// Whether cuBLAS transposes it.
        public var transposed: Bool
        /// The leading dimension, in elements.
        public var leading: Int
        /// The step between batches, in elements (0 broadcasts).
        public var batchStride: Int
        /// Which of Kiln's operands it is: 0 `a`, 1 `b`.
        public var source: Int
    }

    /// cuBLAS's m, n and k.
    public var m: Int, n: Int, k: Int
    /// cuBLAS's first and second operands.
    public var first: Operand, second: Operand
    /// The output's leading dimension and batch stride.
    public var leadingC: Int, batchStrideC: Int

    /// A column-major view of an `rows × columns` matrix whose element (i, j) sits at `i·rowStride + j·columnStride`:
    /// untransposed when columns are contiguous runs, transposed when rows are; `nil` when neither.
    public static func columnMajor(rows: Int, columns: Int, rowStride: Int, columnStride: Int) -> (transposed: Bool, leading: Int)? {
        if rowStride == 1 || rows == 1 {
            let leading = columns == 1 ? max(rows, 1) : columnStride
            if leading >= max(rows, 1) { return (false, leading) }
        }
        if columnStride == 1 || columns == 1 {
            let leading = rows == 1 ? max(columns, 1) : rowStride
            if leading >= max(columns, 1) { return (true, leading) }
        }
        return nil
    }

    /// The plan for `out[batch, m, n] = a[batch, m, k] · b[batch, k, n]` over these layouts, or `nil` when an
    /// operand's strides are not a matrix cuBLAS can read (it is then made contiguous first).
    public init?(a: Layout, b: Layout, out: Layout) {
        let (m, k, n) = (a.shape[1], a.shape[2], b.shape[2])
        let batch = out.shape[0]
        // Row-major output (unit column stride): compute Cᵀ (n × m) = Bᵀ (n × k) · Aᵀ (k × m).
        if let c = Self.columnMajor(rows: n, columns: m, rowStride: out.strides[2], columnStride: out.strides[1]), !c.transposed,
           let bt = Self.columnMajor(rows: n, columns: k, rowStride: b.strides[2], columnStride: b.strides[1]),
           let at = Self.columnMajor(rows: k, columns: m, rowStride: a.strides[2], columnStride: a.strides[1]) {
            self.m = n; self.n = m; self.k = k
            first = Operand(transposed: bt.transposed, leading: bt.leading, batchStride: b.strides[0], source: 1)
            second = Operand(transposed: at.transposed, leading: at.leading, batchStride: a.strides[0], source: 0)
            leadingC = c.leading
        } else if let c = Self.columnMajor(rows: m, columns: n, rowStride: out.strides[1], columnStride: out.strides[2]), !c.transposed,
                  let am = Self.columnMajor(rows: m, columns: k, rowStride: a.strides[1], columnStride: a.strides[2]),
                  let bm = Self.columnMajor(rows: k, columns: n, rowStride: b.strides[1], columnStride: b.strides[2]) {
            // Column-major output: C (m × n) = A · B directly.
            self.m = m; self.n = n; self.k = k
            first = Operand(transposed: am.transposed, leading: am.leading, batchStride: a.strides[0], source: 0)
            second = Operand(transposed: bm.transposed, leading: bm.leading, batchStride: b.strides[0], source: 1)
            leadingC = c.leading
        } else {
            return nil
        }
        batchStrideC = out.strides[0]
        if batch > 1 && batchStrideC == 0 { return nil }
        if batch == 1 {
            first.batchStride = 0; second.batchStride = 0; batchStrideC = 0
        }
    }
}
