import Foundation
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import Testing

/// One candidate: an elector on its own client, and whether its body is running.
final class Candidate: Sendable {
    let elector: LeaderElector
    let leading = Box(false)
    let startedLeadingAt = Box<ContinuousClock.Instant?>(nil)
    let outcome = Box<String?>(nil)
    let task = Box<Task<Void, Never>?>(nil)

    init(_ cluster: TestCluster, identity: String, releaseOnCancel: Bool) throws {
        var config = LeaderElectionConfig(leaseName: "sextant-test", namespace: "default", identity: identity)
        // Short, but with room for a loaded 2-core CI box (a renewal may take a while there).
        config.leaseDuration = .seconds(3)
        config.renewDeadline = .seconds(2)
        config.retryPeriod = .milliseconds(300)
        config.releaseOnCancel = releaseOnCancel
        elector = try LeaderElector(client: cluster.client(), config: config)
    }

    func start() {
        let t = Task { [self] in
            do {
                try await elector.run {
                    self.startedLeadingAt.update { $0 = .now }
                    self.leading.update { $0 = true }
                    defer { self.leading.update { $0 = false } }
                    while true { try await Task.sleep(for: .seconds(1)) }
                }
                outcome.update { $0 = "returned" }
            } catch {
                outcome.update { $0 = "\(error)" }
            }
        }
        task.update { $0 = t }
    }

    func stop() async {
        let t = task.get()
        t?.cancel()
        await t?.value
    }
}

@Suite(.serialized) struct LeaderElectionTests {
    @Test func exactlyOneLeaderAndTakeoverWithinTheLeaseDurationAfterACrash() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        // releaseOnCancel false: cancelling simulates a killed process that never releases.
        let a = try Candidate(cluster, identity: "a", releaseOnCancel: false)
        let b = try Candidate(cluster, identity: "b", releaseOnCancel: false)
        a.start()
        b.start()
        #expect(await eventually { a.leading.get() || b.leading.get() })
        // For a while (several renewals), never two leaders.
        for _ in 0..<40 {
            let count = [a, b].filter { $0.leading.get() }.count
            #expect(count <= 1)
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect([a, b].filter { $0.leading.get() }.count == 1)
        let (leader, follower) = a.leading.get() ? (a, b) : (b, a)
        let crash = ContinuousClock.now
        await leader.stop()
        #expect(await eventually(timeout: .seconds(8)) { follower.leading.get() })
        let takeover = (follower.startedLeadingAt.get() ?? .now) - crash
        print("leader takeover after crash: \(takeover) (lease duration 3 s, retry period 300 ms)")
        // The follower counts the lease duration from when it saw the last renewal, which lags
        // that renewal by up to one retry period, and notices expiry on its next try.
        #expect(takeover <= .milliseconds(3000 + 300 * 3), "took \(takeover)")
        #expect(takeover >= .milliseconds(3000 - 300 * 2), "took over before the lease could have expired: \(takeover)")
        let lease = try await cluster.client().get(Lease.self, name: "sextant-test", namespace: "default")
        #expect(lease.spec?.holderIdentity == follower.elector.config.identity)
        #expect(lease.spec?.leaseTransitions == 1)
        await follower.stop()
    }

    @Test func releasedOnShutdownSoTheNextTakesOverAtOnce() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let a = try Candidate(cluster, identity: "a", releaseOnCancel: true)
        a.start()
        #expect(await eventually { a.leading.get() })
        let b = try Candidate(cluster, identity: "b", releaseOnCancel: true)
        b.start()
        try await Task.sleep(for: .milliseconds(300))
        #expect(!b.leading.get())
        let stop = ContinuousClock.now
        await a.stop()
        #expect(await eventually(timeout: .seconds(3)) { b.leading.get() })
        let takeover = (b.startedLeadingAt.get() ?? .now) - stop
        print("leader takeover after release: \(takeover)")
        #expect(takeover < .milliseconds(1500), "a released lease must not be waited out: \(takeover)")
        await b.stop()
        let lease = try await cluster.client().get(Lease.self, name: "sextant-test", namespace: "default")
        #expect(lease.spec?.holderIdentity == "")
    }

    @Test func losingTheLeaseStopsTheBodyAtOnce() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let a = try Candidate(cluster, identity: "a", releaseOnCancel: true)
        a.start()
        #expect(await eventually { a.leading.get() })
        // An intruder takes the lease over (as if our renewals had stalled past the deadline).
        let client = cluster.client()
        var lease = try await client.get(Lease.self, name: "sextant-test", namespace: "default")
        lease.spec?.holderIdentity = "intruder"
        lease.spec?.renewTime = KubeTime.formatMicro(Date())
        _ = try await client.update(lease)
        #expect(await eventually(timeout: .seconds(3)) { !a.leading.get() })
        #expect(await eventually { a.outcome.get() != nil })
        #expect(a.outcome.get()?.contains("lost") == true, "\(a.outcome.get() ?? "")")
        await a.stop()
    }
}

/// Two real processes (the `bench-operator elect` helper); the leader is killed with SIGKILL.
@Suite(.serialized) struct LeaderProcessTests {
    /// `bench-operator` is built next to the test bundle by `swift test` (it builds every target).
    static var helper: String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidate = exe.deletingLastPathComponent().appendingPathComponent("bench-operator").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    @Test func whenTheLeaderProcessIsKilledTheOtherTakesOver() async throws {
        guard try Tooling.available("bench-operator next to the test bundle (swift build --build-tests)",
                                    Self.helper != nil), let helper = Self.helper else { return }
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let args = ["elect", "--server", cluster.server.baseURL, "--lease-ms", "3000", "--renew-ms", "2000",
                    "--retry-ms", "300"]
        let a = try TestProcess(helper, args + ["--identity", "proc-a"])
        defer { a.stop() }
        _ = try await a.waitForLine(prefix: "LEADING")
        let b = try TestProcess(helper, args + ["--identity", "proc-b"])
        defer { b.stop() }
        // b runs but must not lead while a renews.
        try await Task.sleep(for: .seconds(1))
        #expect(!b.text.contains("LEADING"))
        let killed = ContinuousClock.now
        kill(a.process.processIdentifier, SIGKILL)
        let line = try await b.waitForLine(prefix: "LEADING", timeout: .seconds(10))
        let takeover = ContinuousClock.now - killed
        print("leader process killed; \(line) took over after \(takeover) (lease 3 s, retry 300 ms)")
        #expect(line == "proc-b")
        #expect(takeover <= .milliseconds(3000 + 300 * 3), "took \(takeover)")
        let lease = try await cluster.client().get(Lease.self, name: "sextant-kill-test", namespace: "default")
        #expect(lease.spec?.holderIdentity == "proc-b")
    }
}
