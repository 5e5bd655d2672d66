/// The report as `--json` prints it (docs/json.md): the model's values, plus the sentences a
/// person reads (`summary` of a wait, a finding's `message`, `evidence` and `remedy`).
extension Report {
    /// One line, sorted keys, ending in a newline (pipe it through `jq .` to read it).
    public func json() -> String {
        String(decoding: jsonBytes(), as: UTF8.self)
    }

    /// `json()`'s UTF-8 bytes, newline included.
    public func jsonBytes() -> [UInt8] {
        var bytes = jsonValue.bytes
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    public var jsonValue: JSON {
        let words = FindingWords(report: self)
        var object = JSONObject()
        object["schemaVersion"] = .int(Int64(schemaVersion))
        object["verdict"] = .string(verdict.rawValue)
        object["takenAt"] = .string(takenAt)
        object["host"] = host.json
        object["roots"] = .pids(roots)
        object["processes"] = .array(processes.map { $0.json(in: self) })
        object["findings"] = .array(findings.map { $0.json(words.text(for: $0)) })
        object["notes"] = .strings(notes.map(\.words))
        return object.json
    }
}

extension HostInfo {
    var json: JSON {
        var object = JSONObject()
        object["architecture"] = .string(architecture.rawValue)
        object["kernel"] = .string(kernel)
        object.optional("aslr", .from(aslr))
        object["clockTicksPerSecond"] = .int(Int64(clockTicksPerSecond))
        object["bootTime"] = .from(bootTime)
        object["pidMax"] = .from(pidMax)
        return object.json
    }
}

extension ProcessSnapshot {
    func json(in report: Report) -> JSON {
        var object = JSONObject()
        object["pid"] = .from(pid)
        object["ppid"] = .from(ppid)
        object["name"] = .string(name)
        object["argv"] = .strings(argv)
        object.optional("exe", .from(exe))
        object.optional("uid", uid.map { .int(Int64($0)) } ?? .null)
        object["state"] = .string(state.description)
        object["threadCount"] = .from(threadCount)
        object["startTime"] = .string(startTime)
        object["startTicks"] = .from(startTicks)
        object["isKernelThread"] = .bool(isKernelThread)
        object["python"] = python.map { python in
            var p = JSONObject()
            p["version"] = .string(python.version)
            p.optional("asyncio", python.asyncio?.json ?? .null)
            return p.json
        } ?? .null
        object["threads"] = .array(threads.map(\.json))
        if let layout {
            var layoutObject = JSONObject()
            layoutObject.optional("stackTop", .hex(layout.stackTop))
            layoutObject.optional("vdso", .hex(layout.vdso))
            layoutObject.optional("exeBase", .hex(layout.exeBase))
            layoutObject.optional("libcBase", .hex(layout.libcBase))
            object["layout"] = layoutObject.json
        }
        object.optional("runtimes", runtimes.map { JSON.strings($0.map(\.rawValue)) } ?? .null)
        object.optional("tracer", .from(tracer?.pid))
        object.optional("caughtSignals", caughtSignals.map { .string(hexAddress($0)) } ?? .null)
        object.optional("sharesMemoryWith", .from(sharesMemoryWith))
        object.optional("namespacePid", .from(namespacePid))
        object.optional("pidNamespace", .from(pidNamespace))
        if let forkOrigin {
            var origin = JSONObject()
            origin["kind"] = .string(forkOrigin.kind.rawValue)
            origin["parent"] = .from(forkOrigin.parent)
            origin["evidence"] = .strings(forkOrigin.basis.map { $0.sentence() })
            if let threads = forkOrigin.threadsAtFork {
                let parent = report.process(forkOrigin.parent)
                origin["threadsAtFork"] = .array(threads.map { thread in
                    var object = thread.jsonObject
                    object.optional("now", .from(parent?.thread(thread.tid)?.waitLine))
                    return object.json
                })
            }
            object["forkOrigin"] = origin.json
        }
        return object.json
    }
}

extension ThreadAtFork {
    var jsonObject: JSONObject {
        var object = JSONObject()
        object["tid"] = .from(tid)
        object["name"] = .string(name)
        object["certainty"] = .string(certainty.rawValue)
        return object
    }
}

extension ThreadSnapshot {
    var json: JSON {
        var object = JSONObject()
        object["tid"] = .from(tid)
        object.optional("namespaceTid", .from(namespaceTid))
        object["name"] = .string(name)
        object["state"] = .string(state.description)
        object["startTime"] = .string(startTime)
        object["startTicks"] = .from(startTicks)
        object["cpuSeconds"] = .double(cpuSeconds)
        object.optional("voluntaryContextSwitches", .from(voluntaryContextSwitches))
        object.optional("involuntaryContextSwitches", .from(involuntaryContextSwitches))
        object.optional("wchan", .from(wchan))
        object["wait"] = wait?.json ?? .null
        object["stack"] = stack.map { .array($0.map(\.json)) } ?? .null
        object.optional("pauseMicros", .from(pauseMicros))
        object.optional("steady", .from(steady))
        object["python"] = python.map { python in
            var p = JSONObject()
            p["threadName"] = .from(python.threadName)
            p["ident"] = .from(python.ident)
            p["holdsGIL"] = .bool(python.holdsGIL)
            p["stack"] = .array(python.stack.map { .fields(["function": .string($0.function), "file": .string($0.file), "line": .from($0.line)]) })
            p.flag("mayBeTorn", python.mayBeTorn)
            return p.json
        } ?? .null
        return object.json
    }
}

extension StackFrame {
    /// Every key is written; unknown values as null.
    var json: JSON {
        var object = JSONObject()
        object["address"] = .hex(address)
        object["symbol"] = .from(symbol)
        object["module"] = .from(module)
        object["moduleOffset"] = .hex(moduleOffset)
        object["file"] = .from(file)
        object["line"] = .from(line)
        if let inlined, !inlined.isEmpty {
            object["inlined"] = .array(inlined.map { .fields(["symbol": .from($0.symbol), "file": .from($0.file), "line": .from($0.line)]) })
        }
        return object.json
    }
}

extension ThreadWait {
    /// The facts of its kind; keys that do not apply are left out.
    var json: JSON {
        var object = JSONObject()
        object["kind"] = .string(kind.rawValue)
        object["summary"] = .string(summary)
        object["forever"] = .bool(forever)
        object.optional("timeoutSeconds", .from(timeoutSeconds))
        object.flag("socketTimeout", socketTimeout == .own)
        object.flag("socketTimeoutUnknown", socketTimeout == .unknown)
        if let call {
            object["syscall"] = .string(call.name.name)
            object["syscallNumber"] = .from(call.number)
            object["args"] = .strings(call.args.map(hexAddress))
            object.optional("resumed", .from(call.resumed?.name))
        }
        object.optional("futex", futex?.json ?? .null)
        object.optional("futexes", futexes.map { .array($0.map(\.json)) } ?? .null)
        object.optional("fds", fds.map { .array($0.map(\.json)) } ?? .null)
        object.optional("children", children.map(JSON.pids) ?? .null)
        object.optional("fileLock", fileLock?.json ?? .null)
        object.optional("lock", lock?.json ?? .null)
        return object.json
    }
}

extension FutexWait {
    var json: JSON {
        var object = JSONObject()
        object["address"] = .hex(address)
        object["operation"] = .string(operation.name)
        object["private"] = .bool(`private`)
        object.optional("clock", .from(clock?.rawValue))
        object.optional("expected", expected.map { .int(Int64($0)) } ?? .null)
        if let mapping {
            var map = JSONObject()
            map.optional("path", .from(mapping.path))
            map["inode"] = .from(mapping.inode)
            map["device"] = .string(mapping.device)
            map["offset"] = .hex(mapping.offset)
            map["shared"] = .bool(mapping.shared)
            object["mapping"] = map.json
        }
        object.optional("mappedBy", mappedBy.map(JSON.pids) ?? .null)
        return object.json
    }
}

extension FdDescription {
    var json: JSON {
        var object = JSONObject()
        object["fd"] = .from(fd)
        object["kind"] = .string(kind.rawValue)
        object.optional("target", .from(target))
        object.optional("inode", .from(inode))
        object.optional("access", .from(access?.rawValue))
        object.optional("events", .from(events))
        object.optional("peers", peers.map { .array($0.map(\.json)) } ?? .null)
        object.flag("peersIncomplete", peersIncomplete)
        if let socket {
            var s = JSONObject()
            s.optional("proto", .from(socket.proto))
            s.optional("type", .from(socket.type))
            s.optional("state", .from(socket.state))
            s.optional("local", .from(socket.local))
            s.optional("remote", .from(socket.remote))
            s.optional("path", .from(socket.path))
            s.optional("peerInode", .from(socket.peerInode))
            object["socket"] = s.json
        }
        object.optional("watched", watched.map { .array($0.map(\.json)) } ?? .null)
        object.optional("process", .from(process))
        return object.json
    }
}

extension FdHolder {
    var json: JSON {
        var object = JSONObject()
        object["pid"] = .from(pid)
        object["name"] = .string(name)
        object["fd"] = .from(fd)
        object.optional("access", .from(access?.rawValue))
        return object.json
    }
}

extension FileLockWait {
    var json: JSON {
        var object = JSONObject()
        object["fd"] = .from(fd)
        object.optional("path", .from(path))
        object.optional("inode", .from(inode))
        object["mode"] = .string(exclusive.map { $0 ? "exclusive" : "shared" } ?? "unknown")
        object["type"] = .string(type.rawValue)
        object["holders"] = .pids(holders)
        object.optional("sharers", sharers.map(JSON.pids) ?? .null)
        return object.json
    }
}

extension LockInfo {
    var json: JSON {
        var object = JSONObject()
        object["kind"] = .string(kind.rawValue)
        object.optional("address", .hex(address))
        object.optional("frame", .from(frame))
        object.optional("owner", .from(owner))
        object.optional("ownerNamespaceTid", .from(ownerNamespaceTid))
        object.optional("ownerSource", .from(ownerSource?.rawValue))
        object.flag("recordsNoOwner", recordsNoOwner)
        object.flag("pythonObjectNotFound", pythonObjectNotFound)
        object.optional("joins", .from(joins))
        if let python {
            var p = JSONObject()
            p["type"] = .string(python.typeName)
            p["path"] = .string(python.path)
            p["function"] = .string(python.function)
            p.optional("ownerIdent", .from(python.ownerIdent))
            p.optional("inParent", .from(python.inParent))
            if let waited = python.waited {
                var w = JSONObject()
                w["type"] = .string(waited.typeName)
                w["method"] = .string(waited.method)
                w.optional("path", .from(waited.path))
                w.optional("function", .from(waited.function))
                p["waited"] = w.json
            }
            p.optional("importing", .from(python.importing))
            object["python"] = p.json
        }
        return object.json
    }
}

extension ThreadKey {
    var json: JSON { .fields(["pid": .from(pid), "tid": .from(tid)]) }
}

extension Finding {
    /// The finding with its words and, under `facts`, the values they were made from.
    func json(_ text: FindingText) -> JSON {
        var object = JSONObject()
        object["rule"] = .string(rule.rawValue)
        object["severity"] = .string(severity.rawValue)
        object["pids"] = .pids(pids)
        object["tids"] = .pids(tids)
        object["message"] = .string(text.message)
        object["evidence"] = .strings(text.flatEvidence)
        object["remedy"] = .string(text.remedy)
        object["cause"] = .string(text.cause)
        object["fix"] = .string(text.fix)
        object["facts"] = factsJSON
        return object.json
    }

