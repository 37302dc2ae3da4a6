import Foundation

/// Decodes `Decodable` types straight from JSON bytes, without building a `JSONValue` tree.
///
/// One validating pass over the bytes records where every value starts and ends (a "tape" of
/// nodes, one per value and per object key, no `String`s and no dictionaries); decoding then reads
/// typed values from the bytes at those positions. Object keys are found by comparing their bytes
/// with the coding key's, so only the values a type asks for ever become `String`s. This is the
/// fast path for watch events, where most of an object (`managedFields`, unknown fields) is never
/// looked at.
///
/// Behaviour matches `JSONValueDecoder().decode(_:from: Data)`: the whole document is validated
/// first (the same `JSONSyntaxError`, at the same offset, as `JSONValue.parse`), a repeated key
/// keeps its last value, keys compare like Swift `String`s, integers and doubles convert the same
/// way, and errors are the same `DecodingError`s with the same coding paths.
public struct JSONBytesDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let tape = try data.withUnsafeBytes { raw in try JSONTape.make(copying: raw) }
        return try tape.decodeRoot(T.self)
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        try JSONTape.make(copying: bytes).decodeRoot(T.self)
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let tape = try bytes.withUnsafeBytes { raw in try JSONTape.make(copying: raw) }
        return try tape.decodeRoot(T.self)
    }
}

/// A validated document whose top-level members are read one at a time, for envelopes such as
/// watch events: the caller reads a discriminator first, then decodes the member it names,
/// without a wrapper type (whose generic metadata would be looked up for every document).
public struct JSONBytesDocument: Sendable {
    let tape: JSONTape

    /// Validates `data` exactly as `JSONValue.parse` does (same errors, same offsets).
    public init(_ data: Data) throws {
        tape = try data.withUnsafeBytes { raw in try JSONTape.make(copying: raw) }
    }

    /// The top-level value is an object with a member `name` (the last one when it repeats).
    private func member(_ name: String) -> Int? {
        guard tape.nodes[0].kind == .object else { return nil }
        return tape.member(0, named: name)
    }

    /// The string value of the top-level member `name`; nil when it is missing or not a string.
    public func string(member name: String) -> String? {
        guard let node = member(name), tape.nodes[node].kind == .string else { return nil }
        return tape.string(tape.nodes[node])
    }

    /// Decodes the top-level member `name`; coding paths in errors start with `name`.
    public func decode<T: Decodable>(_ type: T.Type, member name: String) throws -> T {
        let key = AnyKey(name)
        guard let node = member(name) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: [], debugDescription: "missing field \(name)"))
        }
        return try Bytes.decode(T.self, tape, node, { [key] }, parent: nil, key: key)
    }
}

// MARK: - Tape

/// One value (or object key) of the document.
struct TapeNode {
    enum Kind: UInt8 { case null, `true`, `false`, integer, number, string, array, object }
    /// Offset of the value's first byte (the quote of a string, the bracket of a container).
    var start: Int
    /// Strings: offset of the closing quote. Numbers: offset after the last character.
    /// Containers: offset after the closing bracket.
    var end: Int
    /// Index of the node after this value and everything inside it.
    var next: Int
    /// Members of an object, items of an array.
    var count: Int
    var kind: Kind
    /// Strings only: the string has escapes (`escaped`) or bytes outside ASCII (`nonASCII`).
    var flags: UInt8

    static let escaped: UInt8 = 1
    static let nonASCII: UInt8 = 2
}

/// The document's bytes (an owned copy, so decoders that escape stay valid) and its nodes.
/// Immutable once made.
final class JSONTape: @unchecked Sendable {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Raw storage rather than an Array: the nodes are read on every lookup, and an Array's
    /// bounds and uniqueness checks cost more than the reads themselves.
    let nodes: UnsafeBufferPointer<TapeNode>
    /// A `null` node after the document, standing in for missing values (`superDecoder`).
    let nullNode: Int

    private init(bytes: UnsafeBufferPointer<UInt8>, nodes: UnsafeBufferPointer<TapeNode>) {
        self.bytes = bytes
        self.nodes = nodes
        self.nullNode = nodes.count - 1
    }

    deinit {
        bytes.deallocate()
        nodes.deallocate()
    }

