// bench-operator: reconcile throughput and peak RSS of the operator runtime with N watched
// ConfigMaps. Two processes, so the controller's RSS is its own:
//   bench-operator apiserver --objects N        dev API server seeded with N ConfigMaps; prints "URL <url>"
//   bench-operator controller --server URL --objects N [--workers W] [--rounds R]
// hack/bench/operator.sh runs both for 1,000 and 10,000 objects.
import CMimalloc
import Foundation
import Logging
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

func argument(_ name: String, _ defaultValue: String) -> String {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return defaultValue }
    return args[i + 1]
}

func intArgument(_ name: String, _ defaultValue: Int) -> Int {
    let text = argument(name, String(defaultValue))
    guard let value = Int(text), value > 0 else {
        FileHandle.standardError.write(Data("\(name): expected a positive integer, got \(text)\n".utf8))
        exit(2)
    }
    return value
}

/// Peak resident set size of this process (VmHWM), in MiB.
func peakRSS() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? -1
        return kb / 1024
    }
    return -1
}

/// Which malloc the loader bound, and mimalloc's decommit delay when it is that one.
func allocatorDescription() -> String {
    let delay = sextant_mimalloc_decommit_delay()
    return delay < 0 ? "glibc" : "mimalloc, decommit delay \(delay) ms"
}

/// Resident memory now, by mapping (file name, or [heap]/[anon]), largest first: where the RSS is.
func printResidentMappings() {
    guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile() else { return }
    let smaps = String(decoding: data, as: UTF8.self)
    var byName: [String: Double] = [:]
    var current = "[anon]"
    for line in smaps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let first = fields.first, first.contains("-"), fields.count >= 5 {
            current = fields.count >= 6 ? String(fields[5]) : "[anon]"
        } else if fields.first == "Rss:", fields.count >= 2, let kb = Double(fields[1]) {
            byName[current, default: 0] += kb / 1024
        }
    }
    for (name, mib) in byName.sorted(by: { $0.value > $1.value }).prefix(12) {
        print(String(format: "resident %7.1f MiB  %@", mib, name))
    }
}

func runAPIServer() async throws {
    let objects = intArgument("--objects", 1000)
    let server = try await DevServer.start(DevServerConfiguration(bookmarkInterval: .seconds(5)))
    let store = server.store
    guard let type = await store.resourceType(group: "", version: "v1", plural: "configmaps") else {
        throw DevServerError("configmaps are not served")
    }
    for i in 0..<objects {
        // ~0.5 KiB each: a few labels and data keys, like a typical small config object.
        let body: JSONValue = [
            "metadata": ["name": .string("cm-\(i)"), "namespace": "default",
                         "labels": ["app": "bench", "shard": .string("s\(i % 16)")]],
            "data": ["model": .string("model-\(i)"), "stage": "Staging",
                     "config": .string(String(repeating: "x", count: 256))],
        ]
        _ = try await store.create(type, namespace: "default", body: body)
    }
    // Unbuffered: the script waits for this line.
    FileHandle.standardOutput.write(Data("URL \(server.baseURL)\n".utf8))
    try await server.wait()
}

/// Counts reconciles; the reconciler reads the object from the cache like a real one would.
final class Counter: Sendable {
    let count = Atomic<Int>(0)
    let missing = Atomic<Int>(0)
}

import Synchronization

