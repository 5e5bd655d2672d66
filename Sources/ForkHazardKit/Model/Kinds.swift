/// A process's or thread's scheduling state, the letter `stat` gives (`R`, `S`, `D`, `Z`, `T`,
/// `t`, `X`, `I`); written as that letter in text and JSON.
public enum TaskState: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// `R`: on a CPU or runnable.
    case running
    /// `S`: asleep, interruptibly (a wait of any kind).
    case sleeping
    /// `D`: asleep uninterruptibly (I/O, `vfork`): it cannot be stopped before it wakes.
    case uninterruptible
    /// `Z`: exited, not reaped yet.
    case zombie
    /// `T`: stopped by a signal (SIGSTOP, Ctrl-Z).
    case stopped
    /// `t`: stopped by a tracer.
    case tracingStop
    /// `X`: dead, on its way out.
    case dead
    /// `I`: an idle kernel thread.
    case idle
    /// A letter not listed above.
    case other(Character)

    public init(letter: Character) {
        switch letter {
        case "R": self = .running
        case "S": self = .sleeping
        case "D": self = .uninterruptible
        case "Z": self = .zombie
        case "T": self = .stopped
        case "t": self = .tracingStop
        case "X": self = .dead
        case "I": self = .idle
        default: self = .other(letter)
        }
    }

    /// `"S"` in tests and fixtures.
    public init(stringLiteral value: String) {
        self.init(letter: value.first ?? "?")
    }

    public var letter: Character {
        switch self {
        case .running: return "R"
        case .sleeping: return "S"
        case .uninterruptible: return "D"
        case .zombie: return "Z"
        case .stopped: return "T"
        case .tracingStop: return "t"
        case .dead: return "X"
        case .idle: return "I"
        case .other(let letter): return letter
        }
    }

    public var description: String { String(letter) }

    /// Exited: a zombie or dead.
    public var hasExited: Bool { self == .zombie || self == .dead }

    /// Stopped by a signal or a tracer.
    public var isStopped: Bool { self == .stopped || self == .tracingStop }
}

/// A runtime seen in a process's executable or mappings, which changes what its waits mean and
/// what to do about a fork: written as its name in JSON.
public enum Runtime: String, Sendable, Hashable {
    /// CPython (its executable, `libpython`, or a `_PyRuntime` in a program under another name).
    case python
    /// GCC's OpenMP runtime, whose thread pool does not survive a fork.
    case libgomp
    /// The C++ standard library.
    case libstdcxx = "libstdc++"
}
