import Foundation

/// Decodes `Decodable` types straight from a parsed `JSONValue` tree, without serializing it to
/// bytes again. Together with the byte parser this is the fast path for watch events.
public struct JSONValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: TreeDecoder(value: value, codingPath: []))
    }

    /// Parses bytes and decodes them in one step.
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decode(T.self, from: try JSONValue.parse(data))
    }
}

private struct TreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw DecodingError.typeMismatch([String: JSONValue].self, .init(
                codingPath: codingPath, debugDescription: "expected an object, found \(value.typeName)"))
        }
        return KeyedDecodingContainer(KeyedTree<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else {
            throw DecodingError.typeMismatch([JSONValue].self, .init(
                codingPath: codingPath, debugDescription: "expected an array, found \(value.typeName)"))
        }
        return UnkeyedTree(array: array, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleTree(value: value, codingPath: codingPath) }
}

/// Scalar conversions shared by every container.
private enum Scalar {
    /// Paths are built only when an error needs them: allocating one per field costs more than
    /// the decoding itself.
    typealias Path = () -> [any CodingKey]

    static func mismatch<T>(_ type: T.Type, _ value: JSONValue, _ path: Path) -> DecodingError {
        .typeMismatch(T.self, .init(codingPath: path(), debugDescription: "expected \(T.self), found \(value.typeName)"))
    }

    static func string(_ v: JSONValue, _ path: Path) throws -> String {
        if case .string(let s) = v { return s }
        throw mismatch(String.self, v, path)
    }

    static func bool(_ v: JSONValue, _ path: Path) throws -> Bool {
        if case .bool(let b) = v { return b }
        throw mismatch(Bool.self, v, path)
    }

    static func double(_ v: JSONValue, _ path: Path) throws -> Double {
        switch v {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: throw mismatch(Double.self, v, path)
        }
    }

    static func integer<T: FixedWidthInteger>(_ v: JSONValue, _ type: T.Type, _ path: Path) throws -> T {
        switch v {
        case .int(let i):
            if let exact = T(exactly: i) { return exact }
        case .double(let d):
            if let exact = T(exactly: d) { return exact }
        default:
            throw mismatch(T.self, v, path)
        }
        throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "\(v) does not fit in \(T.self)"))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ v: JSONValue, _ path: Path) throws -> T {
        // Common leaf types skip the generic Decoder round trip.
        // unsafeBitCast is a no-op here: each branch has checked that T is exactly that type,
        // and a dynamic `as?` cast per field would cost more than the decoding.
        if T.self == String.self { return unsafeBitCast(try string(v, path), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(v, path), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(v, Int.self, path), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try integer(v, Int64.self, path), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try double(v, path), to: T.self) }
        if T.self == JSONValue.self { return unsafeBitCast(v, to: T.self) }
        if T.self == [String: String].self {
            guard case .object(let o) = v else { throw mismatch([String: String].self, v, path) }
            var result: [String: String] = [:]
            result.reserveCapacity(o.count)
            for (k, item) in o { result[k] = try string(item, { path() + [AnyKey(k)] }) }
            if let typed = result as? T { return typed }
        }
        return try T(from: TreeDecoder(value: v, codingPath: path()))
    }
}

private struct KeyedTree<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let v = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                       debugDescription: "missing field \(key.stringValue)"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { object[key.stringValue].map(\.isNull) ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try Scalar.decode(T.self, try value(key), { codingPath + [key] })
    }

    // Concrete overloads: the defaults would look the key up three times.
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let v = object[key.stringValue], !v.isNull else { return nil }
        return try Scalar.string(v, { codingPath + [key] })
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let v = object[key.stringValue], !v.isNull else { return nil }
        return try Scalar.bool(v, { codingPath + [key] })
    }

    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        guard let v = object[key.stringValue], !v.isNull else { return nil }
        return try Scalar.integer(v, Int.self, { codingPath + [key] })
    }

    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
        guard let v = object[key.stringValue], !v.isNull else { return nil }
        return try Scalar.integer(v, Int64.self, { codingPath + [key] })
    }

    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let v = object[key.stringValue], !v.isNull else { return nil }
        return try Scalar.double(v, { codingPath + [key] })
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try Scalar.string(try value(key), { codingPath + [key] })
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = object[key.stringValue], !v.isNull else { return nil }
        return try Scalar.decode(T.self, v, { codingPath + [key] })
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try TreeDecoder(value: try value(key), codingPath: codingPath + [key]).container(keyedBy: NestedKey.self)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(value: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        TreeDecoder(value: object["super"] ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(value: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedTree: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(array: [JSONValue], codingPath: [any CodingKey]) {
        self.array = array
        self.codingPath = codingPath
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private var indexKey: AnyKey { AnyKey(intValue: currentIndex) ?? AnyKey(String(currentIndex)) }

    private mutating func next() throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath + [indexKey],
                                                                    debugDescription: "array has no more items"))
        }
        defer { currentIndex += 1 }
        return array[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let index = currentIndex
        let path = codingPath
        return try Scalar.decode(T.self, try next(), { path + [AnyKey(intValue: index) ?? AnyKey(String(index))] })
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let path = codingPath + [indexKey]
        return try TreeDecoder(value: try next(), codingPath: path).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = codingPath + [indexKey]
        return try TreeDecoder(value: try next(), codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let path = codingPath + [indexKey]
        return TreeDecoder(value: try next(), codingPath: path)
    }
}

private struct SingleTree: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value.isNull }
    private var path: Scalar.Path { { codingPath } }
    func decode(_ type: Bool.Type) throws -> Bool { try Scalar.bool(value, path) }
    func decode(_ type: String.Type) throws -> String { try Scalar.string(value, path) }
    func decode(_ type: Double.Type) throws -> Double { try Scalar.double(value, path) }
    func decode(_ type: Float.Type) throws -> Float { Float(try Scalar.double(value, path)) }
    func decode(_ type: Int.Type) throws -> Int { try Scalar.integer(value, Int.self, path) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Scalar.integer(value, Int8.self, path) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Scalar.integer(value, Int16.self, path) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Scalar.integer(value, Int32.self, path) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Scalar.integer(value, Int64.self, path) }
    func decode(_ type: UInt.Type) throws -> UInt { try Scalar.integer(value, UInt.self, path) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalar.integer(value, UInt8.self, path) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalar.integer(value, UInt16.self, path) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalar.integer(value, UInt32.self, path) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalar.integer(value, UInt64.self, path) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Scalar.decode(T.self, value, path) }
}
