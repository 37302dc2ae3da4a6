// Parquet value and level encodings over a decoded page: the RLE/bit-packed hybrid (levels and
// dictionary indices), PLAIN, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and
// BYTE_STREAM_SPLIT. Every read is bounds-checked; errors carry the byte offset within the page.

/// A read position over one decoded page.
struct ByteCursor: VarintReading {
    let buffer: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, from: Int = 0, end: Int? = nil) {
        self.buffer = buffer; self.position = from; self.end = min(end ?? buffer.count, buffer.count)
    }

    var remaining: Int { end - position }

    func fail(_ message: String) -> ParquetError { ParquetError(position, message) }

    mutating func byte() throws -> UInt8 {
        guard position < end else { throw fail("unexpected end of page data") }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func u32() throws -> UInt32 {
        guard remaining >= 4 else { throw fail("need 4 bytes, \(remaining) left") }
        let v = buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: v)
    }

    /// The next `n` bytes, as a range of `buffer`.
    mutating func take(_ n: Int, _ what: String) throws -> Range<Int> {
        guard n >= 0, n <= remaining else { throw fail("\(what) of \(n) bytes runs past the end of the page (\(remaining) bytes left)") }
        defer { position += n }
        return position..<position + n
    }
}

enum LevelDecoder {
    /// Bits needed for values up to `max`.
    static func bitWidth(_ max: Int) -> Int { max == 0 ? 0 : Int.bitWidth - max.leadingZeroBitCount }

    /// Decodes `count` values of the RLE/bit-packed hybrid with `width` bits (0...32) from
    /// `c` into `out` (which is resized to `count`).
    static func hybrid(_ c: inout ByteCursor, width: Int, count: Int, into out: inout [UInt32]) throws {
        guard (0...32).contains(width) else { throw c.fail("bit width \(width) out of range 0...32") }
        if out.count < count { out = [UInt32](repeating: 0, count: count) }
        var produced = 0
        let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
        try out.withUnsafeMutableBufferPointer { o in
            while produced < count {
                let header = try c.varint()
                if header & 1 == 1 {
                    // Bit-packed: (header >> 1) groups of 8 values, least significant bit first.
                    let groups = header >> 1
                    guard groups <= UInt64(Int32.max) else { throw c.fail("bit-packed run of \(groups) groups is too long") }
                    let values = Int(groups) * 8
                    let bytes = Int(groups) * width
                    let available = min(bytes, c.remaining)
                    // The last run may be cut short after the last needed value.
                    let usable = min(values, count - produced)
                    guard usable * width <= available * 8 else {
                        throw c.fail("bit-packed run needs \(bytes) bytes, \(c.remaining) left")
                    }
                    var acc: UInt64 = 0, bits = 0
                    var p = c.position
                    for i in 0..<usable {
                        while bits < width { acc |= UInt64(c.buffer[p]) << UInt64(bits); p += 1; bits += 8 }
                        o[produced + i] = UInt32(truncatingIfNeeded: acc & mask)
                        acc >>= UInt64(width); bits -= width
                    }
                    produced += usable
                    c.position += available
                } else {
                    let run = header >> 1
                    let byteCount = (width + 7) / 8
                    var v: UInt32 = 0
                    for k in 0..<byteCount { v |= UInt32(try c.byte()) << UInt32(8 * k) }
                    if width < 32, UInt64(v) > mask { throw c.fail("RLE value \(v) does not fit in \(width) bits") }
                    let n = Int(min(run, UInt64(count - produced)))
                    if n > 0, let b = o.baseAddress { (b + produced).update(repeating: v, count: n) }
                    produced += n
                }
            }
        }
    }
}

/// DELTA_BINARY_PACKED for 32- and 64-bit integers (arithmetic wraps, as the spec says).
enum DeltaDecoder {
    /// Decodes all values of one DELTA_BINARY_PACKED stream, leaving `c` after it. At most
    /// `limit` values are accepted (the page's value count), so a corrupt header cannot allocate.
    static func binaryPacked(_ c: inout ByteCursor, limit: Int, int32: Bool) throws -> [Int64] {
        let blockSize = try c.varint()
        let miniblocks = try c.varint()
        let total = try c.varint()
        var last = try c.zigzag()
        guard blockSize > 0, blockSize % 128 == 0, blockSize <= 1 << 20 else { throw c.fail("delta block size \(blockSize) is not a positive multiple of 128") }
        guard miniblocks > 0, blockSize % miniblocks == 0, (blockSize / miniblocks) % 32 == 0 else {
            throw c.fail("delta miniblock count \(miniblocks) does not divide the block size \(blockSize) into multiples of 32")
        }
        guard total <= UInt64(limit) else { throw c.fail("delta stream holds \(total) values, the page only \(limit)") }
        let n = Int(total)
        var out: [Int64] = []
        out.reserveCapacity(n)
        if n == 0 { return out }
        out.append(int32 ? Int64(Int32(truncatingIfNeeded: last)) : last)
        let perMini = Int(blockSize / miniblocks)
        var widths = [Int](repeating: 0, count: Int(miniblocks))
        while out.count < n {
            let minDelta = try c.zigzag()
            for k in 0..<widths.count {
                widths[k] = Int(try c.byte())
                if widths[k] > 64 { throw c.fail("delta miniblock bit width \(widths[k]) exceeds 64") }
            }
            for w in widths where out.count < n {
                let bytes = perMini * w / 8
                let range = try c.take(bytes, "delta miniblock")
                let mask: UInt64 = w == 64 ? ~0 : (1 << UInt64(w)) - 1
                var acc: UInt64 = 0, bits = 0, p = range.lowerBound
                for _ in 0..<perMini where out.count < n {
                    var v: UInt64
                    if w == 0 { v = 0 } else {
                        // Up to 64 bits: gather in two steps when the accumulator would overflow.
                        while bits < w && bits <= 56 { acc |= UInt64(c.buffer[p]) << UInt64(bits); p += 1; bits += 8 }
                        if bits >= w {
                            v = acc & mask
                            acc = w == 64 ? 0 : acc >> UInt64(w); bits -= w
                        } else {
                            let next = UInt64(c.buffer[p]); p += 1
                            v = (acc | next << UInt64(bits)) & mask
                            let used = w - bits
                            acc = next >> UInt64(used); bits = 8 - used
                        }
                    }
                    last = last &+ minDelta &+ Int64(bitPattern: v)
                    if int32 { last = Int64(Int32(truncatingIfNeeded: last)) }
                    out.append(last)
                }
            }
        }
        return out
    }
}

