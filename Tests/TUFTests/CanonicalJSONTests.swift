import Integrity
import Testing

@Suite("Canonical JSON")
struct CanonicalJSONTests {
    private func canonical(_ text: String) throws -> String {
        String(decoding: try CanonicalJSON.encode(try CanonicalJSON.parse(Array(text.utf8))), as: UTF8.self)
    }

    @Test("sorts keys at every level and drops whitespace")
    func nesting() throws {
        #expect(try canonical(#" { "b" : 1, "a" : { "d" : [ 1, 2, { "z" : null, "y" : true } ], "c" : "x" } } "#)
            == #"{"a":{"c":"x","d":[1,2,{"y":true,"z":null}]},"b":1}"#)
        #expect(try canonical("[]") == "[]")
        #expect(try canonical("{}") == "{}")
        #expect(try canonical("-0") == "0")
        #expect(try canonical("-9223372036854775808") == "-9223372036854775808")
    }

    @Test("escapes only backslash and quote; writes every other character as UTF-8, as securesystemslib does")
    func strings() throws {
        // encode_canonical("a\"b\\c\nd\u00e9\U0001F600/\t\x00") in securesystemslib 1.4.0
        let bytes = try CanonicalJSON.encode(try CanonicalJSON.parse(Array(#""a\"b\\c\nd\u00e9\ud83d\ude00\/\t\u0000""#.utf8)))
        #expect(bytes == Array("\"a\\\"b\\\\c\nd\u{e9}\u{1F600}/\t\u{0}\"".utf8))
    }

    @Test("orders keys by code point, not by UTF-16 unit (U+FF5A before U+1F600)")
    func keyOrder() throws {
        #expect(try canonical(#"{"\ud83d\ude00":1,"\uff5a":2,"\u00e9":3,"z":4,"a":5,"A":6}"#)
            == "{\"A\":6,\"a\":5,\"z\":4,\"\u{e9}\":3,\"\u{FF5A}\":2,\"\u{1F600}\":1}")
    }

    @Test("keeps unknown members, so what a signature covers survives a round trip")
    func unknownMembers() throws {
        let value = try CanonicalJSON.parse(Array(#"{"signed":{"x-custom":{"n":[1,{"k":"v"}]},"version":2}}"#.utf8))
        #expect(value["signed"]?["x-custom"]?["n"]?.arrayValue?.count == 2)
        #expect(try canonical(#"{"signed":{"x-custom":{"n":[1,{"k":"v"}]},"version":2}}"#) == #"{"signed":{"version":2,"x-custom":{"n":[1,{"k":"v"}]}}}"#)
    }

    @Test("integers stay integers; other numbers parse but have no canonical form")
    func numbers() throws {
        #expect(try CanonicalJSON.parse(Array("12".utf8)) == .integer(12))
        #expect(try CanonicalJSON.parse(Array("1.5".utf8)) == .number("1.5"))
        #expect(try CanonicalJSON.parse(Array("1e3".utf8)) == .number("1e3"))
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.encode(.object(["version": .number("1.0")])) }
    }

    @Test("rejects input two readers could disagree on", arguments: [
        #"{"a":1,"a":2}"#,                  // duplicate key
        #"{"\u00e9":1,"e\u0301":2}"#,       // duplicate after normalization
        #""\ud800""#,                       // lone high surrogate
        #""\udc00x""#,                      // lone low surrogate
        "\"a\u{1}\"",                       // raw control character
        "01", "-", "1.", ".5", "1e", "+1",  // malformed numbers
        "9223372036854775808",              // does not fit in 64 bits
        "{} x", "", "[1,]", #"{"a":1,}"#, "tru", "nul", #""\x""#, "[1 2]",
    ])
    func rejects(_ text: String) {
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(Array(text.utf8)) }
    }

    @Test("rejects invalid UTF-8 inside and outside strings")
    func invalidUTF8() {
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) } // encoded surrogate
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse([0xEF, 0xBB, 0xBF, 0x7B, 0x7D]) } // byte order mark
    }

    @Test("strings with and without escapes read the same; each fault is found at its byte")
    func stringsAndTheirFaults() throws {
        #expect(try CanonicalJSON.parse(Array(#"["plain é", "esc\"aped\\", "mid\u00e9dle", "", "x\n"]"#.utf8))
                == .array([.string("plain é"), .string("esc\"aped\\"), .string("midédle"), .string(""), .string("x\n")]))
        let faults: [([UInt8], String, Int)] = [
            (Array("\"ab\u{1}c\"".utf8), "control character in a string", 3),
            (Array("\"a\\nb\u{1}\"".utf8), "control character in a string", 5),
            (Array("\"abc".utf8), "unterminated string", 4),
            (Array("\"a\\tbc".utf8), "unterminated string", 6),
            ([0x22, 0x61, 0xC3, 0x28, 0x22], "string is not valid UTF-8", 5),
            ([0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], "string is not valid UTF-8", 6),
        ]
        for (input, reason, offset) in faults {
            #expect(throws: CanonicalJSONError(reason, offset: offset), "\(input)") { try CanonicalJSON.parse(input) }
        }
    }

    @Test("refuses nesting deeper than the limit without exhausting the stack")
    func depth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let error = #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(Array(deep.utf8)) }
        #expect(error?.reason.contains("nesting") == true)
        let allowed = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try canonical(allowed) == allowed)
    }
}
