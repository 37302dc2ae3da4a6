import Foundation
import SextantJSON
import Testing

/// `JSONBytesDecoder` must behave exactly like `JSONValueDecoder` over `JSONValue.parse`: same
/// values, same errors (kind, coding path, message), same syntax errors (offset, reason).
@Suite struct JSONBytesDecoderTests {
    struct Inner: Codable, Equatable {
        var id: Int
        var note: String?
        var map: [String: Int]?
    }

    enum Color: String, Codable { case red, green }

    struct Everything: Codable, Equatable {
        var string: String
        var bool: Bool
        var int: Int
        var int64: Int64
        var int8: Int8?
        var int16: Int16?
        var int32: Int32?
        var uint: UInt?
        var uint8: UInt8?
        var uint64: UInt64?
        var double: Double
        var float: Float?
        var strings: [String]?
        var ints: [Int]?
        var labels: [String: String]?
        var counts: [String: Int]?
        var inner: Inner?
        var inners: [Inner]?
        var nested: [[Int]]?
        var anything: JSONValue?
        var anys: [JSONValue]?
        var color: Color?
        var optionalNull: String?
    }

    static func both<T: Decodable & Equatable>(_ type: T.Type, _ text: String) -> Pair<T> {
        let bytes = Data(text.utf8)
        return Pair(fast: Outcome { try JSONBytesDecoder().decode(T.self, from: bytes) },
                    tree: Outcome { try JSONValueDecoder().decode(T.self, from: bytes) })
    }

