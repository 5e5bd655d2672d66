import Foundation
import ProcFS
import Testing

@testable import PythonRuntime

/// asyncio's tasks read from a live victim (Tests/Victims/python_asyncio.py) under every CPython on
/// the machine: each task's name, state, coroutines and awaited future must equal what Python says
/// about itself in the same process, and on 3.14+ what `python -m asyncio ps` reads.
@Suite(.serialized)
struct LiveAsyncioTests {
    @Test("asyncio tasks, CPython 3.8 (pyenv)", .enabled(if: Interpreter.pyenv(8) != nil, "no CPython 3.8 under pyenv"))
    func python38() throws { try checkAsyncio(Interpreter.pyenv(8)!) }

    @Test("asyncio tasks, CPython 3.9 (pyenv)", .enabled(if: Interpreter.pyenv(9) != nil, "no CPython 3.9 under pyenv"))
    func python39() throws { try checkAsyncio(Interpreter.pyenv(9)!) }

    @Test("asyncio tasks, CPython 3.10 (pyenv)", .enabled(if: Interpreter.pyenv(10) != nil, "no CPython 3.10 under pyenv"))
    func python310() throws { try checkAsyncio(Interpreter.pyenv(10)!) }

    @Test("asyncio tasks, CPython 3.11 (pyenv)", .enabled(if: Interpreter.pyenv(11) != nil, "no CPython 3.11 under pyenv"))
    func python311() throws { try checkAsyncio(Interpreter.pyenv(11)!) }

    @Test("asyncio tasks, CPython 3.12 (pyenv)", .enabled(if: Interpreter.pyenv(12) != nil, "no CPython 3.12 under pyenv"))
    func python312() throws { try checkAsyncio(Interpreter.pyenv(12)!) }

    @Test("asyncio tasks, CPython 3.13 (pyenv)", .enabled(if: Interpreter.pyenv(13) != nil, "no CPython 3.13 under pyenv"))
    func python313() throws { try checkAsyncio(Interpreter.pyenv(13)!) }

    @Test("asyncio tasks, Debian's /usr/bin/python3", .enabled(if: Interpreter.system != nil, "/usr/bin/python3 is missing"))
    func systemPython() throws { try checkAsyncio(Interpreter.system!) }

    @Test("asyncio tasks, CPython 3.14 (Debian sid, in a chroot)", .enabled(if: Interpreter.sid(14) != nil, sidMissing))
    func python314() throws { try checkAsyncio(Interpreter.sid(14)!, chrootPython: "/usr/bin/python3.14") }

    @Test("asyncio tasks, CPython 3.15 (Debian sid, in a chroot)", .enabled(if: Interpreter.sid(15) != nil, sidMissing))
    func python315() throws { try checkAsyncio(Interpreter.sid(15)!, chrootPython: "/usr/bin/python3.15") }
}

/// What the victim says about one of its tasks.
struct ReportedTask {
    var name: String
    var address: UInt64
    var state: String
    var waiterType: String?
    var waiterAddress: UInt64
    var frames: [(function: String, line: Int, file: String)] = []
}

