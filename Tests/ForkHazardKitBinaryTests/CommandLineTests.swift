import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// The built executable, run as a user would.
@Suite("Command line") struct CommandLineTests {
    @Test(arguments: [[], ["0"], ["-5"], ["abc"], ["12x"], ["--bogus"], ["1", "--color", "blue"], ["demo", "extra"]])
    func badInputIsOneLineOnStderrAndUsageStatus(arguments: [String]) throws {
        let result = try runForkhazard(arguments)
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("forkhazard: "))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func aProcessThatIsGoneCannotBeInspected() throws {
        // A PID that existed a moment ago and was reaped.
        let gone = try spawnClean("/bin/true", [])
        reap(gone)
        let result = try runForkhazard([String(gone)])
        #expect(result.status == 3)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "forkhazard: no process with PID \(gone)\n")
    }

    @Test func oneGonePidAmongLiveOnesFailsWholly() throws {
        let victim = try Victim(scenario: "sleep")
        let result = try runForkhazard([String(victim.pid), "2147483647"])
        #expect(result.status == 3)
        #expect(result.stdout.isEmpty)
    }

    @Test func healthyTreeExitsZeroWithATextReport() throws {
        let victim = try Victim(scenario: "pipe-read")
        try victim.waitUntilBlocked(in: "read")
        let result = try runForkhazard([String(victim.pid)])
        #expect(result.status == 0)
        #expect(result.stdout.contains("waits,\(victim.pid) pipe-read"))
        #expect(result.stdout.contains("`-waits,\(victim.helper) pipe-read"))
        #expect(result.stdout.contains("<- writers: \(victim.helper) fd"))
        #expect(result.stdout.contains("Verdict: healthy"))
        #expect(!result.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
        let colored = try runForkhazard(["--color", "always", String(victim.pid)])
        #expect(colored.stdout.contains("\u{1B}["))
    }

