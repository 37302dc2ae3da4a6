import Foundation
import Logging
import SextantKube
import SextantKubeTypes
import Synchronization

/// Settings of leader election on a `coordination.k8s.io/v1` Lease (client-go's defaults).
public struct LeaderElectionConfig: Sendable {
    public var leaseName: String
    public var namespace: String
    /// Unique per process: the Pod name plus a random suffix.
    public var identity: String
    /// How long others wait after the last renewal they saw before taking over.
    public var leaseDuration: Duration = .seconds(15)
    /// The leader gives up if it could not renew for this long (must be < leaseDuration).
    public var renewDeadline: Duration = .seconds(10)
    /// Time between attempts to acquire or renew.
    public var retryPeriod: Duration = .seconds(2)
    /// Hand the lease over at once on shutdown instead of making the next leader wait it out.
    public var releaseOnCancel = true

    public init(leaseName: String, namespace: String, identity: String) {
        self.leaseName = leaseName
        self.namespace = namespace
        self.identity = identity
    }

    /// Checks the timing invariants client-go enforces; the error names the offending value.
    public func validate() throws {
        guard !leaseName.isEmpty else { throw LeaderElectionError.invalid("lease name must not be empty") }
        guard !identity.isEmpty else { throw LeaderElectionError.invalid("identity must not be empty") }
        guard leaseDuration > renewDeadline else {
            throw LeaderElectionError.invalid("leaseDuration (\(leaseDuration)) must be greater than renewDeadline (\(renewDeadline))")
        }
        guard renewDeadline > retryPeriod * 1.2 else {
            throw LeaderElectionError.invalid("renewDeadline (\(renewDeadline)) must be greater than 1.2 × retryPeriod (\(retryPeriod))")
        }
        guard retryPeriod > .zero else { throw LeaderElectionError.invalid("retryPeriod must be positive") }
    }
}

public enum LeaderElectionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The lease could not be renewed within the renew deadline, or another instance took it.
    case lost(identity: String, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .lost(let identity, let reason): return "leader election lost by \(identity): \(reason)"
        case .invalid(let message): return "invalid leader election settings: \(message)"
        }
    }
}

/// Leader election the way client-go does it: the leader renews the Lease every retry period;
/// others take it when its record has not changed for a lease duration, measured on their own
/// clock from when they last saw it change (so clock skew between nodes does not matter).
/// Writes carry the Lease's resourceVersion, so two candidates can never both win.
public final class LeaderElector: Sendable {
    public let config: LeaderElectionConfig
    let client: KubeClient
    let logger: Logger
    let leaderGauge: (@Sendable (Bool) -> Void)?

    private struct Observed {
        var spec: Lease.Spec?
        var at: ContinuousClock.Instant
    }
    private let observed = Mutex<Observed?>(nil)
    private let leading = Atomic<Bool>(false)

    public init(client: KubeClient, config: LeaderElectionConfig, metrics: OperatorMetrics? = nil,
                logger: Logger = Logger(label: "sextant.operator.leader")) throws {
        try config.validate()
        self.client = client
        self.config = config
        var logger = logger
        logger[metadataKey: "identity"] = "\(config.identity)"
        self.logger = logger
        if let gauge = metrics?.leader {
            self.leaderGauge = { @Sendable (leading: Bool) in gauge.set(to: leading ? 1.0 : 0.0) }
        } else {
            self.leaderGauge = nil
        }
    }

    public var isLeader: Bool { leading.load(ordering: .relaxed) }

