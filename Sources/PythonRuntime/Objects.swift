import Synchronization

/// Reads Python objects (types, str, int, tuple, list, dict, instance attributes) through a
/// layout. Every read is bounded: the target's memory is untrusted, so sizes are capped, and
/// anything that does not look like the object expected reads as nil.
struct ObjectReader {
    let memory: any RemoteMemoryReader
    let layout: GeneratedLayout
    let minor: Int
    let cache: ReadCache?

    static let longestString = 4096
    static let mostDictEntries = 1 << 16
    static let mostTupleItems = 1 << 12

    // MARK: types

    struct TypeInfo {
        var address: UInt64
        var name: String
        var flags: UInt64
        var basicSize: Int
        var dictOffset: Int
        var cachedKeys: UInt64
    }

    func typeAddress(of object: UInt64) -> UInt64? {
        guard let field = layout.objectType, let type = memory.u64(object &+ UInt64(field)), type != 0 else { return nil }
        return type
    }

    func typeInfo(type: UInt64) -> TypeInfo? {
        if let known = cache?.types[type] { return known }
        let info = readTypeInfo(type)
        if let info, let cache, cache.types.count < ReadCache.most { cache.types[type] = info }
        return info
    }

    func readTypeInfo(_ type: UInt64) -> TypeInfo? {
        guard let nameField = layout.typeName, let flagsField = layout.typeFlags,
              let basicField = layout.typeBasicSize, let dictField = layout.typeDictOffset else { return nil }
        let extent = max(nameField, flagsField, basicField, dictField, layout.heapTypeCachedKeys ?? 0) + 8
        guard let bytes = memory.read(type, extent), let namePointer = Bytes.u64(bytes, field: nameField),
              let name = memory.cString(namePointer, limit: 128) else { return nil }
        var cachedKeys: UInt64 = 0
        if let cachedField = layout.heapTypeCachedKeys { cachedKeys = Bytes.u64(bytes, field: cachedField) ?? 0 }
        return TypeInfo(address: type, name: name, flags: Bytes.u64(bytes, field: flagsField) ?? 0,
                        basicSize: Int(truncatingIfNeeded: Bytes.u64(bytes, field: basicField) ?? 0),
                        dictOffset: Int(truncatingIfNeeded: Bytes.u64(bytes, field: dictField) ?? 0),
                        cachedKeys: cachedKeys)
    }

    func typeInfo(of object: UInt64) -> TypeInfo? {
        typeAddress(of: object).flatMap { typeInfo(type: $0) }
    }

    func hasFlag(_ type: TypeInfo, _ flag: Int?) -> Bool {
        guard let flag, flag != 0 else { return false }
        return type.flags & UInt64(flag) != 0
    }

    // MARK: str

    /// A `str`'s characters (at most `longestString`), or nil if the object is not a str.
    func string(_ object: UInt64, checkType: Bool = true) -> String? {
        if checkType {
            guard let type = typeInfo(of: object), hasFlag(type, layout.flagUnicodeSubclass) else { return nil }
        }
        guard let header = stringHeader(object) else { return nil }
        guard header.length <= ObjectReader.longestString else { return nil }
        if header.length == 0 { return "" }
        guard let bytes = memory.read(header.data, header.length * header.kind) else { return nil }
        switch header.kind {
        case 1:
            return header.ascii ? String(decoding: bytes, as: UTF8.self)
                : String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case 2:
            let units = stride(from: 0, to: bytes.count, by: 2).map { Bytes.u16(bytes, $0) }
            return String(decoding: units, as: UTF16.self)
        default:
            var scalars = String.UnicodeScalarView()
            for i in stride(from: 0, to: bytes.count, by: 4) {
                guard let scalar = Unicode.Scalar(Bytes.u32(bytes, i)) else { return nil }
                scalars.append(scalar)
            }
            return String(scalars)
        }
    }

    struct StringHeader {
        var length: Int
        var kind: Int
        var ascii: Bool
        var data: UInt64
    }

