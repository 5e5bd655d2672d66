import ArgumentParser
import Glibc

/// The command lines read without swift-argument-parser: `--version`, a plain diagnosis
/// (`[--json] [--full] [--native-stacks] [--no-stacks] [--no-lines] [--color WHEN] [--stack-bytes N] [--confirm-delay S] PID...`,
/// in any order) and the demo's victim (`__victim demo --ready-fd N`).
///
/// Before it reads a word, the parser builds the option set of every command by reflection, and
/// the runtime's first protocol-conformance lookups that come with it are most of a short run's
/// start-up. These forms are read here into the values the parser makes (`DiagnoseRequest`,
/// `VictimRequest`), with the same option names (`OptionName`), the same conversions (the types'
/// `ExpressibleByArgument` initializers) and the same validation (`DiagnoseRequest.validate`,
/// `InspectSettings.validate`). Anything else — a subcommand, help, an unknown, repeated or `=`-less
/// flag spelling the parser might read otherwise, a value that does not convert or looks like an
/// option, a request that does not validate — returns nil, and the parser reads the whole command
/// line again: every error message and exit status is the parser's own.
enum FastPath {
    enum Command: Equatable {
        case version
        case diagnose(DiagnoseRequest)
        case victim(VictimRequest)

        /// The value a command the parser made stands for, when the fast path could make it too.
        init?(_ parsed: ParsableCommand) {
            if let diagnose = parsed as? Diagnose {
                self = .diagnose(diagnose.request)
            } else if let victim = parsed as? VictimCommand {
                self = .victim(victim.request)
            } else {
                return nil
            }
        }

        /// Runs the command and returns its exit status; with `printOnly`, prints the value instead
        /// (for the tests that compare the fast path with the parser).
        func run(printOnly: Bool = false) -> Int32 {
            switch self {
            case .version:
                emit(versionLine + "\n")
                return 0
            case .diagnose(let request):
                if printOnly {
                    emit("\(request)\n")
                    return 0
                }
                return request.run()
            case .victim(let request):
                if printOnly {
                    emit("\(request)\n")
                    return 0
                }
                request.run()
            }
        }
    }

    static func parse(_ arguments: ArraySlice<String>) -> Command? {
        if arguments.count == 1 && arguments.first == "--version" { return .version }
        if arguments.first == "__victim" { return victim(arguments.dropFirst()) }
        return diagnose(arguments)
    }

    static func diagnose(_ arguments: ArraySlice<String>) -> Command? {
        var request = DiagnoseRequest(pids: [])
        var seen: Set<String> = []
        var words = OptionWords(arguments)
        while let word = words.next() {
            guard word.hasPrefix("-") else {
                // PIDs: plain decimal digits; anything else is the parser's to judge.
                guard !word.isEmpty, word.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
                request.pids.append(word)
                continue
            }
            guard let name = words.name(of: word), seen.insert(name).inserted else { return nil }
            switch name {
            case OptionName.json where !words.hasValue: request.output.json = true
            case OptionName.full where !words.hasValue: request.output.full = true
            case OptionName.nativeStacks where !words.hasValue: request.output.nativeStacks = true
            case OptionName.noStacks where !words.hasValue: request.inspect.noStacks = true
            case OptionName.noLines where !words.hasValue: request.inspect.noLines = true
            case OptionName.color:
                guard let value = words.value().flatMap(OutputSettings.ColorChoice.init(argument:)) else { return nil }
                request.output.color = value
            case OptionName.stackBytes:
                guard let value = words.value().flatMap(Int.init(argument:)) else { return nil }
                request.inspect.stackBytes = value
            case OptionName.confirmDelay:
                guard let value = words.value().flatMap(Double.init(argument:)) else { return nil }
                request.inspect.confirmDelay = value
            default:
                return nil
            }
        }
        do {
            try request.inspect.validate()
            try DiagnoseRequest.validate(pids: request.pids)
        } catch {
            return nil
        }
        return .diagnose(request)
    }

    static func victim(_ arguments: ArraySlice<String>) -> Command? {
        var scenario: String?
        var readyFd: Int32?
        var words = OptionWords(arguments)
        while let word = words.next() {
            if !word.hasPrefix("-") {
                guard scenario == nil else { return nil }
                scenario = word
                continue
            }
            guard words.name(of: word) == OptionName.readyFd, readyFd == nil,
                  let value = words.value().flatMap(Int32.init(argument:)) else { return nil }
            readyFd = value
        }
        guard let scenario else { return nil }
        let request = VictimRequest(scenario: scenario, readyFd: readyFd ?? VictimRequest.defaultReadyFd)
        return request.isKnown ? .victim(request) : nil
    }
}

/// Walks a command line's words: `--name value` and `--name=value`.
struct OptionWords {
    private var words: ArraySlice<String>
    /// The `=value` of the word last named, if it had one.
    private var attached: Substring?

    init(_ words: ArraySlice<String>) {
        self.words = words
    }

    mutating func next() -> String? {
        words.popFirst()
    }

    /// The long option a word names (`--json`, `--color=never`), or nil for anything else
    /// (a short option, `--` alone).
    mutating func name(of word: String) -> String? {
        guard word.hasPrefix("--"), word.count > 2 else { return nil }
        let body = word.dropFirst(2)
        if let equals = body.firstIndex(of: "=") {
            attached = body[body.index(after: equals)...]
            return String(body[..<equals])
        }
        attached = nil
        return String(body)
    }

    var hasValue: Bool { attached != nil }

    /// The value of the option just named: its `=value`, or the next word unless that looks like
    /// an option (which the parser would not take as a value).
    mutating func value() -> String? {
        if let attached { return String(attached) }
        guard let next = words.first, !next.hasPrefix("-") else { return nil }
        return words.popFirst()
    }
}

#if DEBUG
/// Switches for the tests that hold the fast path to the parser (FastPathTests); not for users, and
/// in debug builds only.
enum TestHooks {
    enum Mode { case normal, parserOnly, fastPathOnly }

    /// `FORKHAZARD_ARGUMENTS=parser`: the parser alone; `=fast`: the fast path alone, exiting with
    /// `declinedStatus` when it leaves a command line to the parser.
    static var mode: Mode {
        guard let value = getenv("FORKHAZARD_ARGUMENTS") else { return .normal }
        switch String(cString: value) {
        case "parser": return .parserOnly
        case "fast": return .fastPathOnly
        default: return .normal
        }
    }

    static let declinedStatus: Int32 = 70

    /// `FORKHAZARD_PRINT_REQUEST=1`: print the parsed request instead of running it.
    static var printRequest: Bool { getenv("FORKHAZARD_PRINT_REQUEST") != nil }
}
#else
/// A release build has no test switches: it reads neither FORKHAZARD_ARGUMENTS nor
/// FORKHAZARD_PRINT_REQUEST, and always runs the fast path, then the parser.
enum TestHooks {
    enum Mode { case normal, parserOnly, fastPathOnly }

    static var mode: Mode { .normal }

    static let declinedStatus: Int32 = 70

    static var printRequest: Bool { false }
}
#endif
