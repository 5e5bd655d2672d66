import Testing

@testable import ProcFS

@Suite("/proc/net/unix") struct UnixSocketTableTests {
    // "%pK: %08X %08X %08X %04X %02X %5lu" and then " path" when bound.
    static let table = """
        Num       RefCount Protocol Flags    Type St Inode Path
        0000000000000000: 00000002 00000000 00010000 0001 01 21450 /run/systemd/private
        0000000000000000: 00000003 00000000 00000000 0001 03  7777 /run/dbus/system_bus_socket
        0000000000000000: 00000003 00000000 00000000 0001 03  7778
        0000000000000000: 00000002 00000000 00000000 0002 01   812 @/org/kernel/udev/udevd
        0000000000000000: 00000002 00000000 00000000 0005 01   901 /tmp/dir with space/sock
        0000000000000000: 00000002 00000000 00000000 0001 02   902
        0000000000000000: 00000002 00000000 00000000 0001 04   903
        0000000000000000: 00000002 00000000 00000000 0003 01   904
        0000000000000000: 00000002 00000000 00010000 0005 01   905 @abstract listener

        """

    @Test func parsesEveryRow() {
        let table = UnixSocketEntry.parseTable(Self.table)
        #expect(table.count == 9)
        #expect(table[21450] == UnixSocketEntry(inode: 21450, type: "stream", state: "listening", path: "/run/systemd/private"))
        #expect(table[7777] == UnixSocketEntry(inode: 7777, type: "stream", state: "connected", path: "/run/dbus/system_bus_socket"))
        #expect(table[7778] == UnixSocketEntry(inode: 7778, type: "stream", state: "connected", path: nil))
        #expect(table[812] == UnixSocketEntry(inode: 812, type: "dgram", state: "unconnected", path: "@/org/kernel/udev/udevd"))
        #expect(table[901] == UnixSocketEntry(inode: 901, type: "seqpacket", state: "unconnected", path: "/tmp/dir with space/sock"))
        #expect(table[902]?.state == "connecting")
        #expect(table[903]?.state == "disconnecting")
        #expect(table[904]?.type == "type 3")
        #expect(table[905] == UnixSocketEntry(inode: 905, type: "seqpacket", state: "listening", path: "@abstract listener"))
    }

    @Test func theHeaderIsNotARow() {
        #expect(UnixSocketEntry.parseTable("Num       RefCount Protocol Flags    Type St Inode Path\n").isEmpty)
        #expect(UnixSocketEntry.parseTable("").isEmpty)
    }

    @Test func badRowsAreSkipped() {
        let text = """
            Num       RefCount Protocol Flags    Type St Inode Path
            0000000000000000: 00000002 00000000 zzzzzzzz 0001 01 1 /a
            0000000000000000: 00000002 00000000 00000000 0001 01
            0000000000000000: 00000002 00000000 00000000 0001 01 notanumber /b
            0000000000000000: 00000002 00000000 00000000 0001 03 42 /c

            """
        #expect(Array(UnixSocketEntry.parseTable(text).keys) == [42])
    }

    @Test func pathsKeepTrailingSpaces() {
        // A socket bound to "/tmp/sock " (trailing space is a legal file name byte).
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n"
            + "0000000000000000: 00000002 00000000 00010000 0001 01 21451 /tmp/sock \n"
        #expect(UnixSocketEntry.parseTable(text)[21451]?.path == "/tmp/sock ")
    }
}

@Suite("/proc/net/tcp and tcp6") struct InetSocketTableTests {
    static let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40123 1 0000000000000000 100 0 0 10 0
           1: 0F02000A:D4C2 2E5E5E5E:01BB 01 00000000:00000000 02:000009C6 00000000  1000        0 40124 2 0000000000000000 20 4 30 10 -1
           2: 0F02000A:D4C4 2E5E5E5E:01BB 08 00000000:00000001 00:00000000 00000000  1000        0 40125 1 0000000000000000 20 4 30 10 -1
           3: 0F02000A:D4C6 2E5E5E5E:01BB 06 00000000:00000000 03:000016C2 00000000     0        0 0 3 0000000000000000

        """

    static let tcp6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50001 1 0000000000000000 100 0 0 10 0
           1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 50002 1 0000000000000000 20 4 30 10 -1
           2: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50003 1 0000000000000000 100 0 0 10 0
           3: 000080FE00000000FF76F202563412FE:0016 000080FE0000000003BCC9FE3A3E1A54:E1A2 01 00000000:00000000 02:00000B5E 00000000     0        0 50004 2 0000000000000000 20 4 30 10 -1

        """

    @Test func ipv4() {
        let table = InetSocketEntry.parseTable(Self.tcp, proto: "tcp")
        #expect(table[40123] == InetSocketEntry(inode: 40123, proto: "tcp", local: "127.0.0.1:8080", remote: "0.0.0.0:0", state: "LISTEN"))
        #expect(table[40124] == InetSocketEntry(inode: 40124, proto: "tcp", local: "10.0.2.15:54466", remote: "94.94.94.46:443", state: "ESTABLISHED"))
        #expect(table[40125]?.state == "CLOSE_WAIT")
        // TIME_WAIT sockets have inode 0 and no owner.
        #expect(table[0]?.state == "TIME_WAIT")
        #expect(table.count == 4)
    }