    func stringHeader(_ object: UInt64) -> StringHeader? {
        guard let lengthField = layout.unicodeLength, let stateField = layout.unicodeState,
              let asciiSize = layout.unicodeAsciiSize, let compactSize = layout.unicodeCompactSize,
              let kindMask = layout.unicodeKindMask, let compactMask = layout.unicodeCompactMask,
              let asciiMask = layout.unicodeAsciiMask,
              let bytes = memory.read(object, max(lengthField, stateField) + 8) else { return nil }
        let length = Int(truncatingIfNeeded: Bytes.u64(bytes, lengthField))
        let state = Int(Bytes.u32(bytes, stateField))
        let shift = kindMask.trailingZeroBitCount
        let kind = (state & kindMask) >> shift
        let ascii = state & asciiMask != 0
        guard length >= 0, kind == 1 || kind == 2 || kind == 4 else { return nil }
        let data: UInt64
        if state & compactMask != 0 {
            data = object &+ UInt64(ascii ? asciiSize : compactSize)
        } else {
            // A legacy string: the characters are behind the pointer after the compact header.
            guard let pointer = memory.u64(object &+ UInt64(compactSize)), pointer != 0 else { return nil }
            data = pointer
        }
        return StringHeader(length: length, kind: kind, ascii: ascii, data: data)
    }

    /// Whether `object` is the str `text` (compared without decoding other strings).
    func stringEquals(_ object: UInt64, _ text: [UInt8]) -> Bool {
        guard let header = stringHeader(object), header.kind == 1, header.ascii, header.length == text.count else { return false }
        if text.isEmpty { return true }
        return memory.read(header.data, text.count) == text
    }

    // MARK: int

