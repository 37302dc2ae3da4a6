// The common KServe V1 request, `{"instances": [[number, ...], ...]}` on an all-numeric model,
// read straight from the request bytes into the feature matrix: no JSON tree, no per-number
// string. Anything else (names, strings, other keys, a wrong row length, a bad number) returns nil
// and goes through the general decoder, which also words the errors.
import NIOCore

extension ServedModel {
    public func fastV1(_ body: ByteBuffer) -> FeatureMatrix? {
        guard !features.contains(where: \.isCategorical) else { return nil }
        let nf = featureCount
        return body.withUnsafeReadableBytes { raw -> FeatureMatrix? in
            var reader = FastJSONReader(raw.bindMemory(to: UInt8.self))
            return reader.instances(features: nf)
        }
    }
}

struct FastJSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inline(__always) mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    @inline(__always) mutating func take(_ c: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == c else { return false }
        i += 1
        return true
    }

    mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        let p = text.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { return false }
        i += n
        return true
    }

    /// `{"instances": [[...], ...]}` with `features` numbers (or null) per row.
    mutating func instances(features nf: Int) -> FeatureMatrix? {
        guard take(UInt8(ascii: "{")) else { return nil }
        skipSpace()
        guard literal("\"instances\""), take(UInt8(ascii: ":")), take(UInt8(ascii: "[")) else { return nil }
        var values: [Double] = []
        values.reserveCapacity(nf * 64)
        var rows = 0
        while true {
            guard take(UInt8(ascii: "[")) else { return nil }
            for j in 0..<nf {
                if j > 0, !take(UInt8(ascii: ",")) { return nil }
                skipSpace()
                guard let v = number() else { return nil }
                values.append(v)
            }
            guard take(UInt8(ascii: "]")) else { return nil }
            rows += 1
            guard rows <= maxBatchRows else { return nil }
            if take(UInt8(ascii: ",")) { continue }
            guard take(UInt8(ascii: "]")) else { return nil }
            break
        }
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        guard i == bytes.count, nf > 0 else { return nil }
        return FeatureMatrix(rows: rows, values: values)
    }

    static let powers: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { x, _ in x * 10 } }

    /// A JSON number (finite) or `null` (NaN), correctly rounded: Clinger's fast path when the
    /// digits fit in 53 bits and the power of ten is exact, else the standard library's parser.
    mutating func number() -> Double? {
        guard i < bytes.count else { return nil }
        if bytes[i] == UInt8(ascii: "n") { return literal("null") ? .nan : nil }
        let start = i
        var negative = false
        if bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0          // significant digits in `mantissa`
        var exponent = 0        // decimal exponent applied to `mantissa`
        var exact = true        // false when digits were dropped
        guard i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 else { i = start; return nil }
        if bytes[i] == 0x30 {
            i += 1
        } else {
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(bytes[i] - 0x30); digits += 1 } else { exponent += 1; exact = false }
                i += 1
            }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 else { i = start; return nil }
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                let d = UInt64(bytes[i] - 0x30)
                if mantissa == 0 && d == 0 {
                    exponent -= 1  // leading zeros are not significant
                } else if digits < 19 {
                    mantissa = mantissa * 10 + d; digits += 1; exponent -= 1
                } else if d != 0 {
                    exact = false
                }
                i += 1
            }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            var expNegative = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
                expNegative = bytes[i] == UInt8(ascii: "-"); i += 1
            }
            guard i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 else { i = start; return nil }
            var e = 0
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                if e < 100_000 { e = e * 10 + Int(bytes[i] - 0x30) }
                i += 1
            }
            exponent += expNegative ? -e : e
        }
        var value: Double
        if exact, mantissa < (1 << 53), exponent >= -22, exponent <= 22 {
            value = Double(mantissa)
            value = exponent < 0 ? value / Self.powers[-exponent] : value * Self.powers[exponent]
            if negative { value = -value }
        } else {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            guard let parsed = Double(text) else { i = start; return nil }
            value = parsed
        }
        guard value.isFinite else { i = start; return nil }
        return value
    }
}