    static func make(copying raw: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONTape {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(raw.count, 1), alignment: 8)
        storage.copyMemory(from: raw)
        let bytes = UnsafeBufferPointer(rebasing: storage.bindMemory(to: UInt8.self)[0..<raw.count])
        var builder = TapeBuilder(bytes)
        do {
            try builder.document()
        } catch {
            storage.deallocate()
            builder.nodes.deallocate()
            throw error
        }
        builder.nodes.append(TapeNode(start: 0, end: 0, next: builder.nodes.count + 1, count: 0, kind: .null, flags: 0))
        return JSONTape(bytes: bytes, nodes: builder.nodes.finished)
    }

    func decodeRoot<T: Decodable>(_ type: T.Type) throws -> T {
        try Bytes.decode(T.self, self, 0, { [] }, parent: nil)
    }

    // MARK: Values

    /// The string a string node holds (escapes resolved exactly as `JSONValue.parse` does).
    func string(_ node: TapeNode) -> String {
        if node.flags & TapeNode.escaped == 0 {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[(node.start + 1)..<node.end]), as: UTF8.self)
        }
        return unescape(from: node.start + 1, to: node.end) ?? reference(node)
    }

    private func reference(_ node: TapeNode) -> String {
        var parser = JSONByteParser(bytes)
        parser.index = node.start
        // Validated when the tape was made; the fallback is never reached.
        return (try? parser.parseString()) ?? ""
    }

    /// Resolves the escapes of a string the tape builder validated. The result is never longer
    /// than the escaped text (an escape of n bytes stands for at most n - 2 bytes of UTF-8), so it
    /// is written straight into the new string's storage. Nil if anything is unexpected.
    private func unescape(from: Int, to: Int) -> String? {
        guard from <= to, to <= bytes.count, let base = bytes.baseAddress else { return nil }
        var ok = true
        let result = String(unsafeUninitializedCapacity: to - from) { out -> Int in
            guard let outBase = out.baseAddress else { return 0 }
            var i = from
            var o = 0
            while i < to {
                // Copy everything up to the next backslash at once.
                let rest = to - i
                let hit = memchr(base + i, Int32(UInt8(ascii: "\\")), rest)
                let run = hit.map { UnsafeRawPointer(base + i).distance(to: UnsafeRawPointer($0)) } ?? rest
                guard o + run <= out.count else { ok = false; return o }
                (outBase + o).update(from: base + i, count: run)
                o += run
                i += run
                guard i < to else { break }
                guard i + 1 < to, o < out.count else { ok = false; return o }
                let escape = bytes[i + 1]
                i += 2
                var byte: UInt8 = 0
                switch escape {
                case UInt8(ascii: "\""): byte = 0x22
                case UInt8(ascii: "\\"): byte = 0x5C
                case UInt8(ascii: "/"): byte = 0x2F
                case UInt8(ascii: "b"): byte = 0x08
                case UInt8(ascii: "f"): byte = 0x0C
                case UInt8(ascii: "n"): byte = 0x0A
                case UInt8(ascii: "r"): byte = 0x0D
                case UInt8(ascii: "t"): byte = 0x09
                case UInt8(ascii: "u"):
                    guard var code = hex4(at: i, end: to) else { ok = false; return o }
                    i += 4
                    if (0xD800..<0xDC00).contains(code) {
                        guard i + 6 <= to, let low = hex4(at: i + 2, end: to), (0xDC00..<0xE000).contains(low) else {
                            ok = false
                            return o
                        }
                        i += 6
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { ok = false; return o }
                    guard let encoded = UTF8.encode(scalar), o + encoded.count <= out.count else {
                        ok = false
                        return o
                    }
                    for unit in encoded {
                        out[o] = unit
                        o += 1
                    }
                    continue
                default:
                    ok = false
                    return o
                }
                out[o] = byte
                o += 1
            }
            return o
        }
        return ok ? result : nil
    }

    private func hex4(at start: Int, end: Int) -> UInt32? { JSONLexer.hex4(bytes, at: start, end: end) }

    /// The `JSONValue` of any node, parsed by the tree parser from the node's bytes.
    func jsonValue(_ index: Int) -> JSONValue {
        let node = nodes[index]
        if index == nullNode { return .null }
        var parser = JSONByteParser(bytes)
        parser.index = node.start
        // Validated (depth included) when the tape was made; the fallback is never reached.
        return (try? parser.parseValue(depth: 0)) ?? .null
    }

    enum Number {
        case int(Int64)
        case double(Double)
    }

    /// A number node's value: integers that fit in 64 bits stay integers, like `JSONValue.parse`.
    func number(_ node: TapeNode) -> Number {
        if node.kind == .integer {
            var i = node.start
            let negative = bytes[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            let digits = node.end - i
            if digits <= 18 {
                var value: Int64 = 0
                while i < node.end {
                    value = value &* 10 &+ Int64(bytes[i] &- UInt8(ascii: "0"))
                    i += 1
                }
                return .int(negative ? -value : value)
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[node.start..<node.end]), as: UTF8.self)
        if node.kind == .integer, let int = Int64(text) { return .int(int) }
        // The tape only holds numbers that `JSONValue.parse` accepts, so this always succeeds.
        return .double(Double(text) ?? .nan)
    }

    /// The JSON type name `JSONValue.typeName` would give.
    func typeName(_ index: Int) -> String {
        let node = nodes[index]
        switch node.kind {
        case .null: return "null"
        case .true, .false: return "boolean"
        case .integer, .number:
            if case .int = number(node) { return "integer" }
            return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    // MARK: Object members

    /// A cheap fingerprint of a key (length, first and last byte) that the builder stores in the
    /// `count` of plain-ASCII key nodes, so most keys are told apart with one comparison.
    @inline(__always)
    static func signature(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        guard let first = key.first, let last = key.last else { return 0 }
        return key.count << 16 | Int(first) << 8 | Int(last)
    }

    /// The value node of the member named `name` in the object at `object` (the last one when the
    /// key repeats), comparing keys the way `String` does.
    func member(_ object: Int, named name: String) -> Int? {
        var name = name
        return name.withUTF8 { target in member(object, utf8: target) }
    }

    private func member(_ object: Int, utf8 target: UnsafeBufferPointer<UInt8>) -> Int? {
        var ascii: UInt8 = 0
        for byte in target { ascii |= byte }
        guard ascii < 0x80, let targetBase = target.baseAddress, let base = bytes.baseAddress else {
            return memberComparingStrings(object, String(decoding: target, as: UTF8.self))
        }
        let signature = JSONTape.signature(target)
        let length = target.count
        // Every index below is a key or value node of this object: `next` of a node is at most
        // the object's own `next`, which is at most `nodes.count`.
        let end = min(nodes[object].next, nodes.count - 1)
        var found: Int? = nil
        var key = object + 1
        while key < end {
            let node = nodes[key]
            if node.flags != 0 {
                // Escapes or non-ASCII bytes in the document's key: compare the decoded strings.
                if string(node) == String(decoding: target, as: UTF8.self) { found = key + 1 }
            } else if node.count == signature, node.start + 1 + length <= bytes.count,
                      memcmp(base + node.start + 1, targetBase, length) == 0 {
                // Plain ASCII on both sides: equal as strings exactly when equal as bytes.
                found = key + 1
            }
            key = nodes[key + 1].next
        }
        return found
    }

    /// The slow path: keys with escapes or outside ASCII, compared as `String`s.
    private func memberComparingStrings(_ object: Int, _ name: String) -> Int? {
        let end = min(nodes[object].next, nodes.count - 1)
        var found: Int? = nil
        var key = object + 1
        while key < end {
            if string(nodes[key]) == name { found = key + 1 }
            key = nodes[key + 1].next
        }
        return found
    }

    /// Every key of an object once, in document order (a repeated key is reported once).
    func keys(_ object: Int) -> [String] {
        var keys: [String] = []
        var seen = Set<String>()
        var key = object + 1
        let end = nodes[object].next
        while key < end {
            let name = string(nodes[key])
            if seen.insert(name).inserted { keys.append(name) }
            key = nodes[key + 1].next
        }
        return keys
    }

    /// A map from key to value node for large objects (last occurrence wins).
    func index(_ object: Int) -> [String: Int] {
        var map: [String: Int] = [:]
        map.reserveCapacity(nodes[object].count)
        var key = object + 1
        let end = nodes[object].next
        while key < end {
            map[string(nodes[key])] = key + 1
            key = nodes[key + 1].next
        }
        return map
    }
}

/// The builder's growing node storage: an Array without its per-write checks.
struct TapeNodes {
    private var base: UnsafeMutablePointer<TapeNode>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 4)
        base = .allocate(capacity: self.capacity)
    }

    @inline(__always)
    mutating func append(_ node: TapeNode) {
        if count == capacity { grow() }
        (base + count).initialize(to: node)
        count += 1
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<TapeNode>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }

    /// Only indices below `count` are ever used: every index is one the builder appended.
    subscript(index: Int) -> TapeNode {
        @inline(__always) get { base[index] }
        @inline(__always) set { base[index] = newValue }
    }

    /// The nodes, now owned by the caller.
    var finished: UnsafeBufferPointer<TapeNode> { UnsafeBufferPointer(start: base, count: count) }

    func deallocate() { base.deallocate() }
}

/// Builds the tape in one pass, checking syntax exactly like `JSONByteParser` (same reasons,
/// same offsets), so a document is accepted or rejected the same way by both decoders.
struct TapeBuilder {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Owned by the builder until `finished` hands it to the tape (or `deallocate` on an error).
    var nodes: TapeNodes

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        nodes = TapeNodes(capacity: bytes.count / 8 + 4)
    }

    func fail(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

    mutating func document() throws(JSONSyntaxError) {
        skipWhitespace()
        try value(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the document") }
    }

    @inline(__always)
    mutating func skipWhitespace() { JSONLexer.skipWhitespace(bytes, &index) }

    @inline(__always)
    mutating func leaf(_ kind: TapeNode.Kind, start: Int, end: Int, flags: UInt8 = 0) {
        nodes.append(TapeNode(start: start, end: end, next: nodes.count + 1, count: 0, kind: kind, flags: flags))
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) {
        guard depth < JSONByteParser.maxDepth else { throw fail("nesting deeper than \(JSONByteParser.maxDepth)") }
        guard index < bytes.count else { throw fail("unexpected end of input") }
        let start = index
        switch bytes[index] {
        case UInt8(ascii: "{"): try object(depth: depth)
        case UInt8(ascii: "["): try array(depth: depth)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"):
            try literal("true")
            leaf(.true, start: start, end: index)
        case UInt8(ascii: "f"):
            try literal("false")
            leaf(.false, start: start, end: index)
        case UInt8(ascii: "n"):
            try literal("null")
            leaf(.null, start: start, end: index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw fail("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'")
        }
    }

    mutating func literal(_ literal: StaticString) throws(JSONSyntaxError) {
        try JSONLexer.literal(literal, bytes, &index)
    }

    mutating func object(depth: Int) throws(JSONSyntaxError) {
        let me = nodes.count
        nodes.append(TapeNode(start: index, end: 0, next: 0, count: 0, kind: .object, flags: 0))
        index += 1
        var count = 0
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            close(me, count: count)
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            try string()
            let key = nodes.count - 1
            let node = nodes[key]
            if node.flags == 0, node.end > node.start + 1 {
                // The same fingerprint as `JSONTape.signature` of the key's bytes (empty keys: 0).
                nodes[key].count = (node.end - node.start - 1) << 16 | Int(bytes[node.start + 1]) << 8
                    | Int(bytes[node.end - 1])
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            try value(depth: depth + 1)
            count += 1
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input in object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                close(me, count: count)
                return
            } else {
                throw fail("expected ',' or '}'")
            }
        }
    }

    mutating func array(depth: Int) throws(JSONSyntaxError) {
        let me = nodes.count
        nodes.append(TapeNode(start: index, end: 0, next: 0, count: 0, kind: .array, flags: 0))
        index += 1
        var count = 0
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            close(me, count: count)
            return
        }
        while true {
            skipWhitespace()
            try value(depth: depth + 1)
            count += 1
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input in array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                close(me, count: count)
                return
            } else {
                throw fail("expected ',' or ']'")
            }
        }
    }

    @inline(__always)
    mutating func close(_ node: Int, count: Int) {
        nodes[node].end = index
        nodes[node].next = nodes.count
        nodes[node].count = count
    }

    /// Scans a string eight bytes at a time while no byte is a quote, a backslash or a control
    /// character. Any error is reported by the tree parser's own string reader, run again from the
    /// string's start, so reasons and offsets are exactly `JSONValue.parse`'s.
    mutating func string() throws(JSONSyntaxError) {
        let start = index
        var flags: UInt8 = 0
        let count = bytes.count
        guard let base = bytes.baseAddress else { return try referenceString(from: start) }
        let raw = UnsafeRawPointer(base)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        // A local cursor: `index` is a stored property, written back once at the end.
        var i = start + 1
        while true {
            while i + 8 <= count {
                let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let quote = word ^ 0x2222_2222_2222_2222
                let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
                // A byte's high bit is set where it is '"', '\' or below 0x20; bytes above a real
                // hit may be flagged too, so only the lowest flag is trusted.
                let special = (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
                    | ((word &- 0x2020_2020_2020_2020) & ~word)) & highs
                if special != 0 {
                    #if _endian(little)
                    let skip = special.trailingZeroBitCount >> 3
                    let before = skip == 0 ? 0 : word & (UInt64.max >> (64 - 8 * skip))
                    #else
                    let skip = special.leadingZeroBitCount >> 3
                    let before = skip == 0 ? 0 : word & (UInt64.max << (64 - 8 * skip))
                    #endif
                    if before & highs != 0 { flags |= TapeNode.nonASCII }
                    i += skip
                    break
                }
                if word & highs != 0 { flags |= TapeNode.nonASCII }
                i += 8
            }
            guard i < count else { return try referenceString(from: start) }
            let byte = base[i]
            if byte == UInt8(ascii: "\"") {
                leaf(.string, start: start, end: i, flags: flags)
                index = i + 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                flags |= TapeNode.escaped | TapeNode.nonASCII
                index = i
                guard skipEscape() else { return try referenceString(from: start) }
                i = index
                continue
            }
            if byte < 0x20 { return try referenceString(from: start) }
            if byte >= 0x80 { flags |= TapeNode.nonASCII }
            i += 1
        }
    }

    /// Reads the string starting at `start` with `JSONByteParser`: used to report errors.
    mutating func referenceString(from start: Int) throws(JSONSyntaxError) {
        var parser = JSONByteParser(bytes)
        parser.index = start
        _ = try parser.parseString()
        index = parser.index
        leaf(.string, start: start, end: index - 1, flags: TapeNode.escaped | TapeNode.nonASCII)
    }

    /// Steps over one escape sequence at `index` (a backslash); false when it is invalid.
    mutating func skipEscape() -> Bool {
        index += 1
        guard index < bytes.count else { return false }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return true
        case UInt8(ascii: "u"):
            guard let code = hex4() else { return false }
            if (0xD800..<0xDC00).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                      bytes[index + 1] == UInt8(ascii: "u") else { return false }
                index += 2
                guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return false }
            } else if (0xDC00..<0xE000).contains(code) {
                return false
            }
            return true
        default:
            return false
        }
    }

    mutating func hex4() -> UInt32? {
        guard let value = JSONLexer.hex4(bytes, at: index, end: bytes.count) else { return nil }
        index += 4
        return value
    }

    mutating func number() throws(JSONSyntaxError) {
        let start = index
        let isInteger = try JSONNumberScanner.scan(bytes, at: &index)
        if !isInteger {
            // `JSONValue.parse` rejects what `Double` cannot read; keep the same rule.
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard Double(text) != nil else { throw fail("invalid number") }
        }
        leaf(isInteger ? .integer : .number, start: start, end: index)
    }
}

