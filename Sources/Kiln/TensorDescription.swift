extension Tensor: CustomStringConvertible {
    /// The shape, dtype, device and values (nested rows, at most six entries per axis, elided with `…`).
    public var description: String {
        let header = "Tensor(\(shape), \(dtype), \(device)\(requiresGrad ? ", requiresGrad" : ""))"
        let values = toArray(Double.self)
        let strides = Layout.contiguousStrides(shape)
        func format(_ v: Double) -> String {
            if !dtype.isFloatingPoint { return dtype == .bool ? (v != 0 ? "true" : "false") : String(Int64(v)) }
            return v == v.rounded() && Swift.abs(v) < 1e15 ? String(format: v) : "\(v)"
        }
        func render(_ axis: Int, _ start: Int) -> String {
            if axis == rank { return format(values[start]) }
            let n = shape[axis]
            let shown = n <= 6 ? Array(0..<n) : Array(0..<3) + [-1] + Array((n - 3)..<n)
            let parts = shown.map { $0 < 0 ? "…" : render(axis + 1, start + $0 * strides[axis]) }
            return "[" + parts.joined(separator: axis == rank - 1 ? ", " : ",\n" + String(repeating: " ", count: axis + 1)) + "]"
        }
        return header + "\n" + render(0, 0)
    }
}

private extension String {
    /// A whole number without a fractional part, as `Float` prints it (`3.0`).
    init(format value: Double) { self = "\(Double(Int64(value)))" }
}
