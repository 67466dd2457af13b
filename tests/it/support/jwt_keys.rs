//! An RSA-2048 key to sign JWTs with, as WSO2 IS does by default (RS256). Shared by the
//! integration tests and the load benchmark, which includes this file by its path.

use jsonwebtoken::EncodingKey;

/// A fresh RSA-2048 signing key (aws-lc generates it; jsonwebtoken takes PKCS#1).
pub fn rsa2048() -> EncodingKey {
    use aws_lc_rs::encoding::AsDer;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA");
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = key.as_der().expect("PKCS#8");
    EncodingKey::from_rsa_der(pkcs1_of(pkcs8.as_ref()))
}

/// The RSAPrivateKey inside a PKCS#8 v1 structure (its third element, an OCTET STRING).
fn pkcs1_of(der: &[u8]) -> &[u8] {
    fn header(d: &[u8]) -> (usize, usize) {
        match d[1] {
            n if n < 0x80 => (2, n as usize),
            0x81 => (3, d[2] as usize),
            0x82 => (4, (d[2] as usize) << 8 | d[3] as usize),
            n => panic!("length form {n:#x}"),
        }
    }
    let (h, _) = header(der);
    let mut rest = &der[h..];
    for _ in 0..2 {
        let (h, len) = header(rest);
        rest = &rest[h + len..];
    }
    assert_eq!(rest[0], 0x04, "an OCTET STRING");
    let (h, len) = header(rest);
    &rest[h..h + len]
}