func runController() async throws {
    // As sextant-controller does; MIMALLOC_DECOMMIT_DELAY=25 measures mimalloc's default.
    sextant_mimalloc_return_freed_pages_at_once()
    let url = argument("--server", "")
    guard !url.isEmpty else { throw DevServerError("--server URL is required") }
    let objects = intArgument("--objects", 1000)
    let workers = intArgument("--workers", 4)
    let rounds = intArgument("--rounds", 5)
    let metrics = OperatorMetrics()
    metrics.bootstrapSwiftMetrics()
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    var clientOptions = KubeClient.Options()
    clientOptions.qps = 1000
    clientOptions.burst = 1000
    let client = KubeClient(config: ClusterConfig(server: url, namespace: "default"), options: clientOptions,
                            logger: logger)
    var options = ManagerOptions()
    options.metricsBindAddress = "127.0.0.1:0"
    options.healthProbeBindAddress = "0"
    options.leaseDuration = .seconds(15)
    options.namespace = "default"
    let manager = Manager(client: client, options: options, metrics: metrics, logger: logger)
    let informer = manager.informer(ConfigMap.self)
    let counter = Counter()
    let reconciler = ReconcilerFunction { key in
        if let object = informer.cache.get(key), object.data?["model"] != nil {
            counter.count.add(1, ordering: .relaxed)
        } else {
            counter.missing.add(1, ordering: .relaxed)
        }
        return .done
    }
    let controller = Controller(name: "bench", reconciler: reconciler,
                                options: ControllerOptions(concurrency: workers, resyncPeriod: nil),
                                metrics: metrics, logger: logger)
    controller.watchPrimary(informer)
    manager.add(controller)

    let start = ContinuousClock.now
    let run = Task { try await manager.run() }
    func waitFor(_ target: Int) async throws {
        var polls = 0
        while counter.count.load(ordering: .relaxed) < target {
            polls += 1
            if polls % 2500 == 0 {  // every ~5 s: show where a slow run is
                let stats = informer.reflector.statistics
                FileHandle.standardError.write(Data(("waiting: reconciled \(counter.count.load(ordering: .relaxed))/\(target), " +
                    "cached \(informer.cache.count), queue \(controller.queue.depth), reflector \(stats)\n").utf8))
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
    try await waitFor(0)
    while !informer.hasSynced {
        try await Task.sleep(for: .milliseconds(2))
        if ContinuousClock.now - start > .seconds(5) && Int.random(in: 0..<2500) == 0 {
            FileHandle.standardError.write(Data("waiting for sync: \(informer.reflector.statistics)\n".utf8))
        }
    }
    let synced = ContinuousClock.now - start
    try await waitFor(objects)
    let first = ContinuousClock.now - start

    // Steady state: every key queued again, `rounds` times (what a resync or a burst of changes does).
    let steadyStart = ContinuousClock.now
    for round in 1...rounds {
        for key in informer.cache.keys { controller.queue.add(key) }
        try await waitFor(objects * (round + 1))
    }
    let steady = ContinuousClock.now - steadyStart
    let reconciles = objects * rounds

    let port = await manager.boundPort("metrics") ?? 0
    let probe = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"))
    let text = String(decoding: try await probe.send(method: "GET", path: "/metrics", accept: "text/plain"), as: UTF8.self)
    let kubeLines = text.split(separator: "\n").filter { $0.hasPrefix("sextant_kube_requests_total") }

    func rate(_ n: Int, _ d: Duration) -> String { String(format: "%.0f", Double(n) / max(d.seconds, 1e-9)) }
    print("objects=\(objects) workers=\(workers)")
    print(String(format: "list+sync            %8.3f s", synced.seconds))
    print(String(format: "first reconcile all  %8.3f s  (%@ objects/s, from start incl. list)", first.seconds,
                 rate(objects, first)))
    print(String(format: "steady reconciles    %8d in %.3f s  (%@ reconciles/s)", reconciles, steady.seconds,
                 rate(reconciles, steady)))
    print(String(format: "peak RSS             %8.1f MiB  (allocator %@)", peakRSS(), allocatorDescription()))
    print("cache misses         \(counter.missing.load(ordering: .relaxed))")
    if ProcessInfo.processInfo.environment["BENCH_SMAPS"] != nil { printResidentMappings() }
    for line in kubeLines { print("metrics: \(line)") }
    run.cancel()
    _ = try? await run.value
}

/// A leader-election candidate process for the "kill the leader" test: prints `LEADING <id>`
/// when it becomes leader and runs until killed (or SIGTERM, which releases the lease).
func runElect() async throws {
    let url = argument("--server", "")
    guard !url.isEmpty else { throw DevServerError("--server URL is required") }
    var config = LeaderElectionConfig(leaseName: argument("--lease", "sextant-kill-test"), namespace: "default",
                                      identity: argument("--identity", "candidate-\(getpid())"))
    config.leaseDuration = .milliseconds(intArgument("--lease-ms", 3000))
    config.renewDeadline = .milliseconds(intArgument("--renew-ms", 2000))
    config.retryPeriod = .milliseconds(intArgument("--retry-ms", 300))
    var logger = Logger(label: "elect")
    logger.logLevel = .warning
    let elector = try LeaderElector(client: KubeClient(config: ClusterConfig(server: url, namespace: "default")),
                                    config: config, logger: logger)
    try await elector.run {
        FileHandle.standardOutput.write(Data("LEADING \(elector.config.identity)\n".utf8))
        while true { try await Task.sleep(for: .seconds(1)) }
    }
}

do {
    switch CommandLine.arguments.dropFirst().first {
    case "elect": try await runElect()
    case "apiserver": try await runAPIServer()
    case "controller": try await runController()
    default:
        FileHandle.standardError.write(Data("usage: bench-operator apiserver|controller [options]\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("bench-operator: \(error)\n".utf8))
    exit(1)
}
