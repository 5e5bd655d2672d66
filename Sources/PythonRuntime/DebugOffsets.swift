/// The offsets a CPython 3.13+ process publishes at the start of `_PyRuntime` (`_Py_DebugOffsets`),
/// read as untrusted input. The table is a list of sub-tables, one per structure (runtime,
/// interpreter, thread state, frame, code object, type, str …), each starting with the structure's
/// size; where each value sits in it changes from one minor version to the next, so the positions
/// come from the generated layout of the same minor version (`Scripts/gen-python-offsets`).
///
/// Every value is checked before it is used: an offset must lie, with the field it locates, inside
/// the size its own sub-table gives the structure, and be aligned as that field is; a size must be
/// plausible. One value that fails refuses the whole table, with its name: a process whose table
/// is garbage is not read with part of it.
struct DebugOffsets: Equatable {
    typealias Field = WritableKeyPath<GeneratedLayout, Int?>
    typealias Position = KeyPath<GeneratedLayout, Int?>

    /// One published offset: the layout field it fills, and how to find and check it.
    struct Entry {
        /// Its name in `_Py_DebugOffsets`, for messages.
        var name: String
        /// What it fills in the layout; nil for the ones only combined (the GIL's).
        var target: Field?
        /// Where it sits in the table, per the generated layout.
        var position: Position
        /// Where the structure's size sits in the table.
        var structure: Position
        /// The bytes of the field the offset locates (0: the value is a size, not an offset).
        var width: Int
        /// The field's alignment.
        var alignment: Int
    }

    /// The values read, by entry name.
    private(set) var values: [String: Int] = [:]

    /// The most a structure's size may be: far above any CPython's (`PyInterpreterState`, the
    /// largest, is under 100 KiB), and an end to garbage.
    static let largestStructure = 1 << 24

    /// Made once: key paths are immutable, so sharing them between threads is safe although they
    /// are not `Sendable` (making them on each use costs a metadata lookup each).
    nonisolated(unsafe) static let entries: [Entry] = {
        func entry(_ name: String, _ target: Field?, _ position: Position, in structure: Position, width: Int = 8, alignment: Int? = nil) -> Entry {
            Entry(name: name, target: target, position: position, structure: structure, width: width,
                  alignment: alignment ?? max(1, width))
        }
        return [
            entry("runtime_state.interpreters_head", \.runtimeInterpretersHead, \.debugInterpretersHead, in: \.debugRuntimeSize),
            entry("interpreter_state.next", \.interpNext, \.debugInterpNext, in: \.debugInterpSize),
            entry("interpreter_state.threads_head", \.interpThreadsHead, \.debugInterpThreadsHead, in: \.debugInterpSize),
            entry("interpreter_state.imports_modules", \.interpModules, \.debugInterpModules, in: \.debugInterpSize),
            entry("interpreter_state.sysdict", \.interpSysdict, \.debugInterpSysdict, in: \.debugInterpSize),
            entry("interpreter_state.ceval_gil", \.interpGilPointer, \.debugInterpGilPointer, in: \.debugInterpSize),
            entry("interpreter_state.gil_runtime_state", nil, \.debugInterpGilState, in: \.debugInterpSize),
            entry("interpreter_state.gil_runtime_state_locked", nil, \.debugInterpGilLocked, in: \.debugInterpSize, width: 4),
            entry("interpreter_state.gil_runtime_state_holder", nil, \.debugInterpGilHolder, in: \.debugInterpSize),
            entry("thread_state.next", \.tstateNext, \.debugTstateNext, in: \.debugTstateSize),
            entry("thread_state.interp", \.tstateInterp, \.debugTstateInterp, in: \.debugTstateSize),
            entry("thread_state.current_frame", \.tstateFrame, \.debugTstateCurrentFrame, in: \.debugTstateSize),
            entry("thread_state.thread_id", \.tstateThreadId, \.debugTstateThreadId, in: \.debugTstateSize),
            entry("thread_state.native_thread_id", \.tstateNativeThreadId, \.debugTstateNativeThreadId, in: \.debugTstateSize),
            entry("interpreter_frame.previous", \.frameBack, \.debugFramePrevious, in: \.debugFrameSize),
            entry("interpreter_frame.executable", \.frameCode, \.debugFrameExecutable, in: \.debugFrameSize),
            entry("interpreter_frame.instr_ptr", \.frameInstruction, \.debugFrameInstrPtr, in: \.debugFrameSize),
            entry("interpreter_frame.localsplus", \.frameLocalsPlus, \.debugFrameLocalsPlus, in: \.debugFrameSize),
            entry("interpreter_frame.owner", \.frameOwner, \.debugFrameOwner, in: \.debugFrameSize, width: 1),
            entry("code_object.filename", \.codeFilename, \.debugCodeFilename, in: \.debugCodeSize),
            entry("code_object.name", \.codeName, \.debugCodeName, in: \.debugCodeSize),
            entry("code_object.qualname", \.codeQualname, \.debugCodeQualname, in: \.debugCodeSize),
            entry("code_object.linetable", \.codeLineTable, \.debugCodeLinetable, in: \.debugCodeSize),
            entry("code_object.firstlineno", \.codeFirstLineNumber, \.debugCodeFirstLineNumber, in: \.debugCodeSize, width: 4),
            entry("code_object.localsplusnames", \.codeLocalsPlusNames, \.debugCodeLocalsPlusNames, in: \.debugCodeSize),
            entry("code_object.co_code_adaptive", \.codeCodeAdaptive, \.debugCodeCodeAdaptive, in: \.debugCodeSize, width: 2),
            entry("pyobject.ob_type", \.objectType, \.debugObjectType, in: \.debugObjectSize),
            entry("type_object.tp_name", \.typeName, \.debugTypeName, in: \.debugTypeSize),
            entry("type_object.tp_flags", \.typeFlags, \.debugTypeFlags, in: \.debugTypeSize),
            entry("type_object.tp_basicsize", \.typeBasicSize, \.debugTypeBasicSize, in: \.debugTypeSize),
            entry("type_object.tp_dictoffset", \.typeDictOffset, \.debugTypeDictOffset, in: \.debugTypeSize),
            entry("heap_type_object.ht_cached_keys", \.heapTypeCachedKeys, \.debugHeapTypeCachedKeys, in: \.debugHeapTypeSize),
            entry("tuple_object.ob_item", \.tupleItems, \.debugTupleItems, in: \.debugTupleSize),
            entry("list_object.ob_item", \.listItems, \.debugListItems, in: \.debugListSize),
            entry("dict_object.ma_keys", \.dictKeys, \.debugDictKeys, in: \.debugDictSize),
            entry("dict_object.ma_values", \.dictValues, \.debugDictValues, in: \.debugDictSize),
            entry("long_object.lv_tag", \.longTag, \.debugLongTag, in: \.debugLongSize),
            entry("long_object.ob_digit", \.longDigits, \.debugLongDigits, in: \.debugLongSize, width: 4),
            entry("bytes_object.ob_sval", \.bytesData, \.debugBytesData, in: \.debugBytesSize, width: 1),
            entry("unicode_object.state", \.unicodeState, \.debugUnicodeState, in: \.debugUnicodeSize, width: 4),
            entry("unicode_object.length", \.unicodeLength, \.debugUnicodeLength, in: \.debugUnicodeSize),
            entry("unicode_object.asciiobject_size", \.unicodeAsciiSize, \.debugUnicodeAsciiSize, in: \.debugUnicodeSize,
                  width: 0, alignment: 8),
            entry("unicode_object.compactunicodeobject_size", \.unicodeCompactSize, \.debugUnicodeCompactSize,
                  in: \.debugUnicodeSize, width: 0, alignment: 8),
        ]
    }()

