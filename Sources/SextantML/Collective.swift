// The processes (ranks) of one training run and the few collective operations data-parallel
// training needs. The trainer's algorithm code sees only this protocol: `SingleProcess` is the
// identity for an ordinary run, `MPICollective` (module SextantMPI) runs it over Open MPI.
import Foundation

public protocol Collective: Sendable {
    /// This process's index, 0..<size. Rank 0 writes the artifact, metrics and summary.
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over all ranks, in place; every rank gets the result. Integer sums do not
    /// depend on the order they are added in, which keeps models independent of the rank count.
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Int64>) throws
    /// Element-wise maximum over all ranks, in place (exact in any order).
    func allreduceMax(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// `root`'s bytes on every rank (any length; the other ranks' input is replaced).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
    /// Every rank's bytes, in rank order, on `root`; the other ranks get an empty array.
    func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]
}

/// An ordinary run: one rank, every collective the identity.
public struct SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Int64>) throws {}
    public func allreduceMax(_ values: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {}
    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]] { [bytes] }
}

extension Collective {
    public var isDistributed: Bool { size > 1 }

    public func allreduceSum(_ values: [Int64]) throws -> [Int64] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        return v
    }

    public func allreduceMax(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allreduceMax($0) }
        return v
    }

    /// Every rank's bytes, in rank order, on every rank.
    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        if size == 1 { return [bytes] }
        var packed = Wire.pack(try gather(bytes, root: 0))
        try broadcast(&packed, root: 0)
        return try Wire.unpack(packed)
    }

    /// The values of every rank concatenated in rank order, on every rank.
    public func allgather(doubles: [Double]) throws -> [Double] {
        if size == 1 { return doubles }
        return try allgather(Wire.bytes(doubles)).flatMap { Wire.doubles($0) }
    }

    /// The values of every rank concatenated in rank order, on `root` (empty elsewhere).
    public func gather(doubles: [Double], root: Int = 0) throws -> [Double] {
        if size == 1 { return doubles }
        return try gather(Wire.bytes(doubles), root: root).flatMap { Wire.doubles($0) }
    }

    /// `root`'s values on every rank.
    public func broadcast(doubles: inout [Double], root: Int = 0) throws {
        if size == 1 { return }
        var b = Wire.bytes(doubles)
        try broadcast(&b, root: root)
        doubles = Wire.doubles(b)
    }

    /// `root`'s Codable value on every rank.
    public func broadcast<T: Codable>(_ value: T?, root: Int = 0) throws -> T {
        var b: [UInt8] = []
        if rank == root {
            guard let value else { throw TrainerError.io("collective: rank \(rank) has nothing to broadcast") }
            if size == 1 { return value }
            b = Array(try JSONEncoder().encode(value))
        }
        try broadcast(&b, root: root)
        do { return try JSONDecoder().decode(T.self, from: Data(b)) } catch {
            throw TrainerError.io("collective: cannot decode the value broadcast by rank \(root): \(error)")
        }
    }

    /// Every rank's count and the sum of the counts of the ranks before this one (its offset).
    public func counts(_ local: Int) throws -> (all: [Int], offset: Int) {
        if size == 1 { return ([local], 0) }
        var v = [Int64](repeating: 0, count: size)
        v[rank] = Int64(local)
        v = try allreduceSum(v)
        let all = v.map { Int($0) }
        return (all, all[..<rank].reduce(0, +))
    }

    /// Runs a step that may fail on some ranks only (reading a shard) and makes every rank agree:
    /// when any rank failed, every rank throws, the failing rank its own error, the others an
    /// error naming it (the first failed rank; a bad-input failure wins over an I/O one, so all
    /// exit with the same code). Without this, the healthy ranks would wait forever in the next
    /// collective operation.
    public func agree<T>(_ step: () async throws -> T) async throws -> T {
        var outcome: Result<T, TrainerError>
        do { outcome = .success(try await step()) } catch let e as TrainerError {
            outcome = .failure(e)
        } catch {
            outcome = .failure(.io("\(error)"))
        }
        if size == 1 { return try outcome.get() }
        var mine: [UInt8] = []
        if case .failure(let e) = outcome {
            mine = Array(((e.kind == .badInput ? "2" : "1") + e.message).utf8)
        }
        let all = try allgather(mine)
        let failures = all.enumerated().filter { !$0.element.isEmpty }
        guard let chosen = failures.first(where: { $0.element.first == UInt8(ascii: "2") }) ?? failures.first else {
            return try outcome.get()
        }
        if case .failure(let e) = outcome, chosen.offset == rank {
            throw TrainerError(e.kind, "rank \(rank) of \(size): \(e.message)")
        }
        let text = String(decoding: chosen.element.dropFirst(), as: UTF8.self)
        let kind: TrainerFailureKind = chosen.element.first == UInt8(ascii: "2") ? .badInput : .io
        throw TrainerError(kind, "rank \(chosen.offset) of \(size): \(text)")
    }
}

/// Byte encodings for collective messages (little-endian, as every supported machine).
public enum Wire {
    public static func bytes(_ v: [Double]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }
    public static func doubles(_ b: [UInt8]) -> [Double] {
        var out = [Double](repeating: 0, count: b.count / 8)
        out.withUnsafeMutableBytes { dst in b.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<dst.count])) } }
        return out
    }

    /// Length-prefixed concatenation of byte strings.
    public static func pack(_ parts: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(8) { $0 + $1.count + 8 })
        for p in parts {
            withUnsafeBytes(of: UInt64(p.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: p)
        }
        return out
    }

    public static func unpack(_ b: [UInt8]) throws -> [[UInt8]] {
        var parts: [[UInt8]] = [], i = 0
        while i < b.count {
            guard i + 8 <= b.count else { throw TrainerError.io("collective: truncated message") }
            var n: UInt64 = 0
            for k in 0..<8 { n |= UInt64(b[i + k]) << (8 * UInt64(k)) }
            i += 8
            guard n <= UInt64(b.count - i) else { throw TrainerError.io("collective: truncated message") }
            parts.append(Array(b[i..<(i + Int(n))]))
            i += Int(n)
        }
        return parts
    }
}
