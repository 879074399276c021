import Foundation
import Kiln

/// Wall-clock timing for benchmarks: warm-up, then repeats until `minimumRepeats` ran and `budget` seconds
/// passed (at most `maximumRepeats`), each synchronised with the device; returns the median in milliseconds.
/// A device failure (a launch refused, a fault) is thrown, never timed. `body` receives the repeat index so callers can rotate between input sets (caches must not flatter).
func medianMilliseconds(on device: Device, warmup: Int = 1, minimumRepeats: Int = 3, maximumRepeats: Int = 50,
                        budget: Double = 1, _ body: (Int) -> Void) throws -> Double {
    for i in 0..<warmup { body(i) }
    try device.synchronize()
    var times: [Double] = []
    let started = Date()
    while times.count < minimumRepeats || (times.count < maximumRepeats && Date().timeIntervalSince(started) < budget) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body(times.count)
        try device.synchronize()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    }
    times.sort()
    return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
}
