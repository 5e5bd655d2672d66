import Foundation
import VictimSupport

/// Every document valid against `schema`, the published one and its closed copy (which lists every
/// field forkhazard writes); throws what is wrong with each one that is not, so that the test fails
/// saying so. (It throws rather than records expectations: this target is built with the package,
/// by `swift build` too, where Swift Testing is not available.)
public func expectValid(_ documents: [String], against schema: SchemaValidator.Schema) throws {
    let results = try SchemaValidator.validate(documents, against: schema)
    var problems: [String] = []
    if results.count != documents.count {
        problems.append("\(results.count) results for \(documents.count) documents")
    }
    for (document, result) in zip(documents, results) {
        if !result.open.isEmpty { problems.append("\(result.open) in \(document.prefix(300))") }
        if !result.closed.isEmpty {
            problems.append("fields the schema does not list: \(result.closed) in \(document.prefix(300))")
        }
    }
    if !problems.isEmpty { throw SchemaValidator.Invalid(schema: schema, problems: problems) }
}

/// Python's `jsonschema` (from PyPI) in a virtual environment under the temp dir: made by the first
/// test that needs it and kept for later runs, so that only the first run pays for pip.
public enum SchemaValidator {
    public enum Schema: String, Sendable {
        case report = "report-v1.json"
        case event = "event-v1.json"
    }

    /// What a document's validation found: errors against the published schema, and against its
    /// closed copy (no member it does not list), as `path: message`.
    public struct Result: CustomStringConvertible {
        public var open: [String]
        public var closed: [String]
        public var description: String { "open: \(open), closed: \(closed)" }
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Documents that `expectValid` found invalid, and why.
    public struct Invalid: Error, CustomStringConvertible {
        public var schema: Schema
        public var problems: [String]
        public var description: String { "not valid against \(schema.rawValue): " + problems.joined(separator: "; ") }
    }

    public static let schemaDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/schema").path

    static let requirement = "jsonschema>=4.18,<5"

    /// The virtual environment's python, made once per test run (and reused from an earlier run).
    static let python: Swift.Result<String, SetupError> = Swift.Result { try makeEnvironment() }
        .mapError { $0 as? SetupError ?? SetupError(description: "\($0)") }

    /// Validates each document (a JSON text) against `schema`; the results are in the same order.
    public static func validate(_ documents: [String], against schema: Schema) throws -> [Result] {
        let python = try python.get()
        let dir = FileManager.default.temporaryDirectory.path
        let input = "\(dir)/fh-schema-documents-\(UUID().uuidString)", program = "\(dir)/fh-schema-validate-\(UUID().uuidString).py"
        defer {
            try? FileManager.default.removeItem(atPath: input)
            try? FileManager.default.removeItem(atPath: program)
        }
        try (documents.map { $0.trimmingCharacters(in: .newlines) }.joined(separator: "\n") + "\n").write(toFile: input, atomically: false, encoding: .utf8)
        try validatorProgram.write(toFile: program, atomically: false, encoding: .utf8)
        let run = try runCommand(python, [program, schemaDirectory, schema.rawValue, input])
        guard run.status == 0, let results = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: [String]]] else {
            throw SetupError(description: "the validator failed (status \(run.status)): \(run.stderr)")
        }
        return results.map { Result(open: $0["open"] ?? [], closed: $0["closed"] ?? []) }
    }

    static func makeEnvironment() throws -> String {
        let venv = FileManager.default.temporaryDirectory.appendingPathComponent("forkhazard-jsonschema-venv").path
        if try works(venv) { return venv + "/bin/python" }
        let staging = "\(venv).\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        let made = try runCommand(debianPython, ["-m", "venv", staging])
        guard made.status == 0 else {
            throw SetupError(description: "\(debianPython) -m venv \(staging) failed (Scripts/bootstrap installs python3-venv): \(made.stderr)")
        }
        let pip = try runCommand(staging + "/bin/python", ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q", requirement])
        guard pip.status == 0 else {
            try? FileManager.default.removeItem(atPath: staging)
            throw SetupError(description: "could not install \(requirement) from PyPI into a virtual environment (pip exited \(pip.status)); "
                + "the schema tests need it: \(pip.stderr.suffix(1500))")
        }
        // Another test run may have finished first; a broken leftover is replaced.
        if try !works(venv) {
            try? FileManager.default.removeItem(atPath: venv)
            if rename(staging, venv) != 0 { try? FileManager.default.removeItem(atPath: staging) }
        } else {
            try? FileManager.default.removeItem(atPath: staging)
        }
        guard try works(venv) else { throw SetupError(description: "\(venv): jsonschema does not import after installing it") }
        return venv + "/bin/python"
    }

    static func works(_ venv: String) throws -> Bool {
        guard FileManager.default.isExecutableFile(atPath: venv + "/bin/python") else { return false }
        return try runCommand(venv + "/bin/python", ["-c", "import jsonschema, referencing; jsonschema.Draft202012Validator"]).status == 0
    }

    /// `validate.py SCHEMA_DIR SCHEMA DOCUMENTS`: checks both schemas against the 2020-12 meta-schema,
    /// then validates each line of DOCUMENTS (JSON Lines) against SCHEMA as published and closed.
    static let validatorProgram = #"""
        import json, sys
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        def closed(node):
            """The schema with every object it describes closed to members it does not list."""
            if isinstance(node, dict):
                node = {key: closed(value) for key, value in node.items()}
                if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                    node.setdefault("unevaluatedProperties", False)
            elif isinstance(node, list):
                node = [closed(value) for value in node]
            return node

        def validator(schemas, name, transform):
            registry = Registry().with_resources(
                (file, Resource.from_contents(transform(schema), default_specification=DRAFT202012)) for file, schema in schemas.items())
            return Draft202012Validator(transform(schemas[name]), registry=registry)

        def errors(check, document):
            """Every error as `path: message`, with the errors of each alternative of an anyOf or oneOf."""
            found, pending = [], list(check.iter_errors(document))
            while pending:
                error = pending.pop()
                found.append("/".join(map(str, error.absolute_path)) + ": " + error.message[:300])
                pending.extend(error.context or [])
            return sorted(found)

        def main(directory, name, documents):
            schemas = {}
            for file in ("report-v1.json", "event-v1.json"):
                with open(f"{directory}/{file}") as handle:
                    schemas[file] = json.load(handle)
                Draft202012Validator.check_schema(schemas[file])
            variants = {"open": validator(schemas, name, lambda s: s), "closed": validator(schemas, name, closed)}
            results = []
            with open(documents) as handle:
                for line in handle:
                    document = json.loads(line)
                    results.append({variant: errors(check, document) for variant, check in variants.items()})
            json.dump(results, sys.stdout)

        main(*sys.argv[1:])
        """#
}
