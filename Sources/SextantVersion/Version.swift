/// The release number of every Sextant binary. The git revision lives in SextantRevision, apart
/// from this module: it changes with every commit, and the libraries that need only the release
/// number (the trainer's artifact version) must not recompile when it does.
public enum SextantVersion {
    /// The release; the chart's `appVersion` and the trainer's artifact version use the same.
    public static let version = "0.1.0"
}