// MARK: - Coding paths

private func indexKey(_ index: Int) -> AnyKey { AnyKey(intValue: index) ?? AnyKey(String(index)) }

/// A coding path as a chain of keys, built only as deep as decoding goes and turned into an
/// array only when an error or a caller asks for it.
final class CodingPathNode {
    let parent: CodingPathNode?
    /// The key, or nil for the array item at `index` (its key is made only when asked for).
    let key: (any CodingKey)?
    let index: Int

    init(parent: CodingPathNode?, key: any CodingKey) {
        self.parent = parent
        self.key = key
        self.index = 0
    }

    init(parent: CodingPathNode?, index: Int) {
        self.parent = parent
        self.key = nil
        self.index = index
    }

    static func path(_ node: CodingPathNode?) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var current = node
        while let c = current {
            keys.append(c.key ?? indexKey(c.index))
            current = c.parent
        }
        return keys.reversed()
    }
}

// MARK: - Decoding

/// Scalar conversions, the same as `JSONValueDecoder`'s.
enum Bytes {
    /// Makes the coding path for an error. Always passed as a non-escaping closure written at
    /// the call site, so its context lives on the stack: nothing is allocated unless it is called.
    typealias Path = () -> [any CodingKey]

    static func mismatch<T>(_ type: T.Type, _ tape: JSONTape, _ node: Int, _ path: Path) -> DecodingError {
        .typeMismatch(T.self, .init(codingPath: path(),
                                    debugDescription: "expected \(T.self), found \(tape.typeName(node))"))
    }

