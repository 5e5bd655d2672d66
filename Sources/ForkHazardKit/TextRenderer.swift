/// Renders a report for a person: a process tree like `pstree -Aacutspn` with one decoded line per
/// thread, then the findings, notes and a one-line verdict.
public struct TextRenderer: Sendable {
    public var color: Bool
    /// Longest argv shown on a process line, in characters.
    public var argvWidth = 160
    /// Innermost frames shown per thread; JSON has them all.
    public var stackFramesShown = 8

    public init(color: Bool) {
        self.color = color
    }

    public func render(_ report: Report) -> String {
        var out: [String] = []
        let threadCount = report.processes.reduce(0) { $0 + $1.threads.count }
        out.append(style("forkhazard", .bold) + ": \(plural(report.processes.count, "process", "processes")), "
                   + "\(plural(threadCount, "thread", "threads")) at \(report.takenAt)")
        out.append("")

        let byPid = Dictionary(report.processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        var children: [Int32: [ProcessSnapshot]] = [:]
        for p in report.processes where byPid[p.ppid] != nil && !report.roots.contains(p.pid) {
            children[p.ppid, default: []].append(p)
        }
        let tidWidth = report.processes.flatMap(\.threads).map { String($0.tid).count }.max() ?? 1
        let nameWidth = min(15, report.processes.flatMap(\.threads).map(\.name.count).max() ?? 1)

        func renderProcess(_ process: ProcessSnapshot, prefix: String, connector: String, continuation: String) {
            out.append(prefix + connector + processLine(process))
            let inner = prefix + continuation
            let kids = children[process.pid] ?? []
            for thread in process.threads {
                let bar = inner + (kids.isEmpty ? "   " : "|  ")
                out.append(bar + threadLine(thread, tidWidth: tidWidth, nameWidth: nameWidth))
                if let stack = thread.stack, !stack.isEmpty {
                    out.append(bar + String(repeating: " ", count: tidWidth + 1) + style(stackLine(stack), .dim))
                }
            }
            for (index, child) in kids.enumerated() {
                let last = index == kids.count - 1
                renderProcess(child, prefix: inner, connector: last ? "`-" : "|-", continuation: last ? "  " : "| ")
            }
        }
        for process in report.processes where byPid[process.ppid] == nil || report.roots.contains(process.pid) {
            renderProcess(process, prefix: "", connector: "", continuation: "")
        }

        out.append("")
        if report.findings.isEmpty {
            out.append(style("Findings:", .bold) + " none.")
        } else {
            out.append(style("Findings:", .bold))
            for finding in report.findings.sorted(by: { $0.severity > $1.severity }) {
                let label = finding.severity == .error ? style("ERROR", .red) : finding.severity == .warning ? style("WARNING", .yellow) : "INFO"
                out.append("  \(label) \(style(finding.rule, .bold)): \(finding.message)")
                for line in finding.evidence {
                    out.append(line.hasPrefix("  ") ? "          \(line.dropFirst(2))" : "      - \(line)")
                }
                if !finding.remedy.isEmpty { out.append("      remedy: \(finding.remedy)") }
            }
        }
        if !report.notes.isEmpty {
            out.append("")
            out.append(style("Notes:", .bold))
            for note in report.notes { out.append("  - \(note)") }
        }
        out.append("")
        out.append(verdictLine(report))
        return out.joined(separator: "\n") + "\n"
    }

    public func verdictLine(_ report: Report) -> String {
        let errors = report.findings.filter { $0.severity == .error }.count
        let warnings = report.findings.filter { $0.severity == .warning }.count
        let unknown = report.processes.flatMap(\.threads).filter { $0.wait == nil && $0.state != "Z" }.count
        let caveat = unknown == 0 ? "" : "; the waits of \(plural(unknown, "thread", "threads")) could not be read"
        switch report.verdict {
        case .healthy:
            return style("Verdict: healthy", .green) + " — no deadlock or fork hazard found (exit 0)" + caveat
        case .hazard:
            return style("Verdict: hazard", .yellow) + " — \(plural(warnings, "warning", "warnings")), no proven deadlock (exit 1)"
        case .deadlock:
            return style("Verdict: deadlock", .red) + " — \(plural(errors, "error", "errors"))" +
                (warnings > 0 ? ", \(plural(warnings, "warning", "warnings"))" : "") + " (exit 2)"
        }
    }

    func processLine(_ process: ProcessSnapshot) -> String {
        var args = process.argv.dropFirst().joined(separator: " ")
        if args.count > argvWidth { args = String(args.prefix(argvWidth)) + "…" }
        var name = process.isKernelThread ? "[\(process.name)]" : process.name
        if process.argv.isEmpty, let exe = process.exe, !process.isKernelThread { name += " (\(exe))" }
        var line = style(name, .bold) + ",\(process.pid)" + (args.isEmpty ? "" : " " + args)
        if let origin = process.forkOrigin, origin.kind == .forkedWithoutExec {
            let others = (origin.threadsAtFork?.count ?? 1) - 1
            line += "  " + style("[forked without exec" + (others > 0 ? " from a parent with \(plural(others, "other thread", "other threads"))" : "") + "]",
                                 others > 0 ? .yellow : .dim)
        }
        if process.state == "Z" { line += "  " + style("<zombie>", .red) }
        return line
    }

    func threadLine(_ thread: ThreadSnapshot, tidWidth: Int, nameWidth: Int) -> String {
        let tid = String(repeating: " ", count: max(0, tidWidth - String(thread.tid).count)) + String(thread.tid)
        let name = thread.name.padding(nameWidth)
        let what = thread.wait?.summary ?? (thread.wchan.map { "in \($0) (system call unreadable)" } ?? "wait unknown (see Notes)")
        let emphasis: Style? = thread.wait?.forever == true ? .cyan : nil
        return "\(tid) \(name) \(thread.state)  " + (emphasis.map { style(what, $0) } ?? what)
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

func plural(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