    @Test func ipv6AndV4Mapped() {
        let table = InetSocketEntry.parseTable(Self.tcp6, proto: "tcp6")
        #expect(table[50001] == InetSocketEntry(inode: 50001, proto: "tcp6", local: "[0:0:0:0:0:0:0:1]:631", remote: "[0:0:0:0:0:0:0:0]:0", state: "LISTEN"))
        #expect(table[50002] == InetSocketEntry(inode: 50002, proto: "tcp6", local: "127.0.0.1:8080", remote: "127.0.0.1:50000", state: "ESTABLISHED"))
        #expect(table[50003]?.local == "[2001:db8:0:0:0:0:0:1]:443")
        #expect(table[50004]?.local == "[fe80:0:0:0:2f2:76ff:fe12:3456]:22")
        #expect(table[50004]?.remote == "[fe80:0:0:0:fec9:bc03:541a:3e3a]:57762")
    }

    @Test func udpStates() {
        let text = """
               sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
             1092: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 19876 2 0000000000000000 0
             1093: 0F02000A:A0C3 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 19877 2 0000000000000000 0

            """
        let table = InetSocketEntry.parseTable(text, proto: "udp")
        #expect(table[19876] == InetSocketEntry(inode: 19876, proto: "udp", local: "0.0.0.0:68", remote: "0.0.0.0:0", state: "UNCONN"))
        #expect(table[19877] == InetSocketEntry(inode: 19877, proto: "udp", local: "10.0.2.15:41155", remote: "8.8.8.8:53", state: "ESTABLISHED"))
    }

    @Test func unknownTCPState() {
        let text = "header\n   0: 0100007F:1F90 00000000:0000 0C 00000000:00000000 00:00000000 00000000  1000        0 1 1\n"
        #expect(InetSocketEntry.parseTable(text, proto: "tcp")[1]?.state == "state 12")
    }

    @Test(arguments: [
        ("0100007F:1F90", String?.some("127.0.0.1:8080")),
        ("00000000:0000", "0.0.0.0:0"),
        ("FFFFFFFF:FFFF", "255.255.255.255:65535"),
        ("0100007F", nil),
        ("0100007F:1F90:1", nil),
        ("0100007F:10000", nil),           // port overflows 16 bits
        ("ZZ00007F:1F90", nil),
        ("0100007F00:1F90", nil),           // neither 4 nor 16 bytes
        ("", nil),
    ] as [(String, String?)])
    func endpoints(_ text: String, _ expected: String?) {
        #expect(InetSocketEntry.endpoint(text[...]) == expected)
    }

    @Test func badRowsAreSkipped() {
        let text = """
            header
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 notanumber 1
               1: garbage 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7 1
               2: 0100007F:1F90 00000000:0000
               3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 8 1

            """
        #expect(Array(InetSocketEntry.parseTable(text, proto: "tcp").keys) == [8])
    }
}

@Suite("/proc/locks") struct FileLockTableTests {
    @Test func holdersWaitersAndOFDLocks() {
        let text = """
            1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF
            1: -> FLOCK  ADVISORY  WRITE 1235 00:2d:5678 0 EOF
            1:  -> FLOCK  ADVISORY  WRITE 1236 00:2d:5678 0 EOF
            2: POSIX  ADVISORY  READ  4321 fd:01:1311 128 255
            3: OFDLCK ADVISORY  READ  -1 00:2d:9100 0 EOF
            4: LEASE  ACTIVE    READ  900 08:01:12 0 EOF

            """
        let locks = FileLockEntry.parseAll(text)
        #expect(locks == [
            FileLockEntry(type: "FLOCK", access: "WRITE", pid: 1234, device: "00:2d", inode: 5678, isWaiter: false),
            FileLockEntry(type: "FLOCK", access: "WRITE", pid: 1235, device: "00:2d", inode: 5678, isWaiter: true),
            FileLockEntry(type: "FLOCK", access: "WRITE", pid: 1236, device: "00:2d", inode: 5678, isWaiter: true),
            FileLockEntry(type: "POSIX", access: "READ", pid: 4321, device: "fd:01", inode: 1311, isWaiter: false),
            FileLockEntry(type: "OFDLCK", access: "READ", pid: -1, device: "00:2d", inode: 9100, isWaiter: false),
            FileLockEntry(type: "LEASE", access: "READ", pid: 900, device: "08:01", inode: 12, isWaiter: false),
        ])
    }

    @Test(arguments: [
        "",
        "garbage",
        "1: FLOCK  ADVISORY  WRITE",
        "1: FLOCK  ADVISORY  WRITE notapid 00:2d:5678 0 EOF",
        "1: FLOCK  ADVISORY  WRITE 1234 <none>:0 0 EOF",
        "1: FLOCK  ADVISORY  WRITE 1234 00:2d 0 EOF",
        "1: FLOCK  ADVISORY  WRITE 1234 00:2d:inode 0 EOF",
        "1: ->",
    ])
    func rejectsGarbage(_ line: String) {
        #expect(FileLockEntry.parseAll(line).isEmpty)
    }
}
