import Foundation
import SextantAPI
import SextantDashboard
import SextantKube
import SextantKubeTypes

/// `sextant get cro NAME --tree [-w]`: reads the rollout, its Deployments and its Events, prints
/// the tree; with `-w` redraws whenever one of them changes (in place on a terminal, as a new
/// block of plain lines otherwise).
struct RolloutTreePrinter {
    let client: KubeClient
    let name: String
    let namespace: String
    let terminal: Bool

    static let canaryRollouts = ClusterSource.canaryRollouts

    /// The current tree, read from the cluster.
    func lines(now: Date = Date()) async throws -> [String] {
        let rollout: CanaryRollout
        do {
            rollout = try await client.get(CanaryRollout.self, name: name, namespace: namespace)
        } catch where error.isKube(.notFound) {
            throw CLIFailure("Error from server (NotFound): \(Self.canaryRollouts) \"\(name)\" not found")
        }
        let state = try await ClusterSource(client: client).surroundings(of: rollout)
        return RolloutTree.render(rollout, deployments: state.deployments, events: state.events, now: now, color: terminal)
    }

    func printOnce() async throws {
        for line in try await lines() { emit(line) }
    }

    /// Redraws on every change of the rollout, its Deployments or Events (coalesced over 100 ms);
    /// on a terminal also every 5 s, so ages stay current.
    func watch() async throws {
        let (changes, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let watchers = [
            (ClusterSource.canaryRollouts, ListOptions(fieldSelector: "metadata.name=\(name)")),
            (ClusterSource.deployments, ListOptions()), (ClusterSource.events, ListOptions()),
        ].map { descriptor, options in
            ChangeSignals.watch(client, descriptor, namespace: namespace, options: options) { signal.yield() }
        }
        defer { watchers.forEach { $0.cancel() } }
        let ticker = terminal ? Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                signal.yield()
            }
        } : nil
        defer { ticker?.cancel() }
        var previous: [String] = []
        var first = true
        var iterator = changes.makeAsyncIterator()
        while true {
            let current = try await lines()
            if terminal {
                // Home, clear to the end, then the tree: redrawn in place.
                FileHandle.standardOutput.write(Data(("\u{1B}[H\u{1B}[J" + current.joined(separator: "\n") + "\n").utf8))
            } else if current != previous {
                if !first { emit("") }
                for line in current { emit(line) }
            }
            previous = current
            first = false
            guard await iterator.next() != nil else { return }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