    /// An `int`'s value when it fits in 64 bits (sign and magnitude), or nil.
    func integer(_ object: UInt64) -> (negative: Bool, magnitude: UInt64)? {
        guard let type = typeInfo(of: object), hasFlag(type, layout.flagLongSubclass),
              let digitsField = layout.longDigits, let bits = layout.longDigitBits else { return nil }
        let count: Int
        let negative: Bool
        if let tagField = layout.longTag {
            guard let tag = memory.u64(object &+ UInt64(tagField)) else { return nil }
            count = Int(tag >> 3)
            negative = tag & 3 == 2
        } else {
            guard let sizeField = layout.varObjectSize, let raw = memory.u64(object &+ UInt64(sizeField)) else { return nil }
            let size = Int64(bitPattern: raw)
            negative = size < 0
            count = Int(size.magnitude)
        }
        guard count <= 3 else { return nil }
        if count == 0 { return (false, 0) }
        guard let digits = memory.read(object &+ UInt64(digitsField), count * 4) else { return nil }
        var value: UInt64 = 0
        for i in (0..<count).reversed() {
            let digit = UInt64(Bytes.u32(digits, i * 4))
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 1 << UInt64(bits))
            guard !overflow else { return nil }
            value = shifted | digit
        }
        return (negative, value)
    }

    func unsignedInteger(_ object: UInt64) -> UInt64? {
        guard let value = integer(object), !value.negative else { return nil }
        return value.magnitude
    }

    // MARK: tuple, list

    /// The items of a tuple (`tupleItems`) or list (`listItems`), at most `limit`.
    func sequenceItems(_ object: UInt64, list: Bool, limit: Int = ObjectReader.mostTupleItems) -> [UInt64]? {
        guard let sizeField = layout.varObjectSize, let itemsField = list ? layout.listItems : layout.tupleItems,
              let raw = memory.u64(object &+ UInt64(sizeField)) else { return nil }
        let size = Int64(bitPattern: raw)
        guard size >= 0 else { return nil }
        let count = Int(min(size, Int64(limit)))
        if count == 0 { return [] }
        var base = object &+ UInt64(itemsField)
        if list {
            guard let pointer = memory.u64(base), pointer != 0 else { return nil }
            base = pointer
        }
        guard let bytes = memory.read(base, count * 8) else { return nil }
        return (0..<count).map { Bytes.u64(bytes, $0 * 8) }
    }

    func sequenceCount(_ object: UInt64) -> Int? {
        guard let sizeField = layout.varObjectSize, let raw = memory.u64(object &+ UInt64(sizeField)) else { return nil }
        let size = Int64(bitPattern: raw)
        return size >= 0 ? Int(min(size, Int64(Int32.max))) : nil
    }

    // MARK: dict

    /// The (key, value) pairs of a dict in insertion order, at most `limit`.
    func dictEntries(_ dict: UInt64, limit: Int) -> [(key: UInt64, value: UInt64)]? {
        guard let keysField = layout.dictKeys, let valuesField = layout.dictValues,
              let bytes = memory.read(dict, max(keysField, valuesField) + 8) else { return nil }
        let keys = Bytes.u64(bytes, keysField)
        var values = Bytes.u64(bytes, valuesField)
        if values != 0 { values &+= UInt64(layout.dictValuesItems ?? 0) }
        return keysEntries(keys, values: values, limit: limit)
    }

    /// Entries of a keys object; `values`, when not 0, is the array of a split table's values.
    func keysEntries(_ keys: UInt64, values: UInt64, limit: Int) -> [(key: UInt64, value: UInt64)]? {
        guard keys != 0, let countField = layout.keysEntryCount, let indicesField = layout.keysIndices,
              let header = memory.read(keys, indicesField) else { return nil }
        let rawCount = Int64(bitPattern: Bytes.u64(header, countField))
        guard rawCount >= 0 else { return nil }
        let count = Int(min(rawCount, Int64(min(limit, ObjectReader.mostDictEntries))))
        var entriesStart = keys &+ UInt64(indicesField)
        var entrySize: Int
        var keyField: Int
        var valueField: Int
        if let sizeField = layout.keysSize {
            // 3.8–3.10: dk_size indices of 1, 2, 4 or 8 bytes each, then 24-byte entries.
            let size = Bytes.u64(header, sizeField)
            guard size > 0, size <= 1 << 40, size & (size - 1) == 0 else { return nil }
            let indexBytes: UInt64 = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffff_ffff ? 4 : 8
            entriesStart &+= size * indexBytes
            guard let s = layout.keysEntrySize, let k = layout.keysEntryKey, let v = layout.keysEntryValue else { return nil }
            (entrySize, keyField, valueField) = (s, k, v)
        } else {
            guard let log2Field = layout.keysLog2IndexBytes, let kindField = layout.keysKind else { return nil }
            let log2 = Int(header[log2Field])
            guard log2 < 40 else { return nil }
            entriesStart &+= UInt64(1) << UInt64(log2)
            if header[kindField] == 0 {  // DICT_KEYS_GENERAL: hash, key, value
                guard let s = layout.keysEntrySize, let k = layout.keysEntryKey, let v = layout.keysEntryValue else { return nil }
                (entrySize, keyField, valueField) = (s, k, v)
            } else {  // unicode keys (combined or split): key, value
                guard let s = layout.keysUnicodeEntrySize, let k = layout.keysUnicodeEntryKey,
                      let v = layout.keysUnicodeEntryValue else { return nil }
                (entrySize, keyField, valueField) = (s, k, v)
            }
        }
        var result: [(key: UInt64, value: UInt64)] = []
        let chunk = 256
        var index = 0
        while index < count {
            let n = min(chunk, count - index)
            guard let entries = memory.read(entriesStart &+ UInt64(index * entrySize), n * entrySize) else { return nil }
            var splitValues: [UInt8]?
            if values != 0 {
                guard let v = memory.read(values &+ UInt64(index * 8), n * 8) else { return nil }
                splitValues = v
            }
            for i in 0..<n {
                let key = Bytes.u64(entries, i * entrySize + keyField)
                let value = splitValues.map { Bytes.u64($0, i * 8) } ?? Bytes.u64(entries, i * entrySize + valueField)
                if key != 0 && value != 0 { result.append((key, value)) }
            }
            index += n
        }
        return result
    }

    /// The value of the str key `name` in a dict.
    func dictLookup(_ dict: UInt64, _ name: String, limit: Int = ObjectReader.mostDictEntries) -> UInt64? {
        dictEntries(dict, limit: limit).flatMap { entry(named: name, in: $0)?.value }
    }

    /// The entry whose key is the str `name`. Each key read costs a read of another process's
    /// memory, and a dict like `sys.modules` has hundreds: the key object that matched last time,
    /// in any process (a forked child's are its parent's, at the same addresses), is tried first.
    /// A dict's keys are distinct, so that key, read and found equal, is the only match.
    func entry(named name: String, in entries: [(key: UInt64, value: UInt64)]) -> (key: UInt64, value: UInt64)? {
        let text = Array(name.utf8)
        if let hint = KeyHints.shared.key(for: name), let entry = entries.first(where: { $0.key == hint }),
           stringEquals(hint, text) {
            return entry
        }
        guard let found = entries.first(where: { stringEquals($0.key, text) }) else { return nil }
        KeyHints.shared.remember(found.key, for: name)
        return found
    }

    // MARK: instance attributes

    /// An object's instance attributes (its `__dict__`, however this version stores it), at most `limit`.
    func attributes(_ object: UInt64, type: TypeInfo, limit: Int) -> [(key: UInt64, value: UInt64)]? {
        if hasFlag(type, layout.flagManagedDict), let dictOffset = layout.managedDictOffset {
            let slot = UInt64(bitPattern: Int64(bitPattern: object) &+ Int64(dictOffset))
            guard let stored = memory.u64(slot) else { return nil }
            switch minor {
            case 11:
                // Values (no dict yet) at managedValuesOffset; once a dict exists, the dict.
                guard let valuesOffset = layout.managedValuesOffset,
                      let values = memory.u64(UInt64(bitPattern: Int64(bitPattern: object) &+ Int64(valuesOffset))) else { return nil }
                if values != 0 {
                    return keysEntries(type.cachedKeys, values: values &+ UInt64(layout.dictValuesItems ?? 0), limit: limit)
                }
                return stored != 0 ? dictEntries(stored, limit: limit) : []
            case 12:
                // One tagged word: odd = values pointer minus one, even = the dict.
                if stored & 1 != 0 {
                    return keysEntries(type.cachedKeys, values: (stored &+ 1) &+ UInt64(layout.dictValuesItems ?? 0), limit: limit)
                }
                return stored != 0 ? dictEntries(stored, limit: limit) : []
            default:
                // 3.13: the dict when one was made, else the values inline after the object.
                if stored != 0 { return dictEntries(stored, limit: limit) }
                guard hasFlag(type, layout.flagInlineValues), let validField = layout.dictValuesValid else { return [] }
                let values = object &+ UInt64(type.basicSize)
                guard let valid = memory.u8(values &+ UInt64(validField)) else { return nil }
                guard valid != 0 else { return [] }
                let capacity = layout.dictValuesCapacity.flatMap { memory.u8(values &+ UInt64($0)) }.map(Int.init) ?? 0
                return keysEntries(type.cachedKeys, values: values &+ UInt64(layout.dictValuesItems ?? 0),
                                   limit: min(limit, capacity))
            }
        }
        guard type.dictOffset > 0, type.dictOffset < 1 << 20,
              let dict = memory.u64(object &+ UInt64(type.dictOffset)) else { return nil }
        return dict != 0 ? dictEntries(dict, limit: limit) : []
    }

    func attribute(_ object: UInt64, _ name: String) -> UInt64? {
        guard let type = typeInfo(of: object) else { return nil }
        return attributes(object, type: type, limit: 256).flatMap { entry(named: name, in: $0)?.value }
    }
}

