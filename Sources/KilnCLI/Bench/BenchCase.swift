/// One workload `kiln bench` times, described so that Kiln and the peer script (`PeerScript`) build the same
/// thing: `suite` (`gemm`, `ops`, `train`), `name`, and the sizes.
struct BenchCase: Sendable {
    /// `gemm`, `ops` or `train`.
    let suite: String
    /// The workload's name (`gemm`, `add`, `softmax`, `mlp`, …).
    let name: String
    /// Its sizes (`[m, k, n]` or `[batch, m, k, n]` for gemm, the tensor shape for ops, the batch for training).
    let shape: [Int]
    /// The element type (`float32`, `float16`, `bfloat16`).
    let dtype: String

    /// The JSON the peer script reads.
    var json: [String: Any] { ["suite": suite, "name": name, "shape": shape, "dtype": dtype] }

    /// `1024x1024x1024`.
    var shapeText: String { shape.map(String.init).joined(separator: "x") }

    /// The `gemm` suite for `[m, k, n]` `shapes`, by default the float32 square sizes and the GPT-2 small shapes
    /// for 4096 rows (B×T); half precision too on a GPU.
    static func gemm(halfPrecision: Bool, shapes: [[Int]] = [256, 512, 1024, 2048, 4096].map { [$0, $0, $0] }
                        + [[4096, 768, 768], [4096, 768, 3072], [4096, 3072, 768], [4096, 768, 50304]]) -> [BenchCase] {
        let dtypes = halfPrecision ? ["float32", "float16", "bfloat16"] : ["float32"]
        return dtypes.flatMap { dtype in shapes.map { BenchCase(suite: "gemm", name: "gemm", shape: $0, dtype: dtype) } }
    }

    /// `[m, k, n]` for a product's shape written `MxKxN`, or `[batch, m, k, n]` for `BxMxKxN` (positive sizes),
    /// else nil.
    static func gemmShape(_ text: String) -> [Int]? {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        let sizes = parts.compactMap { Int($0) }.filter { $0 > 0 }
        return (3...4).contains(parts.count) && sizes.count == parts.count ? sizes : nil
    }

    /// The `ops` suite: a copy (the bandwidth every memory-bound op is compared with), elementwise maths,
    /// reductions, softmax, layer norm, cross-entropy, convolution, embedding lookup and the AdamW step.
    static let ops: [BenchCase] = [
        ("copy", [1 << 24]), ("add", [1 << 24]), ("mul", [1 << 24]), ("exp", [1 << 24]), ("gelu", [1 << 24]), ("sum", [1 << 24]),
        ("softmax", [4096, 4096]), ("layer_norm", [16384, 1024]), ("cross_entropy", [4096, 4096]),
        ("conv2d", [32, 64, 56, 56]), ("embedding", [2048, 50304, 768]), ("adamw", [1 << 24]),
    ].map { BenchCase(suite: "ops", name: $0.0, shape: $0.1, dtype: "float32") }

    /// The four training workloads (the fixed definitions), and on a GPU GPT-2 small (124M parameters,
    /// context 1024, batch 8); the shape is the batch size.
    static func train(gpu: Bool) -> [BenchCase] {
        ([("mlp", [128]), ("cnn", [64]), ("lstm", [32]), ("gpt", [16])] + (gpu ? [("gpt2", [8])] : []))
            .map { BenchCase(suite: "train", name: $0.0, shape: $0.1, dtype: "float32") }
    }
}
