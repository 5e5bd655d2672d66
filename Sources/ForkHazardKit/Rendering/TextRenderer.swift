/// Renders a report for a person: the verdict and what to do first, then a process tree like
/// `pstree -Aacutspn` with one decoded line per thread (identical siblings and threads collapsed
/// to one entry with a count, unless `full`), then the findings, notes and the verdict again.
public struct TextRenderer: Sendable {
    public var color: Bool
    /// Show every process and thread instead of collapsing identical ones.
    public var full: Bool
    /// Longest argv shown on a process line, in characters.
    public var argvWidth = 160
    /// Innermost frames shown per thread; JSON has them all.
    public var stackFramesShown = 8
    /// For a Python thread, show its native stack too (its Python stack is always shown).
    public var nativeStacks = false
    /// Lines the summary at the top may take, the verdict included.
    public var summaryLines = 5

    public init(color: Bool, full: Bool = false, nativeStacks: Bool = false) {
        self.color = color
        self.full = full
        self.nativeStacks = nativeStacks
    }

    public func render(_ report: Report) -> String {
        let words = FindingWords(report: report)
        let findings = report.findings.sorted { $0.severity > $1.severity }
        let texts = findings.map(words.text(for:))
        var out: [String] = []
        let threadCount = report.processes.reduce(0) { $0 + $1.threads.count }
        out.append(style("forkhazard", .bold) + ": \(plural(report.processes.count, "process", "processes")), "
                   + "\(plural(threadCount, "thread", "threads")) at \(report.takenAt)")
        out += summary(report, findings, texts)
        out.append("")
        out += tree(report)
        out.append("")
        if findings.isEmpty {
            out.append(style("Findings:", .bold) + " none.")
        } else {
            out.append(style("Findings:", .bold))
            for (finding, text) in zip(findings, texts) {
                out.append("  \(label(finding.severity)) \(style(finding.rule.rawValue, .bold)): \(text.message)")
                for item in text.evidence {
                    out.append("      - \(item.text)")
                    for detail in item.details { out.append("          \(detail)") }
                }
                out.append("      remedy: \(text.remedy)")
            }
        }
        if !report.notes.isEmpty {
            out.append("")
            out.append(style("Notes:", .bold))
            for note in report.notes { out.append("  - \(note.words)") }
        }
        out.append("")
        out.append(verdictLine(report))
        return out.map(printable).joined(separator: "\n") + "\n"
    }

    // MARK: summary

    /// The verdict, then per finding its cause and what to do, in at most `summaryLines` lines.
    func summary(_ report: Report, _ findings: [Finding], _ texts: [FindingText]) -> [String] {
        guard !findings.isEmpty else { return [verdictLine(report)] }
        var lines: [String] = []
        var lastFix: String?
        var shown = 0
        for (finding, text) in zip(findings, texts) {
            let fix = text.fix == lastFix ? nil : text.fix
            guard 1 + lines.count + 1 + (fix == nil ? 0 : 1) <= summaryLines else { break }
            lines.append("  \(label(finding.severity)) \(finding.rule.rawValue): \(text.cause)")
            if let fix { lines.append("    fix: \(fix)") }
            lastFix = text.fix
            shown += 1
        }
        let more = findings.count - shown
        return [verdictLine(report) + (more > 0 ? "; \(more) more below" : "")] + lines
    }

    public func verdictLine(_ report: Report) -> String {
        let errors = report.findings.filter { $0.severity == .error }.count
        let warnings = report.findings.filter { $0.severity == .warning }.count
        let unknown = report.processes.flatMap(\.threads).filter { $0.wait == nil && $0.state != .zombie }.count
        let caveat = unknown == 0 ? "" : "; the waits of \(plural(unknown, "thread", "threads")) could not be read"
        switch report.verdict {
        case .healthy:
            return style("Verdict: healthy", .green) + " — no deadlock or fork hazard found (exit 0)" + caveat
        case .hazard:
            return style("Verdict: hazard", .yellow) + " — \(plural(warnings, "warning", "warnings")), no proven deadlock (exit 1)"
        case .deadlock:
            return style("Verdict: deadlock", .red) + " — \(plural(errors, "error", "errors"))"
                + (warnings > 0 ? ", \(plural(warnings, "warning", "warnings"))" : "") + " (exit 2)"
        }
    }

    func label(_ severity: Severity) -> String {
        severity == .error ? style("ERROR", .red) : severity == .warning ? style("WARNING", .yellow) : "INFO"
    }

    // MARK: the tree

