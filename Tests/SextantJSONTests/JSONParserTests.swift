import Foundation
import SextantJSON
import Testing

@Suite struct JSONParserTests {
    @Test func parsesScalarsAndKeepsIntegersApartFromDoubles() throws {
        let value = try JSONValue.parse(string: #"{"a": 3, "b": 3.5, "c": -0.25e2, "d": true, "e": null, "f": "x", "g": 9223372036854775807}"#)
        #expect(value["a"] == .int(3))
        #expect(value["b"] == .double(3.5))
        #expect(value["c"] == .double(-25))
        #expect(value["d"] == .bool(true))
        #expect(value["e"] == .null)
        #expect(value["f"] == .string("x"))
        #expect(value["g"] == .int(Int64.max))
    }

    @Test func integerOverflowBecomesDouble() throws {
        #expect(try JSONValue.parse(string: "92233720368547758080") == .double(92233720368547758080))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONValue.parse(string: #""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#)
        #expect(value == .string("a\"b\\c/d\n\té😀"))
    }

    @Test func writerRoundTripsThroughParser() throws {
        let original: JSONValue = [
            "name": "web\u{1}\"quoted\"", "list": [1, 2.5, true, nil, ["nested": "é😀"]], "empty": [:], "none": [],
        ]
        let bytes = original.serialized(sortedKeys: true)
        #expect(try JSONValue.parse(bytes) == original)
        // Equal documents give equal bytes when sorted.
        #expect(original.serialized(sortedKeys: true) == (try JSONValue.parse(bytes)).serialized(sortedKeys: true))
    }

    @Test func agreesWithFoundationEncoding() throws {
        let value: JSONValue = ["a": [1, 2, ["b": "c"]], "d": 1.25, "e": false]
        let ours = try JSONValue.parse(value.serialized())
        let theirs = try JSONValue.decode(try value.encoded())
        #expect(ours == theirs)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"abc", "\"\\x\"", "\"\\ud800\"", "[1] 2", "{\"a\":1,}", "-",
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(string: text) }
    }

    @Test func errorsNameTheOffset() {
        do {
            _ = try JSONValue.parse(string: #"{"a": [1, 2, x]}"#)
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 13)
        }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(string: text) }
    }
}