    @inline(__always)
    static func string(_ tape: JSONTape, _ index: Int, _ path: Path) throws -> String {
        let node = tape.nodes[index]
        if node.kind == .string { return tape.string(node) }
        throw mismatch(String.self, tape, index, path)
    }

    static func bool(_ tape: JSONTape, _ index: Int, _ path: Path) throws -> Bool {
        switch tape.nodes[index].kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, tape, index, path)
        }
    }

    static func double(_ tape: JSONTape, _ index: Int, _ path: Path) throws -> Double {
        let node = tape.nodes[index]
        guard node.kind == .integer || node.kind == .number else { throw mismatch(Double.self, tape, index, path) }
        switch tape.number(node) {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }

    static func integer<T: FixedWidthInteger>(_ tape: JSONTape, _ index: Int, _ type: T.Type, _ path: Path) throws -> T {
        let node = tape.nodes[index]
        guard node.kind == .integer || node.kind == .number else { throw mismatch(T.self, tape, index, path) }
        switch tape.number(node) {
        case .int(let i):
            if let exact = T(exactly: i) { return exact }
        case .double(let d):
            if let exact = T(exactly: d) { return exact }
        }
        throw DecodingError.dataCorrupted(.init(
            codingPath: path(), debugDescription: "\(tape.jsonValue(index)) does not fit in \(T.self)"))
    }

    /// `parent` and `key`/`item` make the coding path of a nested decoder; neither is used for
    /// leaf values, whose paths are built only for errors.
    static func decode<T: Decodable>(_ type: T.Type, _ tape: JSONTape, _ index: Int, _ path: Path,
                                     parent: CodingPathNode?, key: (any CodingKey)? = nil,
                                     item: Int? = nil) throws -> T {
        // Common leaf types skip the generic Decoder round trip. unsafeBitCast is a no-op here:
        // each branch has checked that T is exactly that type.
        if T.self == String.self { return unsafeBitCast(try string(tape, index, path), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(tape, index, path), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(tape, index, Int.self, path), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try integer(tape, index, Int64.self, path), to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try integer(tape, index, Int32.self, path), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try double(tape, index, path), to: T.self) }
        if T.self == JSONValue.self { return unsafeBitCast(tape.jsonValue(index), to: T.self) }
        if T.self == [String: String].self {
            let object = tape.nodes[index]
            guard object.kind == .object else { throw mismatch([String: String].self, tape, index, path) }
            // Made at its size at once: reserveCapacity on an empty dictionary is a generic call.
            var result = [String: String](minimumCapacity: object.count)
            var member = index + 1
            while member < object.next {
                let name = tape.string(tape.nodes[member])
                result[name] = try string(tape, member + 1, { path() + [AnyKey(name)] })
                member = tape.nodes[member + 1].next
            }
            return unsafeBitCast(result, to: T.self)
        }
        if T.self == [String].self {
            let array = tape.nodes[index]
            guard array.kind == .array else {
                throw DecodingError.typeMismatch([JSONValue].self, .init(
                    codingPath: path(), debugDescription: "expected an array, found \(tape.typeName(index))"))
            }
            var result: [String] = []
            result.reserveCapacity(array.count)
            var item = index + 1
            while item < array.next {
                let position = result.count
                result.append(try string(tape, item, { path() + [indexKey(position)] }))
                item = tape.nodes[item].next
            }
            return unsafeBitCast(result, to: T.self)
        }
        let pathNode: CodingPathNode?
        if let key {
            pathNode = CodingPathNode(parent: parent, key: key)
        } else if let item {
            pathNode = CodingPathNode(parent: parent, index: item)
        } else {
            pathNode = parent
        }
        return try T(from: BytesDecoder(tape: tape, node: index, path: pathNode))
    }
}

