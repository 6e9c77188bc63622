import Integrity

/// The keys and signatures `autodev release speed` verifies when none are given: made once
/// with `openssl genpkey` and `openssl dgst -sha256 -sign` over the message below (PSS with a
/// 32-byte salt).
enum SpeedSamples {
    static let message = Array("autodev release speed".utf8)

    static let p256PublicKey = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWaZJUpVysf/Nc0KAQP+hlhGEYxlH
        MRPQzVRJzisybGp99VV4uVt1pYjKf57bqgLf7toojK847/TWun+NIO6pqQ==
        -----END PUBLIC KEY-----
        """
    static let p256Signature = "MEUCIQCwiWn6ZR3EWw+aUcSq2G4h8Xjqvmv+WTYTTk33tlYV9AIgWgnMAGttVqWpbs6fDAPbJ8cV0IB4ITaPdXsCaSX78Ps="

    static let rsa3072PublicKey = """
        -----BEGIN PUBLIC KEY-----
        MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEAjvVNkHSXBMoj+gJeJhwH
        tYE9eSoImt4dUAylVEsk5KKOPOsiK7glSQIzan29SkWLJQlavU2gMeGljSOHzvzt
        isUJ9Np1thvGc+N77Jd8dbpnn69INLj/IWq3gCaXD8+1mleBaJmSKW2m8J9ZW2c/
        0HZf1z55MjnawJLUo684rLvnx5ZQ/vkJbaiytPmpWQVj9+o76pl6QzVJJO1+OFpE
        zICDh77L8lhsLeIkM1fTbu99u89KGOGbg4grt9BDQmxQZLKaU0rcieZEcEkBntr2
        p/sD26rQ2INKEuZOOycoUHdg20TfZg4sZthoQjKoAWkEMGEfcSJgrGron3jFjSZP
        /MQuEIzQgsWJDtngPmXBXSncdygOy80Mee/NixdfqBosY4rzy3D1YUwA1xtp4h34
        +SGEmvFN8RieFq7CekRhTQ68W3JB8He80JZklaAG9NYhgZWnxILdvskerFKC/Tie
        llJbd5882Xl6iZq3IGClpdU9c1Lm7qkU3+ZGoKN1KTA9AgMBAAE=
        -----END PUBLIC KEY-----
        """
    static let rsa3072Signature = "Zl1hJ8C3INJ2jjdxuaO1H+8QUeRYhW2IYFJi4hL1oChVZcksAvsDyIXhiZcT2B2pHMJr32sotwxmNvBxHhtwzorBxg1SJr4f"
        + "guiSXWYnq9w0HEivl+NHxjTqqq9ybPS7hESfDXf8OuCKISTAtCkXk9lVD/u2fTbEsdS0iSVMNccYjkI7/hgbYNe+fCO2gf1b"
        + "yikyxTDPK+Htz6QnGA6atU7V2Lu6XO3iDaX2h6RHBk6pmTAxYVZkqIS3Y9Uvkr39CnUE8QXNZjBmVoxOC5chb8imhWYVkbAK"
        + "JVWgwOBAzcDwcStT8x3iramQo501zMXeqwkPY/5bfqZHaR3MU3dpwISAPmskpyvi/L77HGNPB5r0ucPZFaNf+LVdA2YhmVU/"
        + "rQhCHWJzm6MykOqwUufxSIlhJgvtVzJ25wGJKYnH8rdBsLveoGVcD4EGZJt22to0qTEhSWUXyT3CYrpt2iU4mzlcjZ/cVLoP"
        + "yCXxVfZNQr0KbQAYR7HTe1rmubHVOLuk"
}