/// The address of the str object last found as each dict key looked up by name, in any process.
final class KeyHints: Sendable {
    static let shared = KeyHints()
    private let keys = Mutex<[String: UInt64]>([:])

    func key(for name: String) -> UInt64? { keys.withLock { $0[name] } }

    /// Kept per name (the names are the reader's own, a few dozen).
    func remember(_ key: UInt64, for name: String) { keys.withLock { $0[name] = key } }
}

// MARK: - float, bool, set, collections.deque, __slots__ attributes

/// Readers of the objects asyncio's event loops are made of. The structs read here are the same
/// on x86_64 in every version read (3.8 to 3.15; measured with `offsetof` against each version's
/// headers where they are public, `PyFloatObject`, `PySetObject`, `PyTypeObject`, `PyMemberDef`,
/// and checked on live objects where they are not, `dequeobject`): a type that does not carry the
/// expected name reads as nil.
extension ObjectReader {
    /// `PyFloatObject.ob_fval`.
    static let floatValueField: UInt64 = 16
    /// `PySetObject.used`: the number of items.
    static let setUsedField: UInt64 = 24
    /// `PyTypeObject.tp_members` and `.tp_base`, read only where `tp_dictoffset` sits where these
    /// were measured (288), so that a type object laid out otherwise is not misread.
    static let typeMembersField: UInt64 = 240
    static let typeBaseField: UInt64 = 256
    static let measuredTypeDictOffset = 288
    /// `sizeof(PyMemberDef)`, and where its `type` and `offset` are.
    static let memberDefSize = 40
    static let memberDefTypeField = 8
    static let memberDefOffsetField = 16
    /// `Py_T_OBJECT` and `Py_T_OBJECT_EX`: a member that holds an object pointer.
    static let objectMemberTypes: Set<Int32> = [6, 16]
    /// Most members read of one type, and bases followed from a type.
    static let mostMembers = 64
    static let mostBases = 16

