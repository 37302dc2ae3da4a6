import SextantVersion

/// The git revision stamped at build time (SextantRevisionPlugin). Only the executables and the
/// CLI depend on this module, so a new commit relinks them and recompiles nothing below.
extension SextantVersion {
    /// Short commit hash, `-dirty` when tracked files differed from it, `unknown` without git.
    public static let revision = sextantGitRevision

    /// What `--version` prints: `0.1.0 (revision 1a2b3c4d5e6f)`.
    public static var description: String { "\(version) (revision \(revision))" }
}
