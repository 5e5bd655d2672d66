import Foundation
import PackagePlugin

/// Before every build, writes `BuildInfo.swift` into the target: the git commit the package is
/// built from (nil outside a git checkout) and whether its sources differ from that commit. The
/// file lives in the build folder, never in git, and is rewritten only when its text changes, so
/// an unchanged checkout rebuilds nothing.
@main
struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        return [
            .prebuildCommand(
                displayName: "Recording the commit forkhazard is built from",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", Self.script, "build-info", context.package.directoryURL.path, output.path],
                outputFilesDirectory: output)
        ]
    }

    /// `$1`: the package folder; `$2`: the folder of the generated file. Only a checkout whose top
    /// is the package folder counts: a package unpacked inside some other repository has no commit
    /// of its own.
    static let script = #"""
        set -eu
        package=$1 output=$2
        commit=nil modified=false
        top=$(git -C "$package" rev-parse --show-toplevel 2>/dev/null || true)
        if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$package" && pwd -P)" ]; then
            if hash=$(git -C "$package" rev-parse --short HEAD 2>/dev/null); then
                commit="\"$hash\""
                git -C "$package" --no-optional-locks diff --quiet HEAD -- Package.swift Sources Plugins \
                    2>/dev/null || modified=true
            fi
        fi
        mkdir -p "$output"
        new="$output/BuildInfo.swift.new"
        {
            echo '// Written before each build by Plugins/BuildInfo; not kept in git.'
            echo "let buildCommit: String? = $commit"
            echo "let buildCommitModified = $modified"
        } > "$new"
        if cmp -s "$new" "$output/BuildInfo.swift"; then rm "$new"; else mv "$new" "$output/BuildInfo.swift"; fi
        """#
}