    @Test func jsonHoldsTheMinimalContract() throws {
        let victim = try Victim(scenario: "wait4")
        try victim.waitUntilBlocked(in: "wait4")
        let result = try runForkhazard(["--json", String(victim.pid)])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == 1)
        #expect(object["verdict"] as? String == "healthy")
        #expect(object["findings"] is [Any])
        let processes = try #require(object["processes"] as? [[String: Any]])
        #expect(processes.map { $0["pid"] as? Int } == [Int(victim.pid), Int(victim.helper)])
        for process in processes {
            #expect(process["ppid"] is Int)
            #expect(process["name"] is String)
            #expect(process["argv"] is [String])
            let threads = try #require(process["threads"] as? [[String: Any]])
            for thread in threads {
                #expect(thread["tid"] is Int)
                #expect(thread["name"] is String)
                #expect(thread["state"] is String)
                #expect(thread.keys.contains("wait") && thread.keys.contains("stack"))
                let frames = try #require(thread["stack"] as? [[String: Any]])
                #expect(!frames.isEmpty)
                for frame in frames {
                    #expect((frame["address"] as? String)?.hasPrefix("0x") == true)
                    #expect(frame["symbol"] is String || frame["symbol"] is NSNull)
                    #expect(Set(frame.keys) == ["address", "symbol", "module", "moduleOffset", "file", "line"])
                }
                #expect(thread["pauseMicros"] is Double)
            }
        }
        // Without stacks, `stack` is there and null.
        let bare = try runForkhazard(["--json", "--no-stacks", String(victim.pid)])
        let bareObject = try #require(try JSONSerialization.jsonObject(with: Data(bare.stdout.utf8)) as? [String: Any])
        let bareThread = try #require(((bareObject["processes"] as? [[String: Any]])?.first?["threads"] as? [[String: Any]])?.first)
        #expect(bareThread["stack"] is NSNull)
        #expect(bareThread["pauseMicros"] == nil)
        let wait = try #require((processes[0]["threads"] as? [[String: Any]])?.first?["wait"] as? [String: Any])
        #expect(wait["syscall"] as? String == "wait4")
        #expect(wait["children"] as? [Int] == [Int(victim.helper)])
        #expect((wait["summary"] as? String)?.hasPrefix("wait4 for child \(victim.helper)") == true)
    }

    @Test func aThreadIdShowsItsWholeProcess() throws {
        let victim = try Victim(scenario: "threads")
        let workerTid = victim.helper
        let result = try runForkhazard(["--json", String(workerTid)])
        #expect(result.status == 0)
        let report = try jsonObject(result.stdout)
        #expect(report["roots"] as? [Int] == [Int(victim.pid)])
        let process = try #require((report["processes"] as? [[String: Any]])?.first { $0["pid"] as? Int == Int(victim.pid) })
        #expect(process["threadCount"] as? Int == 4)
        #expect((process["threads"] as? [[String: Any]])?.compactMap { $0["name"] as? String }.sorted() == ["waits", "worker-1", "worker-2", "worker-3"])
        #expect((report["notes"] as? [String])?.contains("\(workerTid) is a thread of process \(victim.pid); showing process \(victim.pid)") == true)
    }

    /// Diagnosing a tree that contains forkhazard itself (a shell running it): its own threads
    /// are named as such, not decoded from its own reads of /proc.
    @Test func aTreeHoldingForkhazardItself() throws {
        // No stacks: the other tests' victims are children of this process too, and must not be stopped.
        let report = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [getpid()])
        let me = try #require(report.thread(getpid()))
        #expect(me.wait?.summary == "forkhazard itself, taking this snapshot")
        #expect(me.wait?.kind == .running)
    }

    /// `--version` names the commit the binary was built from, as git tells it for this checkout;
    /// outside a git checkout it says so instead.
    @Test func versionNamesTheCommitBuiltFrom() throws {
        let result = try runForkhazard(["--version"])
        #expect(result.status == 0)
        let line = result.stdout.trimmingCharacters(in: .newlines)
        #expect(line.wholeMatch(of: /forkhazard \d+\.\d+\.\d+ \((commit [0-9a-f]{7,}( with local changes)?|unknown commit)\)/) != nil, "\(line)")
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().resolvingSymlinksInPath().path
        let top = try output(of: "git", "-C", package, "rev-parse", "--show-toplevel")
        if let top, URL(fileURLWithPath: top).resolvingSymlinksInPath().path == package,
           let head = try output(of: "git", "-C", package, "rev-parse", "--short", "HEAD") {
            #expect(line.contains("(commit \(head)"))
        } else {
            #expect(line.hasSuffix("(unknown commit)"))
        }
    }

    /// The first line a command prints on stdout, or nil when it fails.
    func output(of arguments: String...) throws -> String? {
        let result = try runCommand("/usr/bin/env", arguments)
        guard result.status == 0 else { return nil }
        return result.stdout.split(separator: "\n").first.map(String.init)
    }

    @Test func demoDiagnosesARealForkDeadlockAndCleansUp() throws {
        let result = try runForkhazard(["demo", "--json"])
        let report = try jsonObject(result.stdout)
        // The demo is a real fork-after-threads deadlock: the lock's owner is the parent's thread.
        #expect(report["verdict"] as? String == "deadlock")
        #expect(result.status == 2)
        let processes = try #require(report["processes"] as? [[String: Any]])
        #expect(processes.count == 2)
        let parent = try #require(processes.first), child = try #require(processes.last)
        let parentPid = try #require(parent["pid"] as? Int), childPid = try #require(child["pid"] as? Int)
        #expect(child["ppid"] as? Int == parentPid)
        let parentThreads = try #require(parent["threads"] as? [[String: Any]])
        let flush = try #require(parentThreads.first { $0["name"] as? String == "registry-flush" })
        let childWait = try #require((child["threads"] as? [[String: Any]])?.first?["wait"] as? [String: Any])
        #expect(childWait["kind"] as? String == "futex" && childWait["forever"] as? Bool == true)
        #expect((childWait["futex"] as? [String: Any])?["private"] as? Bool == true)
        #expect((childWait["lock"] as? [String: Any])?["owner"] as? Int == flush["tid"] as? Int)
        #expect((parentThreads.first?["wait"] as? [String: Any])?["children"] as? [Int] == [childPid])
        let findings = try #require(report["findings"] as? [[String: Any]])
        let inherited = try #require(findings.first { $0["rule"] as? String == "inherited-lock" })
        #expect((inherited["facts"] as? [String: Any])?["holder"] as? [String: Any] != nil)
        #expect((inherited["tids"] as? [Int])?.contains(flush["tid"] as? Int ?? -1) == true)
        // The demo killed its victims.
        for pid in [parentPid, childPid] {
            #expect(kill(Int32(pid), 0) != 0, "victim \(pid) outlived the demo")
        }
        #expect(result.stderr.contains("forkhazard demo: started victim \(parentPid)"))
    }

    /// A target's names and command line are its own to choose: a newline or an escape sequence in
    /// them is shown escaped, and each process and thread keeps one line.
    @Test func controlCharactersFromTheTargetAreEscaped() throws {
        let pid = try spawnClean("/usr/bin/python3", ["-c", """
            import ctypes, time
            ctypes.CDLL(None).prctl(15, b"ev\\x1b]0;x\\x07il", 0, 0, 0)
            time.sleep(60)
            """, "line one\nline two", "\u{1B}[2J"])
        defer { kill(pid, SIGKILL); _ = reap(pid) }
        try waitUntil(timeout: 10) { ((try? ProcRoot().text("\(pid)/comm")) ?? "").hasPrefix("ev") }
        let result = try runForkhazard(["--no-stacks", String(pid)])
        #expect(!result.stdout.contains("\u{1B}"), "no escape character of the target's reaches the terminal")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains(",\(pid) ") })
        #expect(line.hasPrefix("ev\\x1b]0;x\\x07il,\(pid) "))
        #expect(line.contains("line one\\nline two \\x1b[2J"))
    }
}

