import Foundation
import ForkHazardKit
import VictimSupport

// What the ForkHazardKit tests of every kind share to read a report: a finding in words, JSON
// documents, and (SchemaValidator.swift) the JSON Schemas of docs/schema.

public extension Report {
    /// A finding in the words the renderers print.
    func words(_ finding: Finding) -> FindingText { FindingWords(report: self).text(for: finding) }

    /// Every evidence line of a finding, sub-items included.
    func evidence(_ finding: Finding) -> [String] { words(finding).flatEvidence }

    func findings(_ rule: RuleID) -> [Finding] { findings.filter { $0.rule == rule } }

    /// The findings of `rule` that name process `pid`.
    func findings(_ rule: RuleID, naming pid: Int32) -> [Finding] { findings(rule).filter { $0.pids.contains(pid) } }
}

/// A JSON document as Foundation's dictionaries and arrays.
public func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw VictimError.notReady("not a JSON object: \(text.prefix(200))")
    }
    return object
}

/// The JSON Lines records of `text` that parse.
public func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}
