import Foundation
import PackagePlugin

/// Writes `Revision.swift` (`let sextantGitRevision = "<short hash>[-dirty]"`) before every build
/// of SextantVersion, so each binary's `--version` names the commit it was built from, from a
/// clean clone with plain `swift build`. `SEXTANT_GIT_REVISION` wins when set (builds without a
/// `.git`, such as container images); `unknown` when neither gives one. The file is rewritten only
/// when the revision changed, so an unchanged tree does not relink anything.
@main
struct SextantRevisionPlugin: BuildToolPlugin {
    static let script = #"""
        rev="${SEXTANT_GIT_REVISION:-}"
        if [ -z "$rev" ]; then
            rev=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null) || rev=""
            if [ -n "$rev" ] && [ -n "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
                rev="$rev-dirty"
            fi
        fi
        [ -n "$rev" ] || rev=unknown
        content="// Generated at build time by SextantRevisionPlugin; not in git.
        let sextantGitRevision = \"$rev\""
        [ "$(cat "$2" 2>/dev/null)" = "$content" ] || printf '%s\n' "$content" > "$2"
        """#

    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let environment = ProcessInfo.processInfo.environment
        return [.prebuildCommand(
            displayName: "Stamping the git revision",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", Self.script, "sextant-revision", context.package.directoryURL.path,
                        output.appendingPathComponent("Revision.swift").path],
            environment: ["PATH": environment["PATH"] ?? "/usr/bin:/bin",
                          "SEXTANT_GIT_REVISION": environment["SEXTANT_GIT_REVISION"] ?? ""],
            outputFilesDirectory: output)]
    }
}
