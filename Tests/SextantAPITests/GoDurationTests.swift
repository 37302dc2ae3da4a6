import Foundation
import SextantAPI
import Testing

@Suite struct GoDurationTests {
    @Test(arguments: [("30s", 30.0), ("1m", 60), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), ("0", 0),
                      ("2h45m30.5s", 9930.5), ("10us", 0.00001), ("10µs", 0.00001), ("100ns", 1e-7)])
    func parses(text: String, seconds: Double) throws {
        #expect(abs(try GoDuration.seconds(text) - seconds) < 1e-12)
    }

    @Test(arguments: [("", "empty"), ("5", "missing unit"), ("5 minutes", "unknown unit"), ("-1s", "negative"),
                      ("1d", "unknown unit \"d\""), ("s", "expected a number"), ("1..5s", "expected a number"), (".5s", "expected a number"),
                      ("99999999999h", "too large")])
    func rejectsWithAReason(text: String, reason: String) {
        do {
            _ = try GoDuration.seconds(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
            #expect(error.description.contains("\"\(text)\""))
        }
    }

    @Test func swiftDuration() throws {
        #expect(try GoDuration.parse("1m30.25s") == .seconds(90) + .milliseconds(250))
    }

    @Test func patternAgreesWithTheParser() throws {
        for text in ["30s", "1h30m", "0", "1.5h", "250ms", "5", "5 minutes", "-1s", "1d", "", "1.s", ".5s"] {
            let byPattern = text.range(of: GoDuration.pattern, options: .regularExpression) != nil
            let byParser = (try? GoDuration.seconds(text)) != nil
            #expect(byPattern == byParser, "\(text)")
        }
    }
}