    /// Waits to become leader, then runs `body` while renewing the lease. If the lease is lost,
    /// `body` is cancelled at once and `LeaderElectionError.lost` is thrown (the process should
    /// exit and start over, as controller-runtime does). When the calling task is cancelled
    /// (shutdown), `body` is cancelled and the lease released (if `releaseOnCancel`).
    public func run(whileLeading body: @escaping @Sendable () async throws -> Void) async throws {
        try await acquire()
        guard !Task.isCancelled else { return }
        setLeading(true)
        logger.info("became leader", metadata: ["lease": "\(config.namespace)/\(config.leaseName)"])
        defer { setLeading(false) }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await body() }
                group.addTask { try await self.renewLoop() }
                // The first to end decides: body finished, or renewal failed.
                _ = try await group.next()
                group.cancelAll()
            }
        } catch let error as LeaderElectionError {
            logger.error("lost leadership", metadata: ["error": "\(error)"])
            throw error
        } catch is CancellationError {
            // shutdown: fall through to release
        }
        setLeading(false)
        // A fresh task: the release must go out even though this task is cancelled.
        if config.releaseOnCancel { await Task { await self.release() }.value }
    }

    private func setLeading(_ value: Bool) {
        leading.store(value, ordering: .relaxed)
        leaderGauge?(value)
    }

    /// Tries every retry period (with jitter) until this instance holds the lease.
    func acquire() async throws {
        while !Task.isCancelled {
            do {
                if try await tryAcquireOrRenew() { return }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cannot acquire lease", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: jittered(config.retryPeriod)) } catch { return }
        }
    }

    private func renewLoop() async throws {
        var lastRenew = ContinuousClock.now
        while true {
            try await Task.sleep(for: config.retryPeriod)
            var renewed = false
            do {
                renewed = try await tryAcquireOrRenew()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.warning("cannot renew lease", metadata: ["error": "\(error)"])
            }
            if renewed {
                lastRenew = .now
            } else if ContinuousClock.now - lastRenew > config.renewDeadline {
                throw LeaderElectionError.lost(identity: config.identity,
                                               reason: "lease not renewed within the renew deadline (\(config.renewDeadline))")
            } else if let holder = observed.withLock({ $0?.spec?.holderIdentity }), holder != config.identity,
                      !holder.isEmpty {
                // Someone else holds it (our lease expired unnoticed): stop at once.
                throw LeaderElectionError.lost(identity: config.identity, reason: "lease is now held by \(holder)")
            }
        }
    }

    /// One attempt: true if this instance holds the lease afterwards.
    func tryAcquireOrRenew() async throws -> Bool {
        let now = Date()
        let nowMicro = KubeTime.formatMicro(now)
        let durationSeconds = Int(config.leaseDuration.seconds.rounded(.up))
        let current: Lease
        do {
            current = try await client.get(Lease.self, name: config.leaseName, namespace: config.namespace)
        } catch where error.isKube(.notFound) {
            let lease = Lease(metadata: ObjectMeta(name: config.leaseName, namespace: config.namespace),
                              spec: Lease.Spec(holderIdentity: config.identity, leaseDurationSeconds: durationSeconds,
                                               acquireTime: nowMicro, renewTime: nowMicro, leaseTransitions: 0))
            do {
                let created = try await client.create(lease)
                observe(created.spec)
                return true
            } catch where error.isKube(.alreadyExists) || error.isKube(.conflict) {
                return false
            }
        }
        let spec = current.spec ?? Lease.Spec()
        let observedAt = observe(spec)
        let holder = spec.holderIdentity ?? ""
        let isMine = holder == config.identity
        if !isMine && !holder.isEmpty {
            let theirDuration = Duration.seconds(spec.leaseDurationSeconds ?? durationSeconds)
            if ContinuousClock.now < observedAt + theirDuration { return false }
        }
        var next = current
        var newSpec = Lease.Spec(holderIdentity: config.identity, leaseDurationSeconds: durationSeconds,
                                 acquireTime: spec.acquireTime, renewTime: nowMicro,
                                 leaseTransitions: spec.leaseTransitions ?? 0)
        if !isMine {
            newSpec.acquireTime = nowMicro
            newSpec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1
        }
        next.spec = newSpec
        do {
            let updated = try await client.update(next)
            observe(updated.spec)
            return true
        } catch where error.isKube(.conflict) {
            return false
        }
    }

    /// Records the lease record; returns when it was first seen in this form.
    @discardableResult
    private func observe(_ spec: Lease.Spec?) -> ContinuousClock.Instant {
        observed.withLock { o in
            if let o, o.spec == spec { return o.at }
            let now = ContinuousClock.now
            o = Observed(spec: spec, at: now)
            return now
        }
    }

    /// Gives the lease up so the next candidate need not wait for it to expire.
    func release() async {
        do {
            var lease = try await client.get(Lease.self, name: config.leaseName, namespace: config.namespace)
            guard lease.spec?.holderIdentity == config.identity else { return }
            let now = KubeTime.formatMicro(Date())
            lease.spec?.holderIdentity = ""
            lease.spec?.leaseDurationSeconds = 1
            lease.spec?.renewTime = now
            lease.spec?.acquireTime = now
            _ = try await client.update(lease)
            logger.info("released lease")
        } catch {
            logger.warning("cannot release lease", metadata: ["error": "\(error)"])
        }
    }

    private func jittered(_ d: Duration) -> Duration { d * Double.random(in: 1.0...1.2) }
}