    /// A `float`'s value (not of a subclass), or nil.
    func float(_ object: UInt64) -> Double? {
        guard typeInfo(of: object)?.name == "float", let bits = memory.u64(object &+ ObjectReader.floatValueField) else { return nil }
        return Double(bitPattern: bits)
    }

    /// `True` or `False`, or nil when the object is not a bool.
    func boolean(_ object: UInt64) -> Bool? {
        guard typeInfo(of: object)?.name == "bool", let value = integer(object), !value.negative, value.magnitude <= 1 else { return nil }
        return value.magnitude == 1
    }

    /// Whether the object is `None`.
    func isNone(_ object: UInt64) -> Bool {
        typeInfo(of: object)?.name == "NoneType"
    }

    /// How many items a `set` or `frozenset` holds, or nil.
    func setCount(_ object: UInt64) -> Int? {
        guard let name = typeInfo(of: object)?.name, name == "set" || name == "frozenset",
              let raw = memory.u64(object &+ ObjectReader.setUsedField) else { return nil }
        let used = Int64(bitPattern: raw)
        return used >= 0 && used <= Int64(Int32.max) ? Int(used) : nil
    }

    // MARK: collections.deque

    /// `dequeobject`: `ob_size` (the length), `leftblock`, `rightblock`, `leftindex`, `rightindex`;
    /// a block is `{ leftlink; data[64]; rightlink }`.
    static let dequeLeftBlockField = 24
    static let dequeRightBlockField = 32
    static let dequeLeftIndexField = 40
    static let dequeRightIndexField = 48
    static let dequeBlockLength = 64
    static let dequeBlockSize = 8 + 64 * 8 + 8

    /// A `collections.deque`'s length and its first `limit` items, left to right; nil when the
    /// object is not a deque or its blocks do not hold together (a link missing, an index out of
    /// its block, the last item not where `rightblock`/`rightindex` say).
    func dequeItems(_ object: UInt64, limit: Int) -> (count: Int, items: [UInt64])? {
        guard typeInfo(of: object)?.name == "collections.deque", let sizeField = layout.varObjectSize,
              let header = memory.read(object, ObjectReader.dequeRightIndexField + 8) else { return nil }
        let size = Int64(bitPattern: Bytes.u64(header, sizeField))
        var block = Bytes.u64(header, ObjectReader.dequeLeftBlockField)
        let rightBlock = Bytes.u64(header, ObjectReader.dequeRightBlockField)
        var index = Int(truncatingIfNeeded: Int64(bitPattern: Bytes.u64(header, ObjectReader.dequeLeftIndexField)))
        let rightIndex = Int(truncatingIfNeeded: Int64(bitPattern: Bytes.u64(header, ObjectReader.dequeRightIndexField)))
        let length = ObjectReader.dequeBlockLength
        guard size >= 0, size <= Int64(Int32.max), (0..<length).contains(index), (-1..<length).contains(rightIndex),
              block != 0, rightBlock != 0 else { return nil }
        let count = Int(size)
        let wanted = min(count, max(0, limit))
        var items: [UInt64] = []
        items.reserveCapacity(wanted)
        var seen = Set<UInt64>()
        while items.count < wanted {
            guard seen.insert(block).inserted, let bytes = memory.read(block, ObjectReader.dequeBlockSize) else { return nil }
            while index < length && items.count < wanted {
                let item = Bytes.u64(bytes, 8 + index * 8)
                guard item != 0 else { return nil }
                items.append(item)
                index += 1
            }
            if items.count == count {
                // The last item must be the one `rightblock` and `rightindex` name.
                guard block == rightBlock, index - 1 == rightIndex else { return nil }
            }
            guard items.count < wanted else { break }
            block = Bytes.u64(bytes, ObjectReader.dequeBlockSize - 8)
            index = 0
            guard block != 0 else { return nil }
        }
        return (count, items)
    }