struct BytesDecoder: Decoder {
    let tape: JSONTape
    let node: Int
    let path: CodingPathNode?

    var codingPath: [any CodingKey] { CodingPathNode.path(path) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard tape.nodes[node].kind == .object else {
            throw DecodingError.typeMismatch([String: JSONValue].self, .init(
                codingPath: codingPath, debugDescription: "expected an object, found \(tape.typeName(node))"))
        }
        return KeyedDecodingContainer(KeyedBytes<Key>(tape: tape, object: node, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard tape.nodes[node].kind == .array else {
            throw DecodingError.typeMismatch([JSONValue].self, .init(
                codingPath: codingPath, debugDescription: "expected an array, found \(tape.typeName(node))"))
        }
        return UnkeyedBytes(tape: tape, array: node, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleBytes(tape: tape, node: node, path: path)
    }
}

/// What a keyed container reads. A class, so that the container is a single reference: the
/// standard library's container box copies the container for every call.
private final class ObjectState {
    let tape: JSONTape
    let object: Int
    let path: CodingPathNode?
    /// Objects with many members are looked up through a map instead of a scan.
    let index: [String: Int]?

    init(tape: JSONTape, object: Int, path: CodingPathNode?) {
        self.tape = tape
        self.object = object
        self.path = path
        index = tape.nodes[object].count > 16 ? tape.index(object) : nil
    }
}

private struct KeyedBytes<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: ObjectState
    var tape: JSONTape { state.tape }
    var object: Int { state.object }
    var path: CodingPathNode? { state.path }
    var index: [String: Int]? { state.index }

    init(tape: JSONTape, object: Int, path: CodingPathNode?) {
        state = ObjectState(tape: tape, object: object, path: path)
    }

    var codingPath: [any CodingKey] { CodingPathNode.path(path) }

    var allKeys: [Key] { tape.keys(object).compactMap { Key(stringValue: $0) } }

    @inline(__always)
    private func find(_ key: Key) -> Int? {
        if let index { return index[key.stringValue] }
        return tape.member(object, named: key.stringValue)
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    private func value(_ key: Key) throws -> Int {
        guard let v = find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                       debugDescription: "missing field \(key.stringValue)"))
        }
        return v
    }

