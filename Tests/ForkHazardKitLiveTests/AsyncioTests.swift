import Foundation
import Testing

@testable import ForkHazardKit

/// asyncio programs diagnosed live: their tasks in the report, the hangs nothing in the program
/// can end (`task-deadlock`), and the healthy ones that only look alike.
@Suite("asyncio") struct AsyncioTests {
    /// Every installed CPython with asyncio tasks to read: pyenv's 3.8–3.13, Debian's, sid's 3.14 and 3.15.
    static let pythons = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"].compactMap(pythonBinary) + [debianPython]
        + ["3.14", "3.15"].compactMap(sidPython)

    /// The tasks each hang names in its headline.
    static let named = ["cycle": ["'publish'", "'ingest'"], "locks": ["'left'", "'right'"], "event": ["'Task-1'"],
                        "queue": ["'consumer'"], "cancelled": ["'Task-1'"]]

    func start(_ python: String, _ scenario: String) throws -> (Victim, Report) {
        let victim = try Victim(python, [try victimPath("python_asyncio_hangs.py"), scenario])
        try victim.waitUntilBlocked(in: "epoll_wait")
        let report = try Diagnosis().run(pids: [victim.pid])
        let partial = report.notes.filter { if case .asyncioIncomplete = $0 { return true } else { return false } }
        #expect(partial.isEmpty, "\(python): \(partial.map(\.words))")
        return (victim, report)
    }

    @Test(arguments: ["cycle", "locks", "event", "queue", "cancelled"], pythons)
    func aLoopNothingCanRunAgainIsATaskDeadlock(scenario: String, python: String) throws {
        let (victim, report) = try start(python, scenario)
        let findings = report.findings(.taskDeadlock)
        #expect(findings.count == 1, "\(report.findings.map { report.words($0).message })")
        #expect(report.verdict == .deadlock)
        let finding = try #require(findings.first)
        let message = report.words(finding).message
        for name in Self.named[scenario] ?? [] { #expect(message.contains(name), "\(message)") }
        #expect(message.contains("python_asyncio_hangs.py:"), "the tasks' lines: \(message)")
        let facts = try #require(finding.facts as? TaskDeadlockFacts)
        #expect(facts.loopThread == ThreadKey(pid: victim.pid, tid: victim.pid))
        if scenario == "cycle" {
            let asyncio = try #require(report.process(victim.pid)?.python?.asyncio)
            let names = facts.cycles.first?.compactMap { asyncio.task($0)?.name }
            #expect(Set(names ?? []) == ["publish", "ingest"], "\(facts.cycles)")
        }
    }

    /// A task awaiting the output of a child that waits for its input, which the parent never
    /// closes: a deadlock across the two processes (through the pipes, and the pidfd or the child
    /// watcher thread that waits for the child's exit), its headline naming the task and its line.
    @Test(arguments: pythons)
    func aTaskAwaitingAChildThatWaitsForIt(python: String) throws {
        let (victim, report) = try start(python, "subprocess")
        let finding = try #require(report.findings(.deadlock).first, "\(report.findings.map { report.words($0).message })")
        #expect(report.verdict == .deadlock)
        #expect(Set(finding.pids) == [victim.pid, victim.helper], "\(finding.pids)")
        let message = report.words(finding).message
        #expect(message.contains("asyncio task 'Task-1' awaits") && message.contains("python_asyncio_hangs.py:"), "\(message)")
    }

    @Test(arguments: ["sleeping", "sigterm", "server", "peer"], pythons)
    func aLoopThatCanStillRunIsHealthy(scenario: String, python: String) throws {
        let (victim, report) = try start(python, scenario)
        #expect(report.findings.isEmpty, "\(report.findings.map { report.words($0).message })")
        #expect(report.verdict == .healthy)
        let asyncio = try #require(report.process(victim.pid)?.python?.asyncio, "its tasks are read")
        #expect(!asyncio.tasks.isEmpty)
    }

    /// The tasks under their loop's thread in the text report, with what each awaits.
    @Test(arguments: pythons)
    func tasksAreShownUnderTheirLoopsThread(python: String) throws {
        let (_, report) = try start(python, "cycle")
        let text = TextRenderer(color: false).render(report)
        #expect(text.contains("asyncio loop 0x"), "\(text)")
        #expect(text.contains("task 'publish' awaits task 'ingest'"), "\(text)")
        #expect(text.contains("task 'ingest' awaits task 'publish'"), "\(text)")
    }
}