/// Byte-array values: one contiguous blob and value boundaries.
struct BinaryValues {
    var blob: [UInt8] = []
    /// offsets[i]..<offsets[i+1] is value i.
    var offsets: [Int] = [0]
    var count: Int { offsets.count - 1 }

    mutating func removeAll() { blob.removeAll(keepingCapacity: true); offsets.removeAll(keepingCapacity: true); offsets.append(0) }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        blob.append(contentsOf: bytes)
        offsets.append(blob.count)
    }

    func withValue<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try blob.withUnsafeBytes { b in try body(UnsafeRawBufferPointer(rebasing: b[offsets[i]..<offsets[i + 1]])) }
    }

    func string(_ i: Int) -> String { withValue(i) { String(decoding: $0, as: UTF8.self) } }
}

enum ByteArrayDecoder {
    static func plain(_ c: inout ByteCursor, count: Int, into out: inout BinaryValues) throws {
        for _ in 0..<count {
            let n = Int(try c.u32())
            let r = try c.take(n, "byte array value")
            out.append(UnsafeRawBufferPointer(rebasing: c.buffer[r]))
        }
    }

    static func fixed(_ c: inout ByteCursor, count: Int, length: Int, into out: inout BinaryValues) throws {
        guard length > 0 else { throw c.fail("fixed length \(length) must be positive") }
        for _ in 0..<count {
            let r = try c.take(length, "fixed-length value")
            out.append(UnsafeRawBufferPointer(rebasing: c.buffer[r]))
        }
    }

    static func deltaLength(_ c: inout ByteCursor, count: Int, into out: inout BinaryValues) throws {
        let lengths = try DeltaDecoder.binaryPacked(&c, limit: count, int32: true)
        guard lengths.count == count else { throw c.fail("delta lengths hold \(lengths.count) values, expected \(count)") }
        for n in lengths {
            guard n >= 0 else { throw c.fail("negative byte array length \(n)") }
            let r = try c.take(Int(n), "byte array value")
            out.append(UnsafeRawBufferPointer(rebasing: c.buffer[r]))
        }
    }

    static func deltaByteArray(_ c: inout ByteCursor, count: Int, into out: inout BinaryValues) throws {
        let prefixes = try DeltaDecoder.binaryPacked(&c, limit: count, int32: true)
        guard prefixes.count == count else { throw c.fail("delta prefixes hold \(prefixes.count) values, expected \(count)") }
        var suffixes = BinaryValues()
        try deltaLength(&c, count: count, into: &suffixes)
        var previous: [UInt8] = []
        var current: [UInt8] = []
        for i in 0..<count {
            let p = Int(prefixes[i])
            guard p >= 0, p <= previous.count else { throw c.fail("value \(i): prefix length \(p) exceeds the previous value's \(previous.count) bytes") }
            current.removeAll(keepingCapacity: true)
            current.append(contentsOf: previous[0..<p])
            suffixes.withValue(i) { current.append(contentsOf: $0) }
            current.withUnsafeBytes { out.append($0) }
            swap(&previous, &current)
        }
    }
}

/// Fixed-width little-endian values (PLAIN or BYTE_STREAM_SPLIT) turned into numbers.
enum FixedDecoder {
    /// Reads `count` values of `width` bytes (after undoing BYTE_STREAM_SPLIT when `split`) and
    /// calls `convert` with each value's bytes gathered into a UInt64 (little-endian).
    static func values(_ c: inout ByteCursor, count: Int, width: Int, split: Bool, into out: inout [Double],
                       _ convert: (UInt64) -> Double) throws {
        let r = try c.take(count * width, split ? "BYTE_STREAM_SPLIT values" : "PLAIN values")
        let base = r.lowerBound
        let buffer = c.buffer
        out.reserveCapacity(out.count + count)
        if split {
            for i in 0..<count {
                var bits: UInt64 = 0
                for k in 0..<width { bits |= UInt64(buffer[base + k * count + i]) << UInt64(8 * k) }
                out.append(convert(bits))
            }
        } else if width == 8 {
            for i in 0..<count { out.append(convert(UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: base + 8 * i, as: UInt64.self)))) }
        } else if width == 4 {
            for i in 0..<count { out.append(convert(UInt64(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: base + 4 * i, as: UInt32.self))))) }
        } else {
            for i in 0..<count {
                var bits: UInt64 = 0
                for k in 0..<width { bits |= UInt64(buffer[base + i * width + k]) << UInt64(8 * k) }
                out.append(convert(bits))
            }
        }
    }

    /// PLAIN booleans: one bit each, least significant first.
    static func booleans(_ c: inout ByteCursor, count: Int, into out: inout [Double]) throws {
        let r = try c.take((count + 7) / 8, "PLAIN booleans")
        for i in 0..<count { out.append(Double((c.buffer[r.lowerBound + i / 8] >> UInt8(i % 8)) & 1)) }
    }
}
