/// Carries a value into a `@Sendable` closure when the caller guarantees the accesses do not race (parallel
/// chunks writing disjoint parts of an output; a batch handed to the thread that prepares it).
package struct UncheckedSendable<Value>: @unchecked Sendable {
    /// The value carried.
    package let value: Value
    /// A box around `value`.
    package init(_ value: Value) { self.value = value }
}
