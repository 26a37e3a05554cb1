#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import LucidCore

/// The distributions the traffic simulator draws from, on the shared seeded generator.
extension SeededRandom {
    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(unit(), 1e-12), u2 = unit()
        return sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2)
    }

    /// Log-normal with the given median and log-space standard deviation.
    public mutating func logNormal(median: Double, sigma: Double) -> Double { median * exp(sigma * normal()) }

    /// Poisson (Knuth; fine for the small means used here).
    public mutating func poisson(_ mean: Double) -> Int {
        let limit = exp(-mean)
        var k = 0
        var p = unit()
        while p > limit && k < 1_000 {
            k += 1
            p *= unit()
        }
        return k
    }

    /// Index into `weights` chosen with probability proportional to its weight.
    public mutating func weighted(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var x = unit() * total
        for (index, weight) in weights.enumerated() {
            x -= weight
            if x < 0 { return index }
        }
        return weights.count - 1
    }
}