    /// The member's value node unless it is missing or null.
    @inline(__always)
    private func present(_ key: Key) -> Int? {
        guard let v = find(key), tape.nodes[v].kind != .null else { return nil }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let v = find(key) else { return true }
        return tape.nodes[v].kind == .null
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try Bytes.decode(T.self, tape, try value(key), { CodingPathNode.path(path) + [key] }, parent: path, key: key)
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try Bytes.string(tape, try value(key), { CodingPathNode.path(path) + [key] })
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try Bytes.bool(tape, try value(key), { CodingPathNode.path(path) + [key] })
    }

    func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        try Bytes.integer(tape, try value(key), Int.self, { CodingPathNode.path(path) + [key] })
    }

    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try Bytes.integer(tape, try value(key), Int64.self, { CodingPathNode.path(path) + [key] })
    }

    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try Bytes.double(tape, try value(key), { CodingPathNode.path(path) + [key] })
    }

    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let v = present(key) else { return nil }
        return try Bytes.string(tape, v, { CodingPathNode.path(path) + [key] })
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let v = present(key) else { return nil }
        return try Bytes.bool(tape, v, { CodingPathNode.path(path) + [key] })
    }

    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        guard let v = present(key) else { return nil }
        return try Bytes.integer(tape, v, Int.self, { CodingPathNode.path(path) + [key] })
    }

    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
        guard let v = present(key) else { return nil }
        return try Bytes.integer(tape, v, Int64.self, { CodingPathNode.path(path) + [key] })
    }

    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let v = present(key) else { return nil }
        return try Bytes.double(tape, v, { CodingPathNode.path(path) + [key] })
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = present(key) else { return nil }
        return try Bytes.decode(T.self, tape, v, { CodingPathNode.path(path) + [key] }, parent: path, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try BytesDecoder(tape: tape, node: try value(key), path: CodingPathNode(parent: path, key: key))
            .container(keyedBy: NestedKey.self)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try BytesDecoder(tape: tape, node: try value(key), path: CodingPathNode(parent: path, key: key))
            .unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        let node = (index.map { $0["super"] } ?? tape.member(object, named: "super")) ?? tape.nullNode
        return BytesDecoder(tape: tape, node: node, path: path)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        BytesDecoder(tape: tape, node: find(key) ?? tape.nullNode, path: CodingPathNode(parent: path, key: key))
    }
}