/// The line of `# await:NAME` in the victim.
func awaitLine(_ name: String, in script: String) throws -> Int {
    let lines = try String(contentsOfFile: script, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
    let index = try #require(lines.firstIndex { $0.hasSuffix("# await:\(name)") }, "no marker await:\(name)")
    return index + 1
}

func checkAsyncio(_ python: Interpreter, chrootPython: String? = nil) throws {
    let script = victimScript("python_asyncio.py")
    let victim = try PythonVictim(python.path, script)
    // It says it is ready just before main awaits: read it once its loop waits in its selector.
    try waitForBlocked(pid: victim.pid, tid: victim.pid, in: "epoll_wait")
    var reported: [String: ReportedTask] = [:]
    var order: [String] = []
    var mainAddress: UInt64 = 0
    for line in victim.lines {
        let words = line.split(separator: " ", maxSplits: 3).map(String.init)
        switch words.first {
        case "task":
            let parts = line.split(separator: " ").map(String.init)
            try #require(parts.count == 6, "\(line)")
            reported[parts[1]] = ReportedTask(name: parts[1], address: UInt64(parts[2])!, state: parts[3],
                                              waiterType: parts[4] == "-" ? nil : parts[4], waiterAddress: UInt64(parts[5])!)
            order.append(parts[1])
        case "frame":
            try #require(words.count == 4, "\(line)")
            reported[order.last!]!.frames.append((words[1], Int(words[2])!, words[3]))
        case "main":
            mainAddress = UInt64(words[1])!
        default: break
        }
    }
    var expectedNames: Set<String> = ["publish", "ingest", "transfer-ab", "transfer-ba", "sleepers", "nap-0", "nap-1", "nap-2", "python-task"]
    let maps = try ProcRoot().bytes("\(victim.pid)/maps")
    let runtime = try PythonRuntime.locate(mappings: MemoryMapping.parseAll(maps), memory: ProcessMemory(pid: victim.pid),
                                           pid: victim.pid).get()
    if runtime.version.minor >= 11 { expectedNames.formUnion(["grouped", "group-child"]) }
    // 3.14+'s all_tasks() lists no task written in Python; the reader finds it in _scheduled_tasks.
    let listedByVictim = runtime.version.minor >= 14 ? expectedNames.subtracting(["python-task"]) : expectedNames
    #expect(Set(reported.keys) == listedByVictim, "\(python): the victim reported \(reported.keys.sorted())")
    let pythonTask = try #require(try runtime.asyncioTasks().get().tasks.first { $0.name == "python-task" }, "\(python)")
    #expect(pythonTask.state == .pending && pythonTask.coroutines.map(\.name) == ["nap", "sleep"], "\(python)")
    #expect(pythonTask.awaiting?.typeName == "_asyncio.Future", "\(python)")

    let state = try runtime.asyncioTasks().get()
    #expect(state.notes.isEmpty, "\(python): \(state.notes)")
    let byAddress = Dictionary(state.tasks.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
    #expect(byAddress.count == state.tasks.count, "\(python): a task read twice")
    #expect(state.tasks.count == expectedNames.count + 1, "\(python): read \(state.tasks.map { $0.name ?? "?" }.sorted())")

    // Every task as Python sees it.
    for task in reported.values {
        guard let ours = byAddress[task.address] else {
            Issue.record("\(python): task \(task.name) at 0x\(String(task.address, radix: 16)) not read")
            continue
        }
        #expect(ours.name == task.name, "\(python)")
        #expect(ours.state.rawValue == task.state, "\(python) \(task.name)")
        #expect(ours.awaiting?.typeName == task.waiterType, "\(python) \(task.name)")
        #expect((ours.awaiting?.address ?? 0) == task.waiterAddress, "\(python) \(task.name)")
        #expect(ours.awaiting?.isTask == (task.waiterType == "_asyncio.Task"), "\(python) \(task.name)")
        #expect(ours.loop == byAddress[mainAddress]?.loop, "\(python) \(task.name)")
        #expect(ours.coroutines.map(\.function) == task.frames.map(\.function), "\(python) \(task.name)")
        #expect(ours.coroutines.map(\.line) == task.frames.map { Optional($0.line) }, "\(python) \(task.name)")
        #expect(ours.coroutines.map(\.file) == task.frames.map(\.file), "\(python) \(task.name)")
    }
    // Where each scenario is suspended, from the victim's own source.
    func outermost(_ name: String) -> PythonFrame? {
        state.tasks.first { $0.name == name }?.coroutines.first
    }
    for (task, marker) in [("publish", "publish"), ("ingest", "ingest"), ("transfer-ab", "transfer"), ("transfer-ba", "transfer"),
                           ("sleepers", "sleepers"), ("nap-0", "nap")] + (runtime.version.minor >= 11 ? [("grouped", "grouped")] : []) {
        let line = try awaitLine(marker, in: script)
        #expect(outermost(task)?.line == line, "\(python) \(task)")
        #expect(outermost(task)?.file == script, "\(python) \(task)")
    }
    // The main task: named by the counter, waiting for the Event (a Future).
    let main = try #require(byAddress[mainAddress], "\(python): the main task was not read")
    #expect(main.name == "Task-1", "\(python)")
    let mainLine = try awaitLine("main", in: script)
    #expect(main.coroutines.first?.name == "main" && main.coroutines.first?.line == mainLine, "\(python)")
    #expect(main.coroutines.map(\.name) == ["main", "wait"], "\(python): \(main.coroutines.map(\.function))")
    #expect(main.awaiting?.typeName == "_asyncio.Future" && main.awaiting?.isTask == false, "\(python)")
    // The cycle: each of publish and ingest awaits the other.
    let publish = try #require(state.tasks.first { $0.name == "publish" })
    let ingest = try #require(state.tasks.first { $0.name == "ingest" })
    #expect(publish.awaitedBy.contains(ingest.address) && ingest.awaitedBy.contains(publish.address), "\(python)")
    // One loop for all.
    #expect(Set(state.tasks.map(\.loop)).count == 1 && main.loop != 0, "\(python)")
    if runtime.version.minor >= 14 {
        #expect(Set(state.runningLoops.values) == [main.loop], "\(python): \(state.runningLoops)")
        // Through task_awaited_by: the gathered naps by sleepers, the group's child by grouped.
        let sleepers = try #require(state.tasks.first { $0.name == "sleepers" })
        let grouped = try #require(state.tasks.first { $0.name == "grouped" })
        for nap in state.tasks where nap.name?.hasPrefix("nap-") == true {
            #expect(nap.awaitedBy == [sleepers.address], "\(python) \(nap.name!)")
        }
        #expect(state.tasks.first { $0.name == "group-child" }?.awaitedBy == [grouped.address], "\(python)")
    } else if runtime.version.minor <= 13 {
        #expect(state.runningTasksByLoop.isEmpty, "\(python): nothing runs while the victim waits")
    }
    if let chrootPython {
        try compareWithAsyncioPS(state, pid: victim.pid, python: chrootPython, label: "\(python)")
    }
}

/// `python -m asyncio ps PID`, run in the victim's own root and mount namespace (the sid runner's
/// chroot: the same PID): for every task it lists, the same name and coroutine stack.
func compareWithAsyncioPS(_ state: AsyncioState, pid: Int32, python: String, label: String) throws {
    let result = try runCommand("/usr/bin/nsenter", ["-t", "\(pid)", "-m", "-r", "-w", "--", python, "-m", "asyncio", "ps", "\(pid)"])
    try #require(result.status == 0, "\(label): asyncio ps failed: \(result.output.prefix(2000))")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    let header = try #require(lines.first { $0.hasPrefix("tid") }, "\(label): \(result.output.prefix(1000))")
    let titles = ["task id", "task name", "coroutine stack", "awaiter chain"]
    let starts = try titles.map { title in
        try #require(header.range(of: title).map { header.distance(from: header.startIndex, to: $0.lowerBound) }, "no column \(title)")
    }
    func column(_ line: String, _ index: Int) -> String {
        let characters = Array(line)
        let start = min(starts[index], characters.count)
        guard index == 2 else {
            return String(characters[start..<min(starts[index + 1], characters.count)]).trimmingCharacters(in: .whitespaces)
        }
        // A long stack runs past its column: it is the names joined by " -> " from its start.
        var words = String(characters[start...]).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var stack: [String] = []
        while let word = words.first, !word.isEmpty {
            stack.append(word)
            words.removeFirst()
            guard words.count >= 2, words[0] == "->" else { break }
            words.removeFirst()
        }
        return stack.joined(separator: " -> ")
    }
    let byAddress = Dictionary(state.tasks.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
    var compared = 0
    for line in lines where line.first?.isNumber == true {
        let address = try #require(UInt64(column(line, 0).dropFirst(2), radix: 16), "\(label): \(line)")
        let ours = try #require(byAddress[address], "\(label): asyncio ps lists 0x\(String(address, radix: 16)), not read")
        #expect(ours.name == column(line, 1), "\(label)")
        let stack = ours.coroutines.reversed().map(\.function).joined(separator: " -> ")
        #expect(stack == column(line, 2), "\(label) \(ours.name ?? "?")")
        compared += 1
    }
    // Every task but the one written in Python, which is in no native list.
    #expect(compared == state.tasks.filter { $0.name != "python-task" }.count, "\(label): asyncio ps listed \(compared) tasks, \(state.tasks.count) read")
}