    @Test func decodesEveryKindOfValue() throws {
        let text = #"""
        {"string": "s", "bool": true, "int": -42, "int64": 9223372036854775807, "int8": -128, "int16": 300,
         "int32": 70000, "uint": 7, "uint8": 255, "uint64": 18446744073709551, "double": 2.5e-3, "float": 1.5,
         "strings": ["a", "", "\u00e9"], "ints": [1, 2, 3], "labels": {"app": "web", "tier": "x"},
         "counts": {"a": 1}, "inner": {"id": 1, "note": null}, "inners": [{"id": 2, "map": {"k": 3}}, {"id": 3}],
         "nested": [[1], [], [2, 3]], "anything": {"x": [1, 2.5, "y", null, true, {"z": {}}]}, "anys": [1, "two", null],
         "color": "green", "optionalNull": null, "unknown": {"deep": [1, {"a": "b"}]}}
        """#
        #expect(Self.both(Everything.self, text).agree)
        let value = try JSONBytesDecoder().decode(Everything.self, from: Data(text.utf8))
        #expect(value.string == "s" && value.bool && value.int == -42 && value.int64 == .max)
        #expect(value.int8 == -128 && value.int16 == 300 && value.int32 == 70000 && value.uint == 7)
        #expect(value.uint8 == 255 && value.double == 0.0025 && value.float == 1.5)
        #expect(value.uint64 == 18446744073709551)
        #expect(value.strings == ["a", "", "é"] && value.ints == [1, 2, 3])
        #expect(value.labels == ["app": "web", "tier": "x"] && value.counts == ["a": 1])
        #expect(value.inner == Inner(id: 1, note: nil, map: nil))
        #expect(value.inners == [Inner(id: 2, note: nil, map: ["k": 3]), Inner(id: 3, note: nil, map: nil)])
        #expect(value.nested == [[1], [], [2, 3]])
        #expect(value.anything == ["x": [1, 2.5, "y", nil, true, ["z": [:]]]])
        #expect(value.anys == [1, "two", nil])
        #expect(value.color == .green && value.optionalNull == nil)
    }

    @Test func uint64BeyondInt64IsTheSameErrorAsBefore() {
        let pair = Self.both([String: UInt64].self, #"{"a": 18446744073709551615}"#)
        #expect(pair.agree)
        #expect(pair.fast.failure != nil)
    }

    @Test func escapesAndSurrogatePairs() throws {
        struct S: Codable, Equatable { var name: String }
        let text = #"{"n\u0061me": "a\"b\\c\/d\n\t\r\b\f\u00e9\u20ac\ud83d\ude00 end"}"#
        let value = try JSONBytesDecoder().decode(S.self, from: Data(text.utf8))
        #expect(value.name == "a\"b\\c/d\n\t\r\u{8}\u{c}é€😀 end")
        #expect(Self.both(S.self, text).agree)
        // Raw UTF-8 (not escaped) in keys and values.
        let raw = #"{"name": "grüße 😀", "ключ": 1}"#
        #expect(try JSONBytesDecoder().decode(S.self, from: Data(raw.utf8)).name == "grüße 😀")
        #expect(try JSONBytesDecoder().decode([String: Int].self, from: Data(#"{"ключ": 1}"#.utf8)) == ["ключ": 1])
    }

    @Test(arguments: [
        "0", "-0", "7", "-7", "1e3", "1E+2", "2.5", "-2.5e-3", "1.0", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "92233720368547758080", "1e400", "-1e400", "123456789012345678", "1234567890123456789",
        "0.1", "1e-400", "18446744073709551615", "255", "256", "-129", "70000",
    ])
    func numbersConvertLikeTheTreeDecoder(_ number: String) {
        let text = #"{"v": \#(number)}"#
        #expect(Self.both([String: Int].self, text).agree)
        #expect(Self.both([String: Int64].self, text).agree)
        #expect(Self.both([String: Int8].self, text).agree)
        #expect(Self.both([String: Int32].self, text).agree)
        #expect(Self.both([String: UInt8].self, text).agree)
        #expect(Self.both([String: UInt64].self, text).agree)
        #expect(Self.both([String: Double].self, text).agree)
        #expect(Self.both([String: Float].self, text).agree)
        #expect(Self.both([String: JSONValue].self, text).agree)
        #expect(Self.both([String: String].self, text).agree)
    }

    @Test func integersFromExponentsAndFractions() throws {
        #expect(try JSONBytesDecoder().decode([Int].self, from: Data("[1e3, 2.0, -0]".utf8)) == [1000, 2, 0])
        #expect(throws: DecodingError.self) { try JSONBytesDecoder().decode([Int].self, from: Data("[1.5]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONBytesDecoder().decode([Int8].self, from: Data("[128]".utf8)) }
    }

    @Test func missingOptionalNullAndUnknownKeys() throws {
        let ok = try JSONBytesDecoder().decode(Inner.self, from: Data(#"{"id": 1, "extra": [1, {"a": null}], "map": null}"#.utf8))
        #expect(ok == Inner(id: 1, note: nil, map: nil))
        let pair = Self.both(Inner.self, #"{"note": "x"}"#)
        #expect(pair.agree)
        #expect(pair.fast.failure?.contains("keyNotFound") == true)
        #expect(pair.fast.failure?.contains("id") == true)
        // A null where a value is required is a type mismatch, as before.
        #expect(Self.both(Inner.self, #"{"id": null}"#).agree)
    }

    @Test func typeMismatchesNameTheCodingPath() {
        struct Outer: Codable, Equatable { var spec: Spec }
        struct Spec: Codable, Equatable { var items: [Inner] }
        let text = #"{"spec": {"items": [{"id": 1}, {"id": 2, "map": {"a": 1, "b": "two"}}]}}"#
        let pair = Self.both(Outer.self, text)
        #expect(pair.agree)
        #expect(pair.fast.failure?.contains("spec.items[1].map.b") == true)
        #expect(Self.both(Outer.self, #"{"spec": {"items": {"id": 1}}}"#).agree)
        #expect(Self.both(Outer.self, #"{"spec": []}"#).agree)
        #expect(Self.both(Outer.self, #"[]"#).agree)
        #expect(Self.both([String: String].self, #"{"a": "x", "b": 2}"#).agree)
        #expect(Self.both([String].self, #"["a", 2]"#).agree)
        #expect(Self.both([String].self, #"{"a": 1}"#).agree)
        #expect(Self.both(Everything.self, #"{"string": 1}"#).agree)
        #expect(Self.both(Everything.self, #"{"string": "s", "bool": "yes"}"#).agree)
        #expect(Self.both(Everything.self, #"{"string": "s", "bool": true, "int": 1, "int64": 2, "double": "x"}"#).agree)
        #expect(Self.both(Everything.self, #"{"string": "s", "bool": true, "int": 1, "int64": 2, "double": 1, "color": "blue"}"#).agree)
    }

    @Test func repeatedKeysKeepTheLastValue() throws {
        let text = #"{"id": 1, "note": "a", "id": 2, "n\u006fte": "b"}"#
        #expect(try JSONBytesDecoder().decode(Inner.self, from: Data(text.utf8)) == Inner(id: 2, note: "b", map: nil))
        #expect(Self.both(Inner.self, text).agree)
        #expect(Self.both([String: String].self, #"{"a": "1", "a": "2"}"#).agree)
        #expect(Self.both([String: Int].self, #"{"a": 1, "a": 2, "b": 3}"#).agree)
    }

    @Test func keysCompareLikeSwiftStrings() {
        // U+212A KELVIN SIGN is canonically equivalent to "K": a String-keyed lookup finds it.
        struct K: Codable, Equatable {
            var K: Int?
            var é: Int?
        }
        #expect(Self.both(K.self, #"{"\u212A": 1}"#).agree)
        #expect(Self.both(K.self, #"{"e\u0301": 2}"#).agree)
        #expect(Self.both(K.self, #"{"é": 3}"#).agree)
    }

    @Test func documentMembersAreReadOneAtATime() throws {
        let event = try JSONBytesDocument(Data(#"{"type": "ADDED", "object": {"id": 7, "note": "n"}, "type": "MODIFIED"}"#.utf8))
        // A repeated key keeps its last value, as everywhere else.
        #expect(event.string(member: "type") == "MODIFIED")
        #expect(try event.decode(Inner.self, member: "object") == Inner(id: 7, note: "n", map: nil))
        #expect(event.string(member: "object") == nil)
        #expect(event.string(member: "missing") == nil)
        // Errors name the member as the start of the coding path.
        do {
            _ = try event.decode([String: String].self, member: "object")
            Issue.record("expected a type mismatch")
        } catch DecodingError.typeMismatch(_, let context) {
            #expect(context.codingPath.map(\.stringValue) == ["object", "id"])
        }
        do {
            _ = try event.decode(Inner.self, member: "spec")
            Issue.record("expected a missing key")
        } catch DecodingError.keyNotFound(let key, _) {
            #expect(key.stringValue == "spec")
        }
        // A document whose top level is not an object has no members; bad JSON is refused whole.
        let array = try JSONBytesDocument(Data(#"["type"]"#.utf8))
        #expect(array.string(member: "type") == nil)
        #expect(throws: DecodingError.self) { try array.decode(String.self, member: "type") }
        #expect(throws: JSONSyntaxError.self) { try JSONBytesDocument(Data(#"{"type": "ADDED", "object": {"#.utf8)) }
    }

    @Test func largeObjectsAndDictionaries() throws {
        var members: [String] = []
        for i in 0..<200 { members.append("\"key\(i)\": {\"id\": \(i)}") }
        let text = "{" + members.joined(separator: ",") + "}"
        let map = try JSONBytesDecoder().decode([String: Inner].self, from: Data(text.utf8))
        #expect(map.count == 200 && map["key150"] == Inner(id: 150, note: nil, map: nil))
        #expect(Self.both([String: Inner].self, text).agree)
        #expect(Self.both([String: Inner].self, "{" + members.joined(separator: ",") + ", \"key3\": {\"id\": \"x\"}}").agree)
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"abc", "\"\\x\"", "\"\\ud800\"", "[1] 2", "{\"a\":1,}", "-",
        "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"x\u{1}\"}", "{\"a\":\"\\",
        "{\"a\":\"\\u", "{\"a\":\"\\uZZZZ\"}", "{\"a\":nul}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":1.e5}", "[\"a\" \"b\"]",
        "{1:2}", "{\"a\":1 \"b\":2}", "[", "]", "}", "{\"a\":[1,2}", "nulll", "\"a\" x", "{\"a\":\"b\"}}",
    ])
    func malformedInputGivesTheSameSyntaxError(_ text: String) {
        let fast = Outcome { try JSONBytesDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
        let tree = Outcome { try JSONValueDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
        #expect(fast == tree)
        #expect(fast.failure != nil)
        #expect(Self.both(Inner.self, text).agree)
    }

    @Test func everyTruncationOfAnEventIsAnErrorNotACrash() throws {
        let event = #"{"type":"MODIFIED","object":{"kind":"ConfigMap","metadata":{"name":"a\u00e9\ud83d\ude00","labels":{"x":"y"},"generation":12,"x":[1.5e3,true,false,null]},"data":{"k":"v\n"}}}"#
        let bytes = Array(event.utf8)
        for length in 0..<bytes.count {
            let prefix = Data(bytes[0..<length])
            let fast = Outcome { try JSONBytesDecoder().decode(JSONValue.self, from: prefix) }
            let tree = Outcome { try JSONValueDecoder().decode(JSONValue.self, from: prefix) }
            #expect(fast == tree, "prefix of \(length) bytes")
            #expect(fast.failure != nil)
        }
        let parsed = try JSONValue.parse(bytes)
        #expect(try JSONBytesDecoder().decode(JSONValue.self, from: Data(bytes)) == parsed)
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(Self.both([JSONValue].self, text).agree)
        #expect(throws: JSONSyntaxError.self) { try JSONBytesDecoder().decode([JSONValue].self, from: Data(text.utf8)) }
        let ok = String(repeating: "[", count: 511) + String(repeating: "]", count: 511)
        #expect(Self.both(JSONValue.self, ok).agree)
        #expect(Self.both(JSONValue.self, "[" + ok + "]").agree)
    }

    @Test func invalidUTF8IsRepairedTheSameWay() {
        var bytes = Array(#"{"name":"ab"}"#.utf8)
        bytes.insert(0xFF, at: 10)
        bytes.insert(0xC3, at: 3)
        let data = Data(bytes)
        let fast = Outcome { try JSONBytesDecoder().decode([String: String].self, from: data) }
        let tree = Outcome { try JSONValueDecoder().decode([String: String].self, from: data) }
        #expect(fast == tree)
    }

    // MARK: Differential testing on generated documents

    struct Sample: Codable, Equatable {
        var name: String
        var count: Int?
        var ratio: Double?
        var enabled: Bool?
        var tags: [String]?
        var labels: [String: String]?
        var inner: Inner?
        var items: [Inner]?
        var extra: JSONValue?
        var big: Int64?
        var small: Int8?
        var unsigned: UInt32?
        var float: Float?
    }

    /// Equal outcomes; or, when a dictionary holds several bad values, errors (of any kind) about
    /// the same dictionary: the tree decoder visits a dictionary's members in hash order (a different one
    /// in every process), the byte decoder in document order, so which bad member is reported
    /// first may differ.
    static func equivalent<T>(_ a: Outcome<T>, _ b: Outcome<T>) -> Bool {
        if a == b { return true }
        guard let x = a.failure, let y = b.failure else { return false }
        for dictionary in ["labels", "map"] {
            let inside = { (e: String) in
                [" ", "."].contains { before in
                    [".", " "].contains { after in e.contains(before + dictionary + after) }
                }
            }
            if inside(x), inside(y) { return true }
        }
        return false
    }

    @Test func agreesWithTheTreeDecoderOnGeneratedDocuments() throws {
        var random = SplitMix(seed: 0x5E77A17)
        var typedSuccesses = 0
        for round in 0..<3_000 {
            let document = Generator.sample(&random)
            let text = document.serialized(sortedKeys: round % 2 == 0)
            let data = Data(text)
            let fast = Outcome { try JSONBytesDecoder().decode(Sample.self, from: data) }
            let tree = Outcome { try JSONValueDecoder().decode(Sample.self, from: data) }
            #expect(Self.equivalent(fast, tree), "document \(String(decoding: text, as: UTF8.self))")
            if fast.failure == nil { typedSuccesses += 1 }
            let fastValue = Outcome { try JSONBytesDecoder().decode(JSONValue.self, from: data) }
            #expect(fastValue == Outcome { try JSONValue.parse(text) })
            // Damage one byte: both must reject it the same way or both accept the same value.
            if !text.isEmpty {
                var damaged = text
                let at = Int(random.next() % UInt64(damaged.count))
                damaged[at] = Generator.damage[Int(random.next() % UInt64(Generator.damage.count))]
                let d = Data(damaged)
                #expect(Self.equivalent(Outcome { try JSONBytesDecoder().decode(Sample.self, from: d) },
                                        Outcome { try JSONValueDecoder().decode(Sample.self, from: d) }))
                #expect(Outcome { try JSONBytesDecoder().decode(JSONValue.self, from: d) }
                    == Outcome { try JSONValueDecoder().decode(JSONValue.self, from: d) })
            }
        }
        // The generator must produce plenty of valid samples, not only errors.
        #expect(typedSuccesses > 300)
    }
}

/// A decode result compared by value, or by a full description of the error.
enum Outcome<T: Equatable>: Equatable {
    case value(T)
    case error(String)

    init(_ body: () throws -> T) {
        do { self = .value(try body()) } catch { self = .error(Outcome.describe(error)) }
    }

    var failure: String? {
        if case .error(let e) = self { return e }
        return nil
    }

    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case let syntax as JSONSyntaxError:
            return "syntax \(syntax.offset) \(syntax.reason)"
        case DecodingError.keyNotFound(let key, let context):
            return "keyNotFound \(path(context.codingPath + [key])) \(context.debugDescription)"
        case DecodingError.typeMismatch(let type, let context):
            return "typeMismatch \(type) \(path(context.codingPath)) \(context.debugDescription)"
        case DecodingError.valueNotFound(let type, let context):
            return "valueNotFound \(type) \(path(context.codingPath)) \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return "dataCorrupted \(path(context.codingPath)) \(context.debugDescription)"
        default:
            return "other \(error)"
        }
    }
}

/// The outcomes of both decoders on the same bytes.
struct Pair<T: Equatable> {
    let fast: Outcome<T>
    let tree: Outcome<T>
    var agree: Bool { fast == tree }
}

/// A small deterministic generator (SplitMix64), so failures are reproducible.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

enum Generator {
    static let damage: [UInt8] = Array("{}[]\",:\\ 0-e.tnu\u{1}x".utf8) + [0x80, 0xFF]
    static let pieces = ["a", "b", "é", "😀", "\"", "\\", "\n", "\t", "/", "\u{1}", "\u{7f}", "ключ", " ", "K", "\u{212A}"]

    static func string(_ r: inout SplitMix) -> String {
        var s = ""
        for _ in 0..<r.below(6) { s += pieces[r.below(pieces.count)] }
        return s
    }

    static func number(_ r: inout SplitMix) -> JSONValue {
        switch r.below(6) {
        case 0: return .int(Int64(r.below(200)) - 100)
        case 1: return .int(Int64(bitPattern: r.next()))
        case 2: return .double(Double(r.below(1000)) / 8)
        case 3: return .double(Double(bitPattern: r.next() & 0x7FEF_FFFF_FFFF_FFFF))
        case 4: return .int(Int64(r.below(300)))
        default: return .double(-0.5)
        }
    }

    static func anyValue(_ r: inout SplitMix, depth: Int = 0) -> JSONValue {
        switch r.below(depth > 3 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(r.below(2) == 0)
        case 2, 3: return number(&r)
        case 4: return .string(string(&r))
        case 5: return .array((0..<r.below(4)).map { _ in anyValue(&r, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<r.below(4) { o[string(&r)] = anyValue(&r, depth: depth + 1) }
            return .object(o)
        }
    }

    /// A value that is sometimes right for the field and sometimes not.
    static func field(_ r: inout SplitMix, _ right: (inout SplitMix) -> JSONValue) -> JSONValue? {
        switch r.below(60) {
        case 0..<10: return nil
        case 10..<15: return .null
        case 15: return anyValue(&r)
        default: return right(&r)
        }
    }

    /// Mostly small integers, sometimes any number (which may not fit or not be whole).
    static func integer(_ r: inout SplitMix) -> JSONValue {
        r.below(30) == 0 ? number(&r) : .int(Int64(r.below(100)))
    }

    static func inner(_ r: inout SplitMix) -> JSONValue {
        var o: [String: JSONValue] = [:]
        o["id"] = field(&r) { r in integer(&r) }
        o["note"] = field(&r) { r in .string(string(&r)) }
        o["map"] = field(&r) { r in
            var m: [String: JSONValue] = [:]
            for _ in 0..<r.below(3) { m[string(&r)] = r.below(30) == 0 ? anyValue(&r) : .int(Int64(r.below(9))) }
            return .object(m)
        }
        return .object(o)
    }

    static func sample(_ r: inout SplitMix) -> JSONValue {
        var o: [String: JSONValue] = [:]
        o["name"] = r.below(50) == 0 ? anyValue(&r) : .string(string(&r))
        o["count"] = field(&r) { r in integer(&r) }
        o["ratio"] = field(&r) { r in number(&r) }
        o["enabled"] = field(&r) { r in .bool(r.below(2) == 0) }
        o["tags"] = field(&r) { r in .array((0..<r.below(4)).map { _ in .string(string(&r)) }) }
        o["labels"] = field(&r) { r in
            var m: [String: JSONValue] = [:]
            for _ in 0..<r.below(4) { m[string(&r)] = r.below(30) == 0 ? anyValue(&r) : .string(string(&r)) }
            return .object(m)
        }
        o["inner"] = field(&r) { r in inner(&r) }
        o["items"] = field(&r) { r in .array((0..<r.below(3)).map { _ in inner(&r) }) }
        o["extra"] = field(&r) { r in anyValue(&r) }
        o["big"] = field(&r) { r in integer(&r) }
        o["small"] = field(&r) { r in integer(&r) }
        o["unsigned"] = field(&r) { r in integer(&r) }
        o["float"] = field(&r) { r in number(&r) }
        for _ in 0..<r.below(3) { o[string(&r)] = anyValue(&r) }
        return .object(o)
    }
}
