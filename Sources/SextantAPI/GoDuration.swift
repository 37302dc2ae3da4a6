/// Durations written the way Kubernetes users know them from Go (`time.ParseDuration`):
/// `"30s"`, `"1m"`, `"1h30m"`, `"1.5h"`, `"250ms"`. Units: ns, us (or µs), ms, s, m, h.
public enum GoDuration {
    /// The schema pattern; the parser below is the authority and reports precise errors.
    public static let pattern = #"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$"#

    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var input: String
        public var reason: String
        public var description: String { "invalid duration \"\(input)\": \(reason) (use Go syntax like \"30s\", \"5m\", \"1h30m\")" }
    }

    /// Parses a non-negative Go duration into seconds.
    public static func seconds(_ text: String) throws(ParseError) -> Double {
        func fail(_ reason: String) -> ParseError { ParseError(input: text, reason: reason) }
        if text.isEmpty { throw fail("empty") }
        if text == "0" { return 0 }
        if text.hasPrefix("-") { throw fail("negative durations are not allowed") }
        let scalars = Array(text.unicodeScalars)
        var i = 0
        var total = 0.0
        while i < scalars.count {
            let numberStart = i
            var sawDigit = false
            var sawDot = false
            while i < scalars.count {
                let c = scalars[i]
                if c >= "0" && c <= "9" {
                    sawDigit = true
                } else if c == "." && !sawDot {
                    sawDot = true
                } else {
                    break
                }
                i += 1
            }
            let number = String(String.UnicodeScalarView(scalars[numberStart..<i]))
            // Digits on both sides of a '.', as the schema pattern says.
            guard sawDigit, !number.hasPrefix("."), !number.hasSuffix("."), let value = Double(number) else {
                throw fail("expected a number at position \(numberStart + 1)")
            }
            let unitStart = i
            while i < scalars.count, !(scalars[i] >= "0" && scalars[i] <= "9"), scalars[i] != "." { i += 1 }
            let unit = String(String.UnicodeScalarView(scalars[unitStart..<i]))
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs", "μs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "": throw fail("missing unit after \(value)")
            default: throw fail("unknown unit \"\(unit)\"")
            }
            total += value * scale
        }
        // Go's limit (about 292 years); larger values would overflow Duration.
        guard total.isFinite, total < 9.2e9 else { throw fail("too large") }
        return total
    }

    /// Parses into a Swift `Duration`.
    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let s = try seconds(text)
        let whole = s.rounded(.down)
        return .seconds(Int64(whole)) + .nanoseconds(Int64(((s - whole) * 1e9).rounded()))
    }
}
