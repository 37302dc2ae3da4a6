import ArgumentParser

extension Sextant {
    /// Every subcommand; each lives in its own file.
    static let commands: [any ParsableCommand.Type] = [Get.self, Dev.self, Generate.self,
                                                       Approve.self, Reject.self, Retrain.self, Promote.self, Abort.self, Retry.self, DashboardCommand.self,
                                                       Version.self]
}
