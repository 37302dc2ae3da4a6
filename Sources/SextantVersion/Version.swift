/// The version of every Sextant binary: one number for the release (`version`) and the git
/// revision stamped at build time (`revision`, from SextantRevisionPlugin).
public enum SextantVersion {
    /// The release; the chart's `appVersion` and the trainer's artifact version use the same.
    public static let version = "0.1.0"
    /// Short commit hash, `-dirty` when tracked files differed from it, `unknown` without git.
    public static let revision = sextantGitRevision

    /// What `--version` prints: `0.1.0 (revision 1a2b3c4d5e6f)`.
    public static var description: String { "\(version) (revision \(revision))" }
}
