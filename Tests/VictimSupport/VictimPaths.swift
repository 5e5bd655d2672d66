import Foundation

/// Tests/Victims: every victim program the tests build or run (and Scripts/bench's), from this
/// file's place in the checkout.
public let victimsDirectory: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Victims").path

/// The path of the victim program `name` in Tests/Victims; throws when there is none.
public func victimPath(_ name: String) throws -> String {
    let path = victimsDirectory + "/" + name
    guard FileManager.default.fileExists(atPath: path) else { throw VictimError.notReady("no victim \(path)") }
    return path
}
