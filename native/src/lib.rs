//! pydcap's optional native accelerator: ECDSA P-256 / SHA-256 signature checks through `ring`, called from
//! Python with `ctypes` (`pydcap.pki.native`).
//!
//! Its one check answers one question, "does this signature verify with this key?", with 1 (yes) or 0 (no,
//! for whatever reason). The caller treats 0 as "ask `cryptography`", so a refusal here never decides a
//! verdict; only an acceptance does, and `ring` accepts exactly the valid ECDSA P-256 / SHA-256 signatures.
//! Nothing here parses more than `ring` itself does: the key must be an uncompressed point (0x04 || x || y, 65
//! bytes) on the curve, and the signature is either r || s (64 bytes) or a DER `Ecdsa-Sig-Value`.

use ring::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED,
};

/// The interface version `pydcap.pki.native` expects; changed whenever a signature below changes.
const ABI_VERSION: u32 = 2;

/// Length of an uncompressed P-256 point: 0x04, then x and y, 32 bytes each.
const POINT_LEN: usize = 65;

#[no_mangle]
pub extern "C" fn pydcap_native_abi() -> u32 {
    ABI_VERSION
}

/// A byte slice from a pointer and a length that come from Python (a `bytes` object's buffer).
///
/// # Safety
/// `ptr` must point to `len` readable bytes that outlive the call, or be null (read as empty).
unsafe fn slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

/// Whether `signature` of `data` verifies with the key `point`: 1 (yes) or 0 (no). `signature` is r || s (64
/// bytes, the form inside quotes and collateral documents) when `der` is 0, else a DER `Ecdsa-Sig-Value` (the form
/// in certificates and CRLs).
///
/// # Safety
/// Each pointer must point to as many readable bytes as its length says, or be null.
#[no_mangle]
pub unsafe extern "C" fn pydcap_p256_sha256(
    der: i32,
    point: *const u8,
    point_len: usize,
    signature: *const u8,
    signature_len: usize,
    data: *const u8,
    data_len: usize,
) -> i32 {
    let point = slice(point, point_len);
    if point.len() != POINT_LEN || point[0] != 0x04 {
        return 0;
    }
    let algorithm: &'static dyn VerificationAlgorithm = if der == 0 {
        &ECDSA_P256_SHA256_FIXED
    } else {
        &ECDSA_P256_SHA256_ASN1
    };
    match UnparsedPublicKey::new(algorithm, point)
        .verify(slice(data, data_len), slice(signature, signature_len))
    {
        Ok(()) => 1,
        Err(_) => 0,
    }
}
