// libFuzzer target for signature verification on hostile input: the first byte picks P-256
// (even) or RSA-PSS (odd), the rest is the signature, checked over the empty message against
// fixed keys (the first Wycheproof key of each file). Built and run by `scripts/fuzz signatures`.
//
// Verification must return, never trap; a PSS signature that verifies with salt length 32 must
// verify with the salt length read from the encoding, and one that verifies must be exactly as
// long as the modulus.

let p256Key = try! P256.PublicKey(derRepresentation: Hex.decode(
    "3059301306072a8648ce3d020106082a8648ce3d0301070342000404aaec73635726f213fb8a9e64da3b8632e41495a944d0045b522eba7240fad587d9315798aaa3a5ba01775787ced05eaaf7b4e09fc81d6d1aa546e8365d525d")!)
let rsaKey = try! RSAPSS.PublicKey(derRepresentation: Hex.decode(
    "30820122300d06092a864886f70d01010105000382010f003082010a0282010100a2b451a07d0aa5f96e455671513550514a8a5b462ebef717094fa1fee82224" +
    "e637f9746d3f7cafd31878d80325b6ef5a1700f65903b469429e89d6eac8845097b5ab393189db92512ed8a7711a1253facd20f79c15e8247f3d3e42e46e48c9" +
    "8e254a2fe9765313a03eff8f17e1a029397a1fa26a8dce26f490ed81299615d9814c22da610428e09c7d9658594266f5c021d0fceca08d945a12be82de4d1ece" +
    "6b4c03145b5d3495d4ed5411eb878daf05fd7afc3e09ada0f1126422f590975a1969816f48698bcbba1b4d9cae79d460d8f9f85e7975005d9bc22c4e5ac0f7c1" +
    "a45d12569a62807d3b9a02e5a530e773066f453d1f5b4c2e9cf7820283f742b9d50203010001")!)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSignatures(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let signature = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 0 {
        if p256Key.isValidSignature(derSignature: signature, for: []) {
            precondition(P256.PublicKey.scalars(derSignature: signature) != nil, "verified a signature that does not parse")
        }
    } else {
        let fixed = rsaKey.isValidSignature(signature, for: [], saltLength: 32)
        let any = rsaKey.isValidSignature(signature, for: [])
        precondition(!fixed || any, "verified with salt length 32 but not with any salt length")
        precondition(!any || signature.count == 256, "verified a signature of \(signature.count) bytes")
    }
    return 0
}
