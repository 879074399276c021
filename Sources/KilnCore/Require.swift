/// Stops the program with `message` unless `condition` holds. Kiln's programmer errors (a shape, dtype or
/// device an op does not accept) go through this rather than `precondition`, whose message optimised builds
/// drop: the message names the op and the operands, in every build. Inlinable, so that a check inside a loop
/// costs a comparison, not a call.
@inlinable
package func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                     file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
