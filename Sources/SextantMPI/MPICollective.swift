// `Collective` over Open MPI (Debian's libopenmpi, through the CMPI shim): the ranks started by
// `mpirun` (or a Kubeflow MPIJob's launcher) train one model together.
import CMPI
import Foundation
import SextantML

public final class MPICollective: Collective {
    public let rank: Int
    public let size: Int

    /// True when this process was started by Open MPI's launcher (mpirun / orted set these).
    public static func launchedByMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Initialises MPI once per process. Call `finalize()` before exiting.
    public init() throws {
        var provided: Int32 = 0
        let rc = sextant_mpi_init(&provided)
        guard rc == sextant_mpi_success() else { throw Self.error("MPI_Init_thread", rc) }
        guard provided >= sextant_mpi_thread_serialized() else {
            throw TrainerError.io("mpi: MPI_Init_thread gave thread level \(provided); the trainer needs MPI_THREAD_SERIALIZED")
        }
        rank = Int(sextant_mpi_rank())
        size = Int(sextant_mpi_size())
    }

    public func finalize() { _ = sextant_mpi_finalize() }

    /// Ends every rank at once (a rank that cannot go on while the others wait in a collective).
    public func abort(code: Int32) -> Never {
        _ = sextant_mpi_abort(code)
        exit(code)
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Int64>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try check("MPI_Allreduce", values.count) { sextant_mpi_allreduce_sum_i64(base, $0) }
    }

    public func allreduceMax(_ values: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try check("MPI_Allreduce", values.count) { sextant_mpi_allreduce_max_f64(base, $0) }
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        // The length first, so the other ranks can size their buffers.
        var length = [Int64](repeating: 0, count: 1)
        if rank == root { length[0] = Int64(bytes.count) }
        try length.withUnsafeMutableBytes { b in
            guard let base = b.baseAddress else { return }
            try check("MPI_Bcast", 8) { sextant_mpi_bcast_bytes(base, $0, Int32(root)) }
        }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length[0])) }
        if bytes.isEmpty { return }
        try bytes.withUnsafeMutableBytes { b in
            guard let base = b.baseAddress else { return }
            try check("MPI_Bcast", b.count) { sextant_mpi_bcast_bytes(base, $0, Int32(root)) }
        }
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]] {
        var sizes = [Int64](repeating: 0, count: size)
        let rc = sizes.withUnsafeMutableBufferPointer { sextant_mpi_gather_i64(Int64(bytes.count), $0.baseAddress, Int32(root)) }
        guard rc == sextant_mpi_success() else { throw Self.error("MPI_Gather", rc) }
        var counts: [Int32] = [], displacements: [Int32] = []
        var total = 0
        if rank == root {
            for s in sizes {
                guard total + Int(s) <= Int(Int32.max) else {
                    throw TrainerError.io("mpi: gathering \(sizes.reduce(0, +)) bytes; one message holds at most 2 GiB")
                }
                counts.append(Int32(s)); displacements.append(Int32(total)); total += Int(s)
            }
        }
        var received = [UInt8](repeating: 0, count: max(total, 1))
        try check("MPI_Gatherv", bytes.count) { count in
            bytes.withUnsafeBytes { send in
                received.withUnsafeMutableBytes { recv in
                    counts.withUnsafeBufferPointer { c in
                        displacements.withUnsafeBufferPointer { d in
                            sextant_mpi_gatherv_bytes(send.baseAddress, count, recv.baseAddress, c.baseAddress, d.baseAddress, Int32(root))
                        }
                    }
                }
            }
        }
        guard rank == root else { return [] }
        return (0..<size).map { r in Array(received[Int(displacements[r])..<(Int(displacements[r]) + Int(counts[r]))]) }
    }

    private func check(_ call: String, _ count: Int, _ body: (Int32) throws -> Int32) throws {
        guard count <= Int(Int32.max) else { throw TrainerError.io("mpi: \(call) of \(count) elements; one message holds at most 2^31 - 1") }
        let rc = try body(Int32(count))
        guard rc == sextant_mpi_success() else { throw Self.error(call, rc) }
    }

    private static func error(_ call: String, _ rc: Int32) -> TrainerError {
        var text = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        _ = sextant_mpi_error_string(rc, &text, &length)
        return TrainerError.io("mpi: \(call) failed: \(String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)) (code \(rc))")
    }
}
