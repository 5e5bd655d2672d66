import Foundation

/// The built `forkhazard` executable: in the build folder of the test runner, `swift test`'s
/// `forkhazardPackageTests.xctest`, which is built with it.
public func forkhazardBinary() -> String {
    let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: runner).deletingLastPathComponent()
    if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("forkhazard").path) {
        dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
    return dir.appendingPathComponent("forkhazard").path
}

/// Runs the forkhazard executable with `arguments` (and the test's environment plus `environment`)
/// and collects its output.
public func runForkhazard(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    try runCommand(forkhazardBinary(), arguments, environment: environment)
}