private struct UnkeyedBytes: UnkeyedDecodingContainer {
    let tape: JSONTape
    let array: Int
    let path: CodingPathNode?
    /// The node of the next item.
    var cursor: Int
    var currentIndex = 0
    let count: Int?

    init(tape: JSONTape, array: Int, path: CodingPathNode?) {
        self.tape = tape
        self.array = array
        self.path = path
        cursor = array + 1
        count = tape.nodes[array].count
    }

    var codingPath: [any CodingKey] { CodingPathNode.path(path) }
    var isAtEnd: Bool { cursor >= tape.nodes[array].next }

    private mutating func next() throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath + [indexKey(currentIndex)],
                                                                    debugDescription: "array has no more items"))
        }
        let node = cursor
        cursor = tape.nodes[cursor].next
        currentIndex += 1
        return node
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, tape.nodes[cursor].kind == .null else { return false }
        _ = try next()
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let index = currentIndex
        let path = self.path
        return try Bytes.decode(T.self, tape, try next(), { CodingPathNode.path(path) + [indexKey(index)] },
                                parent: path, item: index)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let node = CodingPathNode(parent: path, index: currentIndex)
        return try BytesDecoder(tape: tape, node: try next(), path: node).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let node = CodingPathNode(parent: path, index: currentIndex)
        return try BytesDecoder(tape: tape, node: try next(), path: node).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let node = CodingPathNode(parent: path, index: currentIndex)
        return BytesDecoder(tape: tape, node: try next(), path: node)
    }
}

