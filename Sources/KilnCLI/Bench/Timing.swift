import Foundation
import Kiln

/// Wall-clock timing for benchmarks: warm-up, then repeats until `minimumRepeats` ran and `budget` seconds
/// passed (at most `maximumRepeats`), each synchronised with the device; returns the median in milliseconds.
/// A device failure (a launch refused, a fault) is thrown, never timed. `body` receives the repeat index so callers can rotate between input sets (caches must not flatter).
func medianMilliseconds(on device: Device, warmup: Int = 1, minimumRepeats: Int = 3, maximumRepeats: Int = 50,
                        budget: Double = 1, _ body: (Int) -> Void) throws -> Double {
    try medianMilliseconds(on: device, warmup: warmup, minimumRepeats: minimumRepeats, maximumRepeats: maximumRepeats,
                           budget: budget, alternating: 1) { _, i in body(i) }[0]
}

/// `medianMilliseconds` for `count` workloads timed in turn within every repeat, so that each sees the same
/// conditions of a shared machine (`body(k, i)` runs workload `k` for repeat `i`; the budget is per workload);
/// returns each workload's median.
func medianMilliseconds(on device: Device, warmup: Int = 1, minimumRepeats: Int = 3, maximumRepeats: Int = 50,
                        budget: Double = 1, alternating count: Int, _ body: (Int, Int) -> Void) throws -> [Double] {
    for i in 0..<warmup {
        for k in 0..<count { body(k, i) }
    }
    try device.synchronize()
    var times = [[Double]](repeating: [], count: count)
    let started = Date()
    var repeats = 0
    while repeats < minimumRepeats
        || (repeats < maximumRepeats && Date().timeIntervalSince(started) < budget * Double(count)) {
        for k in 0..<count {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body(k, repeats)
            try device.synchronize()
            times[k].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        repeats += 1
    }
    return times.map { run in
        let sorted = run.sorted(), middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