    func tree(_ report: Report) -> [String] {
        var out: [String] = []
        let byPid = Dictionary(report.processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        var children: [Int32: [ProcessSnapshot]] = [:]
        for p in report.processes where byPid[p.ppid] != nil && !report.roots.contains(p.pid) {
            children[p.ppid, default: []].append(p)
        }
        let threads = report.processes.flatMap(\.threads)
        let tidWidth = threads.map { String($0.tid).count }.max() ?? 1
        let nameWidth = min(24, threads.map(\.displayName.count).max() ?? 1)

        func render(_ entry: [ProcessSnapshot], prefix: String, connector: String, continuation: String) {
            let process = entry[0]
            out.append(prefix + connector + processLine(process, members: entry))
            let inner = prefix + continuation
            let kids = entry.count == 1 ? children[process.pid] ?? [] : []
            let bar = inner + (kids.isEmpty ? "   " : "|  ")
            for group in threadGroups(process) {
                let thread = group[0]
                out.append(bar + threadLine(thread, count: group.count, tidWidth: tidWidth, nameWidth: nameWidth))
                let indent = bar + String(repeating: " ", count: tidWidth + 1)
                if let frames = thread.python?.stack, !frames.isEmpty {
                    out.append(indent + style(pythonStackLine(frames, torn: thread.python?.mayBeTorn ?? false), .dim))
                    if nativeStacks, let stack = thread.stack, !stack.isEmpty { out.append(indent + style("native " + stackLine(stack), .dim)) }
                } else if let stack = thread.stack, !stack.isEmpty {
                    out.append(indent + style(stackLine(stack), .dim))
                }
                if let asyncio = process.python?.asyncio {
                    for loop in asyncio.loops where loop.tid == thread.tid { out += taskLines(asyncio, loop: loop, indent: indent) }
                }
            }
            if let asyncio = process.python?.asyncio {
                let threads = Set(process.threads.map(\.tid))
                for loop in asyncio.loops where loop.tid.map(threads.contains) != true {
                    out += taskLines(asyncio, loop: loop, indent: bar + "  ")
                }
            }
            let entries = siblingGroups(kids, children: children)
            for (index, child) in entries.enumerated() {
                let last = index == entries.count - 1
                render(child, prefix: inner, connector: last ? "`-" : "|-", continuation: last ? "  " : "| ")
            }
        }
        for process in report.processes where byPid[process.ppid] == nil || report.roots.contains(process.pid) {
            render([process], prefix: "", connector: "", continuation: "")
        }
        return out
    }

    /// Siblings in PID order; childless siblings that look the same are one entry (unless `full`).
    func siblingGroups(_ siblings: [ProcessSnapshot], children: [Int32: [ProcessSnapshot]]) -> [[ProcessSnapshot]] {
        guard !full else { return siblings.map { [$0] } }
        var groups: [[ProcessSnapshot]] = []
        var bySignature: [Likeness: Int] = [:]
        for process in siblings {
            guard (children[process.pid] ?? []).isEmpty else {
                groups.append([process])
                continue
            }
            let signature = Likeness(process, tag: processTag(process))
            if let index = bySignature[signature] {
                groups[index].append(process)
            } else {
                bySignature[signature] = groups.count
                groups.append([process])
            }
        }
        return groups
    }

    /// Threads in TID order; threads that look the same are one entry (unless `full`).
    func threadGroups(_ process: ProcessSnapshot) -> [[ThreadSnapshot]] {
        guard !full else { return process.threads.map { [$0] } }
        var groups: [[ThreadSnapshot]] = []
        var bySignature: [Likeness: Int] = [:]
        for thread in process.threads {
            let signature = Likeness(thread, own: nil)
            if thread.tid != process.pid, let index = bySignature[signature] {
                groups[index].append(thread)
            } else {
                if thread.tid != process.pid { bySignature[signature] = groups.count }
                groups.append([thread])
            }
        }
        return groups
    }

    func processLine(_ process: ProcessSnapshot, members: [ProcessSnapshot]) -> String {
        var args = process.argv.dropFirst().joined(separator: " ")
        if args.count > argvWidth { args = String(args.prefix(argvWidth)) + "…" }
        var name = process.isKernelThread ? "[\(process.name)]" : process.name
        if process.argv.isEmpty, let exe = process.exe, !process.isKernelThread { name += " (\(exe))" }
        var line = members.count > 1
            ? "\(members.count)*[" + style(name, .bold) + (args.isEmpty ? "" : " " + args) + "] (\(compactList(members.map(\.pid), limit: 4)))"
            : style(name, .bold) + ",\(process.pid)" + (args.isEmpty ? "" : " " + args)
        if members.count == 1, let namespacePid = process.namespacePid { line += " [pid \(namespacePid) in its PID namespace]" }
        let tag = processTag(process)
        if !tag.isEmpty {
            let others = (process.forkOrigin?.threadsAtFork?.count ?? 1) - 1
            line += "  " + style(tag, process.state == .zombie ? .red : others > 0 ? .yellow : .dim)
        }
        return line
    }

    /// `[multiprocessing's fork server]`, `[forked without exec from a parent with 2 other
    /// threads]`, `<zombie>`, or nothing.
    func processTag(_ process: ProcessSnapshot) -> String {
        var tags: [String] = []
        if let role = ForkProvenance.multiprocessingRole(of: process) { tags.append("[\(role.words)]") }
        if let origin = process.forkOrigin, origin.kind == .forkedWithoutExec {
            let others = (origin.threadsAtFork?.count ?? 1) - 1
            tags.append("[forked without exec" + (others > 0 ? " from a parent with \(plural(others, "other thread", "other threads"))" : "") + "]")
        }
        if process.state == .zombie { tags.append("<zombie>") }
        return tags.joined(separator: " ")
    }

    func threadLine(_ thread: ThreadSnapshot, count: Int = 1, tidWidth: Int, nameWidth: Int) -> String {
        let tid = String(repeating: " ", count: max(0, tidWidth - String(thread.tid).count)) + String(thread.tid)
        let name = (count > 1 ? "\(count)*[\(thread.displayName)]" : thread.displayName).padding(nameWidth)
        let what = thread.waitLine
        let emphasis: Style? = thread.wait?.forever == true ? .cyan : nil
        return "\(tid) \(name) \(thread.state)  " + (emphasis.map { style(what, $0) } ?? what)
    }

    /// `at Console.render_lines (rich/console.py:1369) <- Console.print (rich/console.py:1731) <- …`.
    func pythonStackLine(_ frames: [PythonFrameInfo], torn: Bool) -> String {
        let shown = frames.prefix(stackFramesShown).map(\.display)
        let more = frames.count > stackFramesShown ? " <- … (+\(frames.count - stackFramesShown))" : ""
        return "at " + shown.joined(separator: " <- ") + more + (torn ? "  (read while running: may be torn)" : "")
    }

    /// A loop's tasks, one line each with what it awaits and where, then its coroutines.
    func taskLines(_ asyncio: AsyncioInfo, loop: LoopInfo, indent: String) -> [String] {
        let tasks = asyncio.tasks.filter { $0.loop == loop.address }
        guard !tasks.isEmpty || loop.ready != nil else { return [] }
        let shownTasks = full ? tasks : Array(tasks.prefix(tasksShown))
        var lines = ["\(indent)asyncio loop \(hexAddress(loop.address))" + (loop.tid == nil ? ", run by no thread now" : "")
                     + ": " + ([tasks.isEmpty ? "no task" : plural(tasks.count, "task", "tasks")] + loop.stateWords).joined(separator: "; ")]
        for task in shownTasks {
            var line = "\(indent)  task \(task.words(in: asyncio))"
            if task.state != .pending { line += " [\(task.state.rawValue)]" }
            if loop.runningTask == task.address { line += " running" }
            lines.append(line)
            if !task.coroutines.isEmpty {
                lines.append(indent + "    " + style(pythonStackLine(task.coroutines.reversed(), torn: false), .dim))
            }
        }
        if shownTasks.count < tasks.count { lines.append("\(indent)  … \(tasks.count - shownTasks.count) more tasks (--full shows them)") }
        return lines
    }

    /// `at __lll_lock_wait <- pthread_mutex_lock <- main <- … (+3)`.
    func stackLine(_ stack: [StackFrame]) -> String {
        let shown = stack.prefix(stackFramesShown).map(\.display)
        let more = stack.count > stackFramesShown ? " <- … (+\(stack.count - stackFramesShown))" : ""
        return "at " + shown.joined(separator: " <- ") + more
    }

    enum Style: String {
        case dim = "2", bold = "1", red = "31", green = "32", yellow = "33", cyan = "36"
    }

    func style(_ text: String, _ style: Style) -> String {
        color ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }
}

/// `line` with its control characters escaped (`\\n`, `\\x1b`), but for the colour sequences
/// (`ESC [ … m`) the renderer writes: a target's names, command lines and paths cannot break a
/// line of the report or send its own escape sequences to the reader's terminal.
func printable(_ line: String) -> String {
    guard line.unicodeScalars.contains(where: isControl) else { return line }
    let scalars = Array(line.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
        let scalar = scalars[i]
        if scalar == "\u{1B}", i + 1 < scalars.count, scalars[i + 1] == "[" {
            var end = i + 2
            while end < scalars.count, scalars[end] == ";" || ("0"..."9").contains(scalars[end]) { end += 1 }
            if end < scalars.count, scalars[end] == "m" {
                out.append(contentsOf: scalars[i...end])
                i = end + 1
                continue
            }
        }
        if isControl(scalar) {
            switch scalar {
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            default:
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: "\\x\(hex.count < 2 ? "0" + hex : hex)".unicodeScalars)
            }
        } else {
            out.append(scalar)
        }
        i += 1
    }
    return String(out)
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
