import Foundation
import ProcFS
import Symbols
import Testing

@testable import ForkHazardKit

/// A fork-after-threads hang in its own PID and mount namespace (as a container makes it),
/// diagnosed from the host and from inside.
@Suite("PID namespaces") struct NamespaceTests {
    /// `unshare --pid --fork --mount-proc waits fork-mutex`: the victim is PID 1 of its namespace.
    final class Contained {
        let unshare: Int32
        let victim: Int32
        let child: Int32

        /// `at`: a path where the host has another program; inside the namespace a bind mount puts
        /// the victim there, and it runs from that path.
        init(at path: String? = nil) throws {
            let command = path.map { ["/bin/sh", "-c", "mount --bind '\(VictimBuild.waits)' '\($0)' && exec '\($0)' fork-mutex"] }
                ?? [VictimBuild.waits, "fork-mutex"]
            let unshare = try spawnClean("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc"] + command)
            self.unshare = unshare
            var victim: Int32 = 0, child: Int32 = 0
            do {
                try waitUntil {
                    victim = descendants(of: unshare).first ?? 0
                    child = victim > 0 ? descendants(of: victim).first ?? 0 : 0
                    return child > 0 && isBlocked(pid: child, tid: child, in: "futex")
                }
            } catch {
                for pid in [unshare, victim, child] where pid > 0 { kill(pid, SIGKILL) }
                _ = reap(unshare)
                throw error
            }
            self.victim = victim
            self.child = child
        }

        deinit {
            for pid in [unshare, victim, child] where pid > 0 { kill(pid, SIGKILL) }
            _ = reap(unshare)
        }
    }

    @Test func fromTheHostOwnersAreMappedToHostTids() throws {
        let contained = try Contained()
        let report = try Diagnosis().run(pids: [contained.victim])
        let parent = try #require(report.process(contained.victim))
        #expect(parent.namespacePid == 1)
        #expect(report.process(contained.child)?.namespacePid == 3)
        let holder = try #require(parent.threads.first { $0.name == "holder" })
        #expect(holder.namespaceTid == 2)
        let lock = try #require(report.thread(contained.child)?.wait?.lock)
        #expect(lock.owner == holder.tid, "the owner is the host's TID, not TID \(lock.ownerNamespaceTid ?? 0) of the host")
        #expect(lock.ownerNamespaceTid == 2)
        // The parent's wait4 names its child by its namespace PID; the report shows the host's.
        #expect(report.thread(contained.victim)?.wait?.children == [contained.child])
        guard let facts = report.findings(.inheritedLock).first?.facts as? InheritedLockFacts else {
            Issue.record("no inherited-lock")
            return
        }
        #expect(facts.holder == .thread(ThreadKey(pid: contained.victim, tid: holder.tid)))
        let text = TextRenderer(color: false).render(report)
        #expect(text.contains("[pid 1 in its PID namespace]"))
        #expect(text.contains("owned by TID \(holder.tid) (TID 2 in its PID namespace)"))
        try expectValid([report.json()], against: .report)
    }

    @Test func fromInsideTheNamespace() throws {
        let contained = try Contained()
        let inside = try CapturedRun("/usr/bin/nsenter", ["-t", String(contained.victim), "-p", "-m", forkhazardBinary(), "--json", "1"])
        #expect(inside.wait(timeout: 30) == 2)
        let report = try jsonObject(inside.stdout)
        let processes = try #require(report["processes"] as? [[String: Any]])
        #expect(processes.compactMap { $0["pid"] as? Int } == [1, 3])
        let inherited = try #require((report["findings"] as? [[String: Any]])?.first { $0["rule"] as? String == "inherited-lock" })
        let holder = (inherited["facts"] as? [String: Any])?["holder"] as? [String: Any]
        #expect(holder?["tid"] as? Int == 2 && holder?["pid"] as? Int == 1)
    }

    /// As a container has it: its own PID and mount namespaces, and at the victim's path the host
    /// has another program. From the host and from inside, the frames are the victim's own (named
    /// from its file, with its lines), never the other program's, and the owner is the right TID.
    @Test(.enabled(if: getuid() == 0, "mount namespaces and bind mounts need root"))
    func aContainerWithAnotherProgramAtItsPathOnTheHost() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fh-ns-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("service").path
        try writeExecutable([UInt8](try Data(contentsOf: URL(fileURLWithPath: OwnFilesTests.outer))), to: path)
        #expect(Symbolizer().symbols(for: path)?.table.entries(named: "outer_wait").count == 1, "the host's file is the other program")
        let contained = try Contained(at: path)

        let report = try Diagnosis().run(pids: [contained.victim])
        let stack = try #require(report.thread(contained.child)?.stack)
        let own = stack.filter { $0.module == path }
        #expect(own.compactMap(\.symbol).contains("main"), "\(stack.map(\.display))")
        #expect(!own.contains { $0.symbol?.hasPrefix("outer") == true || $0.symbol?.hasPrefix("inner") == true })
        #expect(own.first { $0.symbol == "main" }?.file.map { fileName(of: $0) } == "waits.c")
        let holder = try #require(report.process(contained.victim)?.threads.first { $0.name == "holder" })
        #expect(report.thread(contained.child)?.wait?.lock?.owner == holder.tid)
        let holderInside = try #require(holder.namespaceTid)
        #expect(report.thread(contained.child)?.wait?.lock?.ownerNamespaceTid == holderInside)

        let inside = try CapturedRun("/usr/bin/nsenter", ["-t", String(contained.victim), "-p", "-m", forkhazardBinary(), "--json", "1"])
        #expect(inside.wait(timeout: 30) == 2)
        let json = try jsonObject(inside.stdout)
        let processes = try #require(json["processes"] as? [[String: Any]])
        let child = try #require(processes.first { $0["ppid"] as? Int == 1 }, "the victim's child, in the namespace")
        let thread = try #require((child["threads"] as? [[String: Any]])?.first)
        let symbols = (thread["stack"] as? [[String: Any]] ?? []).compactMap { $0["symbol"] as? String }
        #expect(symbols.contains("main") && !symbols.contains { $0.hasPrefix("outer") }, "\(symbols)")
        #expect(((thread["wait"] as? [String: Any])?["lock"] as? [String: Any])?["owner"] as? Int == Int(holderInside))
    }

    /// Inside a PID namespace the kernel's process events do not arrive: run polls, and says so.
    @Test func runInsideANamespacePollsAndSaysWhy() throws {
        let run = try CapturedRun("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", forkhazardBinary(), "run", "--", "sh", "-c", "echo hi"])
        #expect(run.wait(timeout: 30) == 0)
        #expect(run.stdout == "hi\n")
        #expect(run.stderr.contains("events: polling /proc every 20 ms (in a PID or user namespace other than the host's"))
    }
}
