// Where training data comes from and where artifacts go: file paths and `file://` URIs directly,
// `http(s)://` and `s3://` through the project's libcurl transport.
import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Bytes of one input file: memory-mapped for local files (no copy), owned otherwise.
public final class InputBytes: @unchecked Sendable {
    // Immutable after init; the mapping lives as long as this object.
    private let mapped: UnsafeMutableRawPointer?
    private let mappedCount: Int
    private let owned: Data?

    init(mapped: UnsafeMutableRawPointer, count: Int) {
        self.mapped = mapped; self.mappedCount = count; self.owned = nil
    }

    public init(data: Data) {
        self.mapped = nil; self.mappedCount = 0; self.owned = data
    }

    deinit {
        if let mapped { munmap(mapped, mappedCount) }
    }

    public var count: Int { owned?.count ?? mappedCount }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let owned { return try owned.withUnsafeBytes(body) }
        return try body(UnsafeRawBufferPointer(start: mapped, count: mappedCount))
    }

    /// True when the content starts with the gzip magic bytes.
    public var isGzip: Bool {
        withBytes { b in b.count >= 2 && b[0] == 0x1F && b[1] == 0x8B }
    }
}

/// A parsed data location.
public enum DataLocation: Sendable, Equatable {
    case file(path: String)
    case http(url: String)
    case s3(bucket: String, key: String)

    public init(uri: String) throws {
        if uri.hasPrefix("file://") {
            let path = String(uri.dropFirst("file://".count))
            guard path.hasPrefix("/") else { throw TrainerError.badInput("uri '\(uri)': file:// needs an absolute path") }
            self = .file(path: path.removingPercentEncoding ?? path)
        } else if uri.hasPrefix("http://") || uri.hasPrefix("https://") {
            self = .http(url: uri)
        } else if uri.hasPrefix("s3://") {
            let rest = uri.dropFirst("s3://".count)
            guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else {
                throw TrainerError.badInput("uri '\(uri)': expected s3://bucket/key")
            }
            self = .s3(bucket: String(rest[..<slash]), key: String(rest[rest.index(after: slash)...]))
        } else if uri.contains("://") {
            throw TrainerError.badInput("uri '\(uri)': unsupported scheme (file, http, https, s3)")
        } else if uri.isEmpty {
            throw TrainerError.badInput("uri is empty")
        } else {
            self = .file(path: uri)
        }
    }
}

public enum DataSource {
    /// Reads the whole object at `uri`.
    public static func read(uri: String, s3: S3Settings = S3Settings()) async throws -> InputBytes {
        switch try DataLocation(uri: uri) {
        case .file(let path): return try mapFile(path)
        case .http, .s3: return InputBytes(data: try await RemoteStore.get(uri: uri, s3: s3))
        }
    }

    /// Writes `data` to `uri` (a file path or object URI).
    public static func write(_ data: Data, to uri: String, s3: S3Settings = S3Settings()) async throws {
        switch try DataLocation(uri: uri) {
        case .file(let path):
            try writeFile(data, path: path)
        case .http, .s3:
            try await RemoteStore.put(data, uri: uri, s3: s3)
        }
    }

    /// Joins a directory-like URI and a file name.
    public static func join(_ base: String, _ name: String) -> String {
        base.hasSuffix("/") ? base + name : base + "/" + name
    }

    /// Writes a local file atomically (temporary file in the same directory, then rename), creating
    /// missing directories. Errors carry the path and the system's reason (`strerror`), which
    /// Foundation's `NSCocoaErrorDomain error 512` did not.
    static func writeFile(_ data: Data, path: String) throws {
        func failure(_ what: String, _ code: Int32) -> TrainerError {
            .io("output: cannot write '\(path)': \(what): \(String(cString: strerror(code))) (errno \(code))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectories(directory.isEmpty ? "." : directory, for: path)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create '\(temporary)'", errno) }
        var written = 0
        let writeError: Int32? = data.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return nil }
            while written < buffer.count {
                let n = Glibc.write(fd, base + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        let closeError: Int32? = close(fd) == 0 ? nil : errno
        if let code = writeError ?? closeError {
            unlink(temporary)
            throw failure("writing \(data.count) bytes", code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw failure("cannot rename '\(temporary)'", code)
        }
    }

    private static func makeDirectories(_ directory: String, for path: String) throws {
        var st = stat()
        if stat(directory, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw TrainerError.io("output: cannot write '\(path)': '\(directory)' exists and is not a directory")
            }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory { try makeDirectories(parent, for: path) }
        if mkdir(directory, 0o755) != 0, errno != EEXIST {
            let code = errno
            throw TrainerError.io("output: cannot write '\(path)': cannot create directory '\(directory)': \(String(cString: strerror(code))) (errno \(code))")
        }
    }

    static func mapFile(_ path: String) throws -> InputBytes {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TrainerError.badInput("data: cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TrainerError.io("data: cannot stat '\(path)'") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw TrainerError.badInput("data: '\(path)' is a directory") }
        let size = Int(st.st_size)
        if size == 0 { return InputBytes(data: Data()) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TrainerError.io("data: cannot map '\(path)': \(String(cString: strerror(errno)))")
        }
        madvise(p, size, MADV_SEQUENTIAL)
        return InputBytes(mapped: p, count: size)
    }
}

public enum Gzip {
    /// Inflates a gzip (or zlib) stream, concatenated members included.
    public static func decompress(_ input: UnsafeRawBufferPointer) throws -> Data {
        var stream = z_stream()
        // 15 + 32: maximum window, detect gzip or zlib header automatically.
        guard sextant_inflate_init2(&stream, 15 + 32) == Z_OK else { throw TrainerError.io("gzip: inflateInit failed") }
        defer { inflateEnd(&stream) }
        var output = Data()
        output.reserveCapacity(input.count * 4)
        let chunkSize = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        guard let inBase = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return output }
        stream.next_in = UnsafeMutablePointer(mutating: inBase)
        stream.avail_in = UInt32(min(input.count, Int(UInt32.max)))
        var consumed = 0
        while true {
            let status: Int32 = buffer.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(chunkSize)
                let s = inflate(&stream, Z_NO_FLUSH)
                if let produced = out.baseAddress { output.append(produced, count: chunkSize - Int(stream.avail_out)) }
                return s
            }
            if status == Z_STREAM_END {
                consumed = input.count - Int(stream.avail_in)
                if stream.avail_in > 0, inBase[consumed] == 0x1F {
                    // Another gzip member follows (files made with `cat a.gz b.gz`).
                    inflateReset(&stream)
                    continue
                }
                break
            }
            if status == Z_BUF_ERROR && stream.avail_in == 0 {
                throw TrainerError.badInput("data: gzip stream is truncated")
            }
            guard status == Z_OK else {
                throw TrainerError.badInput("data: invalid gzip data (zlib status \(status))")
            }
        }
        return output
    }
}
