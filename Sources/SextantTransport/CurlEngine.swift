import CCurl
import Foundation
import Synchronization

/// One libcurl multi handle driven by one thread, shared by the whole process: connections, TLS
/// sessions and HTTP/2 multiplexing are reused across every request and stream.
final class CurlEngine: @unchecked Sendable {
    // Only the loop thread touches `multi` (after init) and `active`.
    private let multi: UnsafeMutableRawPointer
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private let commands = Mutex<[Command]>([])

    enum Command {
        case add(Transfer)
        case cancel(Transfer, any Error)
        case unpause(Transfer)
    }

    static let shared = CurlEngine()

    private init() {
        _ = sx_global_init()
        guard let m = curl_multi_init() else { fatalError("curl_multi_init failed: out of memory") }
        multi = m
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "sextant-curl"
        thread.start()
    }

    func submit(_ command: Command) {
        commands.withLock { $0.append(command) }
        curl_multi_wakeup(multi)
    }

    private func run() {
        while true {
            let pending = commands.withLock { list -> [Command] in
                let taken = list
                list.removeAll(keepingCapacity: true)
                return taken
            }
            for command in pending { apply(command) }

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active[easy] else { continue }
                finish(transfer, code: message.pointee.data.result)
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    private func apply(_ command: Command) {
        switch command {
        case .add(let transfer):
            if let error = transfer.cancelledBeforeStart {
                transfer.complete(with: .failure(error))
                transfer.release()
                return
            }
            active[transfer.easy] = transfer
            curl_multi_add_handle(multi, transfer.easy)
        case .cancel(let transfer, let error):
            // Identity, not just the pointer: libcurl may reuse a finished handle's address.
            guard active[transfer.easy] === transfer else {
                if !transfer.isReleased { transfer.cancelledBeforeStart = error }
                return
            }
            detach(transfer)
            transfer.complete(with: .failure(error))
            transfer.release()
        case .unpause(let transfer):
            guard active[transfer.easy] === transfer else { return }
            _ = sx_unpause(transfer.easy)
        }
    }

    private func detach(_ transfer: Transfer) {
        curl_multi_remove_handle(multi, transfer.easy)
        active[transfer.easy] = nil
    }

    private func finish(_ transfer: Transfer, code: CURLcode) {
        detach(transfer)
        if code == CURLE_OK {
            transfer.complete(with: .success(()))
        } else {
            transfer.complete(with: .failure(transfer.error(for: code)))
        }
        transfer.release()
    }
}

/// The response side of a transfer that the caller reads incrementally.
final class StreamState: Sendable {
    struct Head: Sendable {
        var status: Int
        var headers: HTTPHeaders
    }

    private struct State {
        var chunks: [Data] = []
        var first = 0
        var bufferedBytes = 0
        var pausedByConsumer = false
        var end: Result<Void, any Error>?
        var waiter: CheckedContinuation<Data?, any Error>?
        var head: Result<Head, any Error>?
        var headWaiter: CheckedContinuation<Head, any Error>?
    }

    /// Above this many unread bytes the transfer pauses until the reader catches up.
    let highWater: Int
    private let state = Mutex(State())

    init(highWater: Int) { self.highWater = highWater }

    func resolveHead(_ result: Result<Head, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<Head, any Error>? in
            guard s.head == nil else { return nil }
            s.head = result
            defer { s.headWaiter = nil }
            return s.headWaiter
        }
        waiter?.resume(with: result)
    }

    func head() async throws -> Head {
        try await withCheckedThrowingContinuation { cont in
            let ready = state.withLock { s -> Result<Head, any Error>? in
                if let head = s.head { return head }
                s.headWaiter = cont
                return nil
            }
            if let ready { cont.resume(with: ready) }
        }
    }

    /// Called on the engine thread; returns false when the reader is behind and the transfer must pause
    /// (the chunk is then not kept: libcurl delivers it again after unpausing).
    func deliver(_ chunk: Data) -> Bool {
        let outcome = state.withLock { s -> (Bool, CheckedContinuation<Data?, any Error>?) in
            if let waiter = s.waiter {
                s.waiter = nil
                return (true, waiter)
            }
            if s.bufferedBytes >= highWater {
                s.pausedByConsumer = true
                return (false, nil)
            }
            s.chunks.append(chunk)
            s.bufferedBytes += chunk.count
            return (true, nil)
        }
        outcome.1?.resume(returning: chunk)
        return outcome.0
    }

    func finish(_ result: Result<Void, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<Data?, any Error>? in
            guard s.end == nil else { return nil }
            s.end = result
            defer { s.waiter = nil }
            return s.waiter
        }
        switch result {
        case .success: waiter?.resume(returning: nil)
        case .failure(let error): waiter?.resume(throwing: error)
        }
    }

    /// A chunk that has already arrived, without waiting; nil when none is buffered.
    func poll(wantsUnpause: @Sendable () -> Void) -> Data? {
        let (chunk, unpause) = state.withLock { s -> (Data?, Bool) in
            guard s.first < s.chunks.count else { return (nil, false) }
            let chunk = s.chunks[s.first]
            s.first += 1
            s.bufferedBytes -= chunk.count
            if s.first > 64 && s.first * 2 > s.chunks.count {
                s.chunks.removeFirst(s.first)
                s.first = 0
            }
            let unpause = s.pausedByConsumer && s.bufferedBytes < highWater / 2
            if unpause { s.pausedByConsumer = false }
            return (chunk, unpause)
        }
        if unpause { wantsUnpause() }
        return chunk
    }

    /// The next chunk, nil at the end. `wantsUnpause` is set when the reader drained a paused stream.
    func next(wantsUnpause: @Sendable () -> Void) async throws -> Data? {
        try await withCheckedThrowingContinuation { cont in
            enum Ready { case chunk(Data), end(Result<Void, any Error>), wait }
            let (ready, unpause) = state.withLock { s -> (Ready, Bool) in
                if s.first < s.chunks.count {
                    let chunk = s.chunks[s.first]
                    s.first += 1
                    s.bufferedBytes -= chunk.count
                    if s.first > 64 && s.first * 2 > s.chunks.count {
                        s.chunks.removeFirst(s.first)
                        s.first = 0
                    }
                    var unpause = false
                    if s.pausedByConsumer && s.bufferedBytes < highWater / 2 {
                        s.pausedByConsumer = false
                        unpause = true
                    }
                    return (.chunk(chunk), unpause)
                }
                if let end = s.end { return (.end(end), false) }
                s.waiter = cont
                let unpause = s.pausedByConsumer
                s.pausedByConsumer = false
                return (.wait, unpause)
            }
            if unpause { wantsUnpause() }
            switch ready {
            case .chunk(let data): cont.resume(returning: data)
            case .end(.success): cont.resume(returning: nil)
            case .end(.failure(let error)): cont.resume(throwing: error)
            case .wait: break
            }
        }
    }
}