    /// The values of `table` (the bytes of `_Py_DebugOffsets`) at the positions `positions` gives,
    /// each checked; entries the layout has no position for are not read.
    static func read(_ table: [UInt8], positions: GeneratedLayout) -> Result<DebugOffsets, PythonReadError> {
        func word(_ position: Int) -> UInt64? {
            position >= 0 && position + 8 <= table.count && position % 8 == 0 ? Bytes.u64(table, position) : nil
        }
        var read = DebugOffsets()
        for entry in entries {
            guard let position = positions[keyPath: entry.position] else { continue }
            guard let sizePosition = positions[keyPath: entry.structure], let size = word(sizePosition), let raw = word(position) else {
                return .failure(.inconsistent("_Py_DebugOffsets: \(entry.name) lies outside the table read (\(table.count) bytes)"))
            }
            let structure = entry.name.prefix { $0 != "." }
            guard size > 0, size <= UInt64(largestStructure) else {
                return .failure(.inconsistent("_Py_DebugOffsets: the size of \(structure), \(size), is not a size"))
            }
            guard raw <= size, raw + UInt64(entry.width) <= size, raw % UInt64(entry.alignment) == 0 else {
                return .failure(.inconsistent("_Py_DebugOffsets: \(entry.name) = \(raw) does not fit a field of \(entry.width) bytes aligned to \(entry.alignment) in the \(size) bytes of \(structure)"))
            }
            read.values[entry.name] = Int(raw)
        }
        if let state = read.values["interpreter_state.gil_runtime_state"],
           let locked = read.values["interpreter_state.gil_runtime_state_locked"],
           let holder = read.values["interpreter_state.gil_runtime_state_holder"], locked < state || holder < state {
            return .failure(.inconsistent("_Py_DebugOffsets: the GIL's fields lie before the GIL"))
        }
        return .success(read)
    }

    /// The GIL's `locked` and `last_holder`, as offsets in its own structure.
    private var gil: (locked: Int, holder: Int)? {
        guard let state = values["interpreter_state.gil_runtime_state"],
              let locked = values["interpreter_state.gil_runtime_state_locked"],
              let holder = values["interpreter_state.gil_runtime_state_holder"] else { return nil }
        return (locked - state, holder - state)
    }

    /// The layout with every value read put in.
    func apply(to layout: inout GeneratedLayout) {
        for entry in Self.entries {
            guard let target = entry.target, let value = values[entry.name] else { continue }
            layout[keyPath: target] = value
        }
        if let gil {
            layout.gilLocked = gil.locked
            layout.gilLastHolder = gil.holder
        }
    }

    /// The names of the values that differ from `layout`'s (where it has one).
    func differences(from layout: GeneratedLayout) -> [String] {
        var names: [String] = []
        for entry in Self.entries {
            guard let target = entry.target, let value = values[entry.name], let measured = layout[keyPath: target],
                  measured != value else { continue }
            names.append(entry.name)
        }
        if let gil, (layout.gilLocked.map { $0 != gil.locked } ?? false) || (layout.gilLastHolder.map { $0 != gil.holder } ?? false) {
            names.append("the GIL's fields")
        }
        return names
    }
}