    // MARK: __slots__

    /// Where an instance of `type` keeps the `__slots__` attribute `name`: the offset of the
    /// object member of that name in `tp_members` of the type or its bases (`tp_base`), within
    /// the instance's `tp_basicsize`; nil when none is found.
    func slotOffset(type: UInt64, _ name: String) -> Int? {
        guard layout.typeDictOffset == ObjectReader.measuredTypeDictOffset, let instance = typeInfo(type: type) else { return nil }
        var current = type
        var seen = Set<UInt64>()
        var found: Int?
        search: while current != 0, seen.count < ObjectReader.mostBases, seen.insert(current).inserted {
            guard let members = memory.u64(current &+ ObjectReader.typeMembersField),
                  let base = memory.u64(current &+ ObjectReader.typeBaseField) else { return nil }
            if members != 0 {
                for i in 0..<ObjectReader.mostMembers {
                    guard let entry = memory.read(members &+ UInt64(i * ObjectReader.memberDefSize), ObjectReader.memberDefSize) else { break }
                    let namePointer = Bytes.u64(entry, 0)
                    guard namePointer != 0 else { break }
                    guard let memberName = memory.cString(namePointer, limit: 128), memberName == name else { continue }
                    let kind = Int32(bitPattern: Bytes.u32(entry, ObjectReader.memberDefTypeField))
                    let offset = Int64(bitPattern: Bytes.u64(entry, ObjectReader.memberDefOffsetField))
                    guard ObjectReader.objectMemberTypes.contains(kind), offset >= 16,
                          offset + 8 <= Int64(instance.basicSize) else { return nil }
                    found = Int(offset)
                    break search
                }
            }
            current = base
        }
        return found
    }

    /// The `__slots__` attribute `name` of `object`; nil when unset or not found. `offsets`
    /// keeps the offsets found (or not) by type, for a caller reading many objects of a few types.
    func slot(_ object: UInt64, _ name: String, offsets: SlotOffsets? = nil) -> UInt64? {
        guard let type = typeAddress(of: object) else { return nil }
        let offset: Int?
        if let offsets { offset = offsets.offset(type: type, name) { slotOffset(type: type, name) } }
        else { offset = slotOffset(type: type, name) }
        guard let offset, let value = memory.u64(object &+ UInt64(offset)), value != 0 else { return nil }
        return value
    }

    /// An object's instance attributes by name (its `__dict__`), at most `limit`.
    func namedAttributes(_ object: UInt64, limit: Int) -> [String: UInt64]? {
        guard let type = typeInfo(of: object), let entries = attributes(object, type: type, limit: limit) else { return nil }
        var named: [String: UInt64] = [:]
        for entry in entries {
            if let name = string(entry.key) { named[name] = entry.value }
        }
        return named
    }
}

/// `__slots__` offsets already looked up, by type and name (nil: looked up, not found); for one
/// call's reads only.
final class SlotOffsets {
    private struct Key: Hashable {
        var type: UInt64
        var name: String
    }
    private var known: [Key: Int?] = [:]

    func offset(type: UInt64, _ name: String, lookUp: () -> Int?) -> Int? {
        let key = Key(type: type, name: name)
        if let found = known[key] { return found }
        let found = lookUp()
        if known.count < ReadCache.most { known[key] = found }
        return found
    }
}
