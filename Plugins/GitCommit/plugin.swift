import Foundation
import PackagePlugin

/// Writes `GitCommit.swift` (`let gitCommit = "<git describe --always --dirty>"`, "unknown" outside a git checkout)
/// before every build of the target that uses it, so `--version` names the source a binary was built from.
@main
struct GitCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "GitCommit.swift")
        let script = #"commit="$(git -C "$1" describe --always --dirty 2>/dev/null || echo unknown)"; "#
            + #"line="let gitCommit = \"$commit\""; "#
            + #"[ "$(cat "$2" 2>/dev/null)" = "$line" ] || echo "$line" > "$2""#
        return [.prebuildCommand(displayName: "git commit for --version", executable: URL(filePath: "/bin/sh"),
                                 arguments: ["-c", script, "git-commit", context.package.directoryURL.path, output.path],
                                 outputFilesDirectory: context.pluginWorkDirectoryURL)]
    }
}
