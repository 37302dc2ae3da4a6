import Foundation
import SextantKubeTypes
import Testing

/// KubeTime writes and reads RFC 3339 itself; Foundation's ICU-backed formatter is the reference.
struct KubeTimeTests {
    static func reference(fractional: Bool) -> ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = fractional ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return f
    }

    @Test func formatsWholeSecondsLikeFoundation() {
        var rng = SystemRandomNumberGenerator()
        let reference = Self.reference(fractional: false)
        // 1900...2200, with every leap-day and year boundary of the range likely hit.
        for _ in 0..<5_000 {
            let seconds = Int64.random(in: -2_208_988_800...7_258_118_400, using: &rng)
            let date = Date(timeIntervalSince1970: Double(seconds))
            #expect(KubeTime.format(date) == reference.string(from: date), "\(seconds)")
        }
        for text in ["2024-02-29T23:59:59Z", "2000-02-29T00:00:00Z", "1900-03-01T00:00:00Z", "2100-02-28T12:00:00Z"] {
            let date: Date? = reference.date(from: text)
            #expect(date != nil, "the reference formatter cannot parse \(text)")
            #expect(date.map(KubeTime.format) == text)
        }
    }

    @Test func truncatesToThePrecisionAsked() {
        let date = Date(timeIntervalSince1970: 1_700_000_000.987654)
        #expect(KubeTime.format(date) == "2023-11-14T22:13:20Z")
        #expect(KubeTime.format(date, fractionDigits: 3) == "2023-11-14T22:13:20.987Z")
        #expect(KubeTime.formatMicro(date) == "2023-11-14T22:13:20.987654Z")
        // Before 1970 the fraction still counts forward from the second.
        #expect(KubeTime.formatMicro(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750000Z")
        // Dates RFC 3339 cannot write are clamped to its range instead of trapping.
        #expect(KubeTime.format(.distantFuture) == "4001-01-01T00:00:00Z")
        #expect(KubeTime.format(Date(timeIntervalSince1970: 1e15)) == "9999-12-31T23:59:59Z")
        #expect(KubeTime.format(Date(timeIntervalSince1970: -.infinity)) == "0001-01-01T00:00:00Z")
        #expect(KubeTime.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00Z")
        // One microsecond survives the Double in a Date.
        #expect(KubeTime.formatMicro(Date(timeIntervalSince1970: 1_700_000_000.000001)) == "2023-11-14T22:13:20.000001Z")
    }

    @Test func parsesWhatFoundationParses() throws {
        let whole = Self.reference(fractional: false), fractional = Self.reference(fractional: true)
        for text in ["1970-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2026-11-23T18:00:00+05:30",
                     "2026-11-23T18:00:00-08:00", "1969-07-20T20:17:40Z"] {
            #expect(KubeTime.parse(text) == whole.date(from: text), "\(text)")
        }
        for text in ["2026-11-23T18:00:00.123Z", "2026-11-23T18:00:00.5+01:00"] {
            let parsed = try #require(KubeTime.parse(text))
            let expected = try #require(fractional.date(from: text))
            #expect(abs(parsed.timeIntervalSince(expected)) < 1e-6, "\(text)")
        }
    }

    @Test func microTimeRoundTrips() throws {
        for _ in 0..<2_000 {
            let micros = Int64.random(in: 0...4_102_444_800_000_000)
            let date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            let text = KubeTime.formatMicro(date)
            let parsed = try #require(KubeTime.parse(text), "\(text)")
            #expect(abs(parsed.timeIntervalSince(date)) < 1e-6, "\(text)")
            #expect(KubeTime.formatMicro(parsed) == text)
        }
        // Nanoseconds, as Go writes them, are read too; a Date holds about 0.1 µs in 2026, so they
        // come back rounded to the microsecond.
        let nanos = try #require(KubeTime.parse("2026-01-01T00:00:00.123456789Z"))
        #expect(KubeTime.formatMicro(nanos) == "2026-01-01T00:00:00.123457Z")
    }

    @Test(arguments: [
        "", "2026-11-23", "2026-11-23T18:00:00", "2026-11-23 18:00:00Z", "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T18:60:00Z", "2026-11-23T18:00:60Z", "2026-11-23T18:00:00.Z",
        "2026-11-23T18:00:00+0530", "2026-11-23T18:00:00+24:00", "2026-11-23T18:00:00Zjunk", "2026-1-23T18:00:00Z",
        "２０２６-11-23T18:00:00Z", "2100-02-29T00:00:00Z", "2026-11-23T18:00:00.12a Z",
    ])
    func rejectsWhatIsNotRFC3339(text: String) {
        #expect(KubeTime.parse(text) == nil)
    }
}