private struct SingleBytes: SingleValueDecodingContainer {
    let tape: JSONTape
    let node: Int
    let path: CodingPathNode?

    var codingPath: [any CodingKey] { CodingPathNode.path(path) }

    func decodeNil() -> Bool { tape.nodes[node].kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try Bytes.bool(tape, node, { CodingPathNode.path(path) }) }
    func decode(_ type: String.Type) throws -> String { try Bytes.string(tape, node, { CodingPathNode.path(path) }) }
    func decode(_ type: Double.Type) throws -> Double { try Bytes.double(tape, node, { CodingPathNode.path(path) }) }
    func decode(_ type: Float.Type) throws -> Float { Float(try Bytes.double(tape, node, { CodingPathNode.path(path) })) }
    func decode(_ type: Int.Type) throws -> Int { try Bytes.integer(tape, node, Int.self, { CodingPathNode.path(path) }) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Bytes.integer(tape, node, Int8.self, { CodingPathNode.path(path) }) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Bytes.integer(tape, node, Int16.self, { CodingPathNode.path(path) }) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Bytes.integer(tape, node, Int32.self, { CodingPathNode.path(path) }) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Bytes.integer(tape, node, Int64.self, { CodingPathNode.path(path) }) }
    func decode(_ type: UInt.Type) throws -> UInt { try Bytes.integer(tape, node, UInt.self, { CodingPathNode.path(path) }) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Bytes.integer(tape, node, UInt8.self, { CodingPathNode.path(path) }) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Bytes.integer(tape, node, UInt16.self, { CodingPathNode.path(path) }) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Bytes.integer(tape, node, UInt32.self, { CodingPathNode.path(path) }) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Bytes.integer(tape, node, UInt64.self, { CodingPathNode.path(path) }) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Bytes.decode(T.self, tape, node, { CodingPathNode.path(path) }, parent: path) }
}