@Suite("Permissions") struct PermissionTests {
    /// Runs forkhazard as user nobody against a root-owned victim: the wait state is unreadable.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/usr/bin/setpriv")))
    func unreadableWaitsAreNullWithANoteAndTheRunGoesOn() throws {
        let victim = try Victim(scenario: "sleep")
        try victim.waitUntilBlocked(in: "clock_nanosleep")
        let result = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                         forkhazardBinary(), "--json", String(victim.pid)])
        #expect(result.status == 0)
        let report = try jsonObject(result.stdout)
        let thread = try #require(((report["processes"] as? [[String: Any]])?.first?["threads"] as? [[String: Any]])?.first)
        #expect(thread["wait"] is NSNull, "present and null")
        #expect(thread["name"] as? String == "waits" && thread["state"] as? String == "S")
        let notes = report["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("\(victim.pid): syscall: permission denied") })
        // Stacks: ptrace is refused too; the stack is null and a note says why.
        #expect(thread["stack"] is NSNull)
        #expect(notes.contains { $0.contains("\(victim.pid): stacks not taken") && $0.contains("ptrace not permitted") })
        #expect(notes.contains { $0.contains("run as the process owner or as root") })
    }

    /// As root without CAP_SYS_PTRACE (a container's default): the note says what is missing,
    /// not "run as root".
    @Test(.enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/usr/bin/setpriv")))
    func rootWithoutPtraceCapabilityIsToldWhatIsMissing() throws {
        let victim = try Victim(scenario: "sleep")
        try victim.waitUntilBlocked(in: "clock_nanosleep")
        let result = try runCommand("/usr/bin/setpriv", ["--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace",
                                                         forkhazardBinary(), "--json", String(victim.pid)])
        #expect(result.status == 0)
        let notes = try jsonObject(result.stdout)["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("\(victim.pid): syscall: permission denied") && $0.contains("without CAP_SYS_PTRACE") }, "\(notes)")
        #expect(!notes.contains { $0.contains("run as the process owner or as root") })
    }
}