    /// The rule's facts as JSON (Rules/<Rule>/<Rule>JSON.swift).
    var factsJSON: JSON { facts.json }
}

extension WaitGraph.Wakers {
    var json: JSON {
        switch self {
        case .live(let why):
            return .fields(["live": .bool(true), "reason": .string(why.words)])
        case .only(let threads, let processes, let roles):
            return .fields(["live": .bool(false), "threads": .array(threads.sorted().map(\.json)),
                            "processes": .pids(processes.sorted()), "reasons": .strings(roles.map { $0.words() })])
        }
    }
}

extension AsyncioInfo {
    var json: JSON {
        .fields([
            "loops": .array(loops.map { loop in
                var object = JSONObject()
                object["address"] = .hex(loop.address)
                object["tid"] = .from(loop.tid)
                object.optional("runningTask", .hex(loop.runningTask))
                object.optional("ready", .from(loop.ready))
                object.optional("timers", .from(loop.timers))
                object.optional("nextTimerSeconds", .from(loop.nextTimerSeconds))
                object.optional("watchedFds", loop.watchedFds.map { .array($0.map { .from($0) }) } ?? .null)
                object.optional("wakeupFd", .from(loop.wakeupFd))
                object.optional("signalHandlers", loop.signalHandlers.map { .array($0.map { .from($0) }) } ?? .null)
                return object.json
            }),
            "tasks": .array(tasks.map(\.json)),
        ])
    }
}

extension TaskInfo {
    var json: JSON {
        var object = JSONObject()
        object["address"] = .hex(address)
        object["name"] = .from(name)
        object["state"] = .string(state.rawValue)
        object["loop"] = .hex(loop)
        object["coroutines"] = .array(coroutines.map { .fields(["function": .string($0.function), "file": .string($0.file), "line": .from($0.line)]) })
        object["awaiting"] = awaiting.map { awaited in
            .fields(["address": .hex(awaited.address), "type": .string(awaited.typeName), "isTask": .bool(awaited.isTask)])
        } ?? .null
        object["awaitedBy"] = .strings(awaitedBy.map(hexAddress))
        return object.json
    }
}
