/// Exponential backoff with jitter, used by the client's retries and by the operator runtime's
/// reflectors and leader election between failed attempts.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    /// Share of the delay that is randomized (0 = none, 1 = "full jitter").
    public var jitter: Double

    public init(initial: Duration = .milliseconds(800), maximum: Duration = .seconds(30), jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay before attempt `failures + 1`, after `failures` consecutive failures (>= 1).
    public func delay(afterFailures failures: Int) -> Duration {
        let exponent = Double(max(0, min(failures - 1, 30)))
        let base = min(initial.seconds * pow2(exponent), maximum.seconds)
        // Spread retries of many clients so they do not hit the API server in lockstep.
        let spread = base * jitter
        let seconds = base - spread + Double.random(in: 0...max(spread, 0))
        return .nanoseconds(Int64(seconds * 1e9))
    }

    private func pow2(_ x: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(x) { result *= 2 }
        return result
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
