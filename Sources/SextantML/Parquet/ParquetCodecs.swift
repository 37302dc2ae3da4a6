// Page decompression through Debian's libraries: libsnappy (snappy-c.h), zlib, libzstd, liblz4.
// Each codec writes into a buffer of exactly the page's declared uncompressed size and must fill
// it: a short or long result is an error, never a partial page.
import CLZ4
import CSnappy
import CZlib
import CZstd

enum PageCodec {
    /// Pages larger than this are refused (Parquet's page sizes are i32; writers use about 1 MiB).
    static let maxPageBytes = 1 << 30

    /// Decompresses `input` into `output` (resized to `size`). Errors are plain messages; the caller
    /// adds the file and page offset.
    static func decompress(_ codec: CompressionCodec, _ input: UnsafeRawBufferPointer, size: Int,
                           into output: inout [UInt8]) throws {
        guard size <= maxPageBytes else { throw CodecError("uncompressed page size \(size) exceeds \(maxPageBytes) bytes") }
        try checkDeclaredSize(codec, input, size)
        if output.count < size { output = [UInt8](repeating: 0, count: size) }
        if size == 0 {
            if codec == .uncompressed, input.count != 0 { throw CodecError("page has \(input.count) bytes, declared 0") }
            return
        }
        let src = input.baseAddress
        let produced: Int = try output.withUnsafeMutableBytes { (out: UnsafeMutableRawBufferPointer) throws -> Int in
            guard let dst = out.baseAddress else { throw CodecError("no output buffer") }
            switch codec {
            case .uncompressed:
                guard input.count == size else { throw CodecError("uncompressed page has \(input.count) bytes, declared \(size)") }
                if let src { dst.copyMemory(from: src, byteCount: size) }
                return size
            case .snappy:
                guard let src else { throw CodecError("empty snappy page") }
                var declared = 0
                guard snappy_uncompressed_length(src.assumingMemoryBound(to: CChar.self), input.count, &declared) == SNAPPY_OK else {
                    throw CodecError("invalid snappy data (no length header)")
                }
                guard declared == size else { throw CodecError("snappy data holds \(declared) bytes, page header says \(size)") }
                var n = size
                let status = snappy_uncompress(src.assumingMemoryBound(to: CChar.self), input.count,
                                               dst.assumingMemoryBound(to: CChar.self), &n)
                guard status == SNAPPY_OK else { throw CodecError("invalid snappy data (status \(status.rawValue))") }
                return n
            case .gzip:
                return try inflateAll(input, dst, size)
            case .zstd:
                guard let src else { throw CodecError("empty zstd page") }
                let n = ZSTD_decompress(dst, size, src, input.count)
                if ZSTD_isError(n) != 0 {
                    throw CodecError("invalid zstd data: \(String(cString: ZSTD_getErrorName(n)))")
                }
                return n
            case .lz4Raw:
                guard let src, input.count <= Int(Int32.max) else { throw CodecError("empty or oversized lz4 page") }
                let n = LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                                            Int32(input.count), Int32(size))
                guard n >= 0 else { throw CodecError("invalid lz4 data") }
                return Int(n)
            case .lz4:
                throw CodecError("compression LZ4 (the deprecated Hadoop framing) is not supported; write LZ4_RAW (pyarrow: compression='lz4')")
            case .lzo, .brotli:
                throw CodecError("compression \(codec) is not supported (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4_RAW)")
            }
        }
        guard produced == size else { throw CodecError("decompressed \(produced) bytes, page header says \(size)") }
    }

    /// Compares the size the compressed stream declares with the page header's before the output
    /// buffer is allocated, so a corrupt header cannot make the reader allocate a gigabyte.
    private static func checkDeclaredSize(_ codec: CompressionCodec, _ input: UnsafeRawBufferPointer, _ size: Int) throws {
        guard let src = input.baseAddress, input.count > 0 else { return }
        switch codec {
        case .snappy:
            var declared = 0
            guard snappy_uncompressed_length(src.assumingMemoryBound(to: CChar.self), input.count, &declared) == SNAPPY_OK else {
                throw CodecError("invalid snappy data (no length header)")
            }
            guard declared == size else { throw CodecError("snappy data holds \(declared) bytes, page header says \(size)") }
        case .zstd:
            let declared = ZSTD_getFrameContentSize(src, input.count)
            if sextant_zstd_size_error(declared) != 0 { throw CodecError("invalid zstd data (bad frame header)") }
            if sextant_zstd_size_unknown(declared) == 0, declared != UInt64(size) {
                throw CodecError("zstd frame holds \(declared) bytes, page header says \(size)")
            }
        case .gzip:
            // ISIZE: the last 4 bytes of a gzip member, the uncompressed size modulo 2^32.
            if input.count >= 18, input[0] == 0x1F, input[1] == 0x8B {
                let isize = UInt32(littleEndian: input.loadUnaligned(fromByteOffset: input.count - 4, as: UInt32.self))
                guard isize == UInt32(truncatingIfNeeded: size) else {
                    throw CodecError("gzip stream holds \(isize) bytes, page header says \(size)")
                }
            }
        case .lz4Raw:
            // An LZ4 block expands at most about 255 times.
            guard size <= input.count * 255 + 16 else { throw CodecError("page header size \(size) is beyond what \(input.count) bytes of lz4 can hold") }
        default: break
        }
    }

    /// Inflates one gzip (or zlib) stream into exactly `size` bytes.
    private static func inflateAll(_ input: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawPointer, _ size: Int) throws -> Int {
        guard let src = input.baseAddress, input.count <= Int(UInt32.max), size <= Int(UInt32.max) else {
            throw CodecError("empty or oversized gzip page")
        }
        var stream = z_stream()
        guard sextant_inflate_init2(&stream, 15 + 32) == Z_OK else { throw CodecError("zlib inflateInit failed") }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        stream.next_out = dst.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(size)
        let status = inflate(&stream, Z_FINISH)
        guard status == Z_STREAM_END else {
            throw CodecError(status == Z_BUF_ERROR ? "gzip data is truncated or larger than the page header says" : "invalid gzip data (zlib status \(status))")
        }
        return size - Int(stream.avail_out)
    }
}

struct CodecError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
