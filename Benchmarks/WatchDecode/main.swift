// Decodes a watch stream of ConfigMap events through SextantKube (libcurl transport, typed
// decoding) and prints events/s and peak RSS. Run with hack/bench/watch-decode.sh.
import CMimalloc
import Foundation
import SextantKube
import SextantKubeTypes

/// Off the main actor, like a controller's reflector: no actor hop per event.
@Sendable func decodeStream(server: String, expected: Int) async throws -> Int {
    let kube = KubeClient(config: ClusterConfig(server: server))
    var count = 0
    for try await change in try await kube.watch(ConfigMap.self, namespace: "default") {
        switch change {
        case .added(let cm), .modified(let cm), .deleted(let cm):
            guard cm.metadata.name != nil else { throw KubeConfigError("undecoded object") }
            count += 1
        case .bookmark: break
        }
        if count == expected { break }
    }
    return count
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let expected = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: bench-watch-decode SERVER_URL EVENTS\n".utf8))
    exit(2)
}
/// The result of the detached decoding task, read by the main thread after the semaphore.
final class Outcome: @unchecked Sendable {
    var result: Result<Int, any Error> = .success(0)
}
let outcome = Outcome()
let done = DispatchSemaphore(value: 0)
let start = ContinuousClock.now
// The main thread blocks on a semaphore instead of using top-level `await`: valgrind 3.19 crashes
// on the concurrency runtime's async main, and callgrind is how per-event costs are measured.
Task.detached {
    do { outcome.result = .success(try await decodeStream(server: arguments[1], expected: expected)) } catch {
        outcome.result = .failure(error)
    }
    done.signal()
}
done.wait()
let elapsed = ContinuousClock.now - start
let count = try outcome.result.get()
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
// Linked like sextant-controller (Package.swift's fastAllocator); printed so a run shows which.
// (LD_PRELOAD=libc.so.6 switches back to glibc.)
let allocator = sextant_mimalloc_decommit_delay() < 0 ? "glibc" : "mimalloc"
print(String(format: "sextant events=%d seconds=%.3f events_per_s=%.0f peak_rss_mb=%.1f allocator=%@", count, seconds,
             Double(count) / seconds, Double(usage.ru_maxrss) / 1024, allocator))
