import Foundation
import Synchronization

/// Everything written into a pipe, read with blocking reads on a thread of its own until EOF.
///
/// Not `FileHandle.readabilityHandler` (nor URLSession; `DispatchSourceRuleTests`): both arm
/// libdispatch sources, and on Linux sources armed and torn down from several threads at once
/// corrupt libdispatch's epoll bookkeeping; its event thread then dies with SIGSEGV in
/// `_dispatch_event_loop_drain` (swift-corelibs-libdispatch#949). That ended a CI run of the whole
/// suite. A plain thread per pipe has no shared state to corrupt.
public final class PipeReader: Sendable {
    private struct State {
        var data = Data()
        var ended = false
        var waiting: [CheckedContinuation<Data, Never>] = []
    }
    private let state = Mutex(State())

    /// Starts reading `handle` (the read end of a pipe; kept open until EOF).
    public init(_ handle: FileHandle) {
        // The thread holds the reader (and the handle) until EOF.
        let thread = Thread { [self] in
            let fd = handle.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                self.state.withLock { $0.data.append(contentsOf: buffer[0..<n]) }
            }
            let (data, waiting) = self.state.withLock { s in
                s.ended = true
                defer { s.waiting = [] }
                return (s.data, s.waiting)
            }
            for continuation in waiting { continuation.resume(returning: data) }
            withExtendedLifetime(handle) {}
        }
        thread.name = "sextant-test-pipe"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// What has arrived so far.
    public var data: Data { state.withLock { $0.data } }
    public var text: String { String(decoding: data, as: UTF8.self) }

    /// Everything, once the writers have closed the pipe (suspends, holds no thread meanwhile).
    public func end() async -> Data {
        await withCheckedContinuation { continuation in
            let done: Data? = state.withLock { s in
                if s.ended { return s.data }
                s.waiting.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}
