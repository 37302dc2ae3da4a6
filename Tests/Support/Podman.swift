import Foundation

/// Sextant's images in podman's local storage, as hack/images/build.sh tags them (hack/test.sh
/// builds them before the Swift tests), and whether podman can run them here. Used by the local
/// node's podman tests and the whole loop in containers.
public enum PodmanImages {
    public struct Images: Sendable {
        public var trainer: String
        public var server: String
    }

    /// runc and the ulimits these machines allow (hack/images/containers.conf).
    public static let environment = ["CONTAINERS_CONF": Repo.root + "/hack/images/containers.conf"]

    public static var podman: String? { Tooling.find("podman") }

    /// The images' tag: the chart's appVersion, as build.sh tags them.
    public static func images() throws -> Images {
        let chart = try String(contentsOfFile: Repo.root + "/charts/sextant/Chart.yaml", encoding: .utf8)
        let line = chart.split(separator: "\n").first { $0.hasPrefix("appVersion:") } ?? ""
        let tag = line.dropFirst("appVersion:".count).trimmingCharacters(in: CharacterSet(charactersIn: " \""))
        return Images(trainer: "ghcr.io/sextant-dev/sextant-trainer:\(tag)", server: "ghcr.io/sextant-dev/sextant-server:\(tag)")
    }

    /// The images when podman can run them; nil (with a loud message naming `suite`) where podman
    /// cannot run a container. A missing podman or image throws. Containers a node named
    /// `nodeName` left behind (an interrupted earlier run) are removed first.
    public static func ready(suite: String, nodeName: String) throws -> Images? {
        guard try Tooling.available("podman (Debian package podman)", podman != nil), let podman else { return nil }
        let images = try images()
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let leftovers = try runCommand(podman, ["ps", "--all", "--quiet", "--filter",
                                                "label=dev.sextant.local-node=\(nodeName)"], environment: env)
        let ids = leftovers.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        if leftovers.code == 0, !ids.isEmpty { _ = try runCommand(podman, ["rm", "--force", "--time", "0"] + ids, environment: env) }
        func exists(_ image: String) throws -> Bool {
            try runCommand(podman, ["image", "exists", image], environment: env).code == 0
        }
        // Can podman run a container here? Asked with an image that exists: where it cannot, the
        // images' RUN steps could not be built either, so the base image (podman import) is the fallback.
        let base = "localhost/sextant-base:bookworm"
        guard let probeImage = try [images.trainer, base].first(where: exists) else {
            throw TestSetupError("neither \(images.trainer) nor \(base) is in podman's storage: run hack/images/build.sh "
                + "(hack/test.sh does before the Swift tests)")
        }
        let probe = try runCommand(podman, ["run", "--rm", "--network", "none", "--entrypoint", "/bin/true", probeImage],
                                   environment: env)
        if probe.code != 0 {
            let message = "SKIPPED \(suite): podman cannot run containers on this machine (podman run exited "
                + "\(probe.code): \(probe.output.prefix(400))); the local node's podman runtime is untested here"
            FileHandle.standardError.write(Data(("\n*** " + message + " ***\n").utf8))
            print(message)
            return nil
        }
        for image in [images.trainer, images.server] {
            if try exists(image) { continue }
            throw TestSetupError("image \(image) is not in podman's storage: build it with hack/images/build.sh "
                + "(hack/test.sh does before the Swift tests)")
        }
        return images
    }
}
