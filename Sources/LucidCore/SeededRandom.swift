/// SplitMix64 (Steele, Lea and Flood): tiny, fast and seedable, so a simulation, a sandbox bank,
/// a jitter sequence or a benchmark repeats exactly for the same seed. Not cryptographic: never
/// used for anything secret (secrets come from `SystemRandomNumberGenerator`).
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// Uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// True with probability `rate` (0 never draws a `true`, 1 always does).
    public mutating func chance(_ rate: Double) -> Bool {
        if rate <= 0 { return false }
        if rate >= 1 { return true }
        return unit() < rate
    }
}
